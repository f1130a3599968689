/**
 * Attempt outcomes: result reports (only the current lease may commit; the first valid result
 * wins), failures by the core's failure policy, and requeues (lost lease, lost agent, timeouts).
 */
import { classLabel } from '@tessera/hardware';
import { blobKeys, FailureKind, type ShardResult, type ShardResultReply } from '@tessera/protocol';
import { judgeResult } from '../core/core.js';
import * as policy from '../core/policy.js';
import * as shardVerbs from '../core/shard.js';
import { FINAL_JOB_STATES, shardKey, type ShardRecord } from '../model.js';
import type { ShellContext } from './context.js';
import type { Lifecycle } from './lifecycle.js';

const FAILURE_CLASS: Record<number, policy.FailureClass> = {
  [FailureKind.FAILURE_KIND_FATAL]: 'fatal',
  [FailureKind.FAILURE_KIND_OUT_OF_MEMORY]: 'out_of_memory',
  [FailureKind.FAILURE_KIND_MODEL_UNAVAILABLE]: 'model_unavailable', // hook(models)
};

export class Results {
  constructor(
    private readonly x: ShellContext,
    private readonly life: Lifecycle,
  ) {}

  /** A shard's outcome, judged against the current lease under the shard's lock. */
  async report(r: ShardResult): Promise<ShardResultReply> {
    const ref = r.ref;
    if (!ref) return { accepted: false, reason: 'unknown' };
    const k = shardKey(ref.jobId, ref.shardIndex);
    return this.x.locks.run(k, async () => {
      const { farm, d } = this.x;
      const job = farm.job(ref.jobId);
      if (!job) return { accepted: false, reason: 'unknown' };
      // A finished job's shards left memory: a repeated report of the committed result is still a
      // duplicate; anything else is late.
      const held = farm.shard(k);
      const rec =
        held ?? (FINAL_JOB_STATES.has(job.state) ? (await d.store.getShard(job.id, ref.shardIndex))?.value : undefined);
      if (!rec) return { accepted: false, reason: 'unknown' };
      const judged = judgeResult(rec, job.state, ref.fencingToken, r.agentId);
      if (judged === 'duplicate') return { accepted: true, reason: 'duplicate' };
      if (!held) return this.refuse(job.state === 'cancelled' ? 'cancelled' : 'superseded', rec, r);
      if (judged !== 'current') return this.refuse(judged, rec, r);
      const token = ref.fencingToken;
      if (!r.ok) {
        // One of two attempts failed: the other goes on alone, the shard is neither requeued nor failed;
        // the failure still counts against its agent on the job, as the policy says.
        if (rec.backup) {
          const plan = this.failurePlan(rec, r);
          await this.dropLocked(rec, token, `attempt ${token} failed on ${r.agentId}: ${r.error}`);
          if (plan.then === 'requeue' && plan.countAgainstAgent) await this.blocklist(k, rec, plan.agentName, r.error);
        } else await this.fail(rec, r);
        return { accepted: true, reason: 'failure recorded' };
      }
      const info = await d.blobs.info(r.outputKey);
      if (
        !info ||
        info.sha256 !== r.outputSha256 ||
        info.size !== r.outputBytes ||
        r.outputKey !== blobKeys.shardOutput(rec.jobId, rec.index, token)
      ) {
        d.metrics.resultsRefused.inc({ reason: 'checksum' });
        await this.requeueLocked(k, token, `output of attempt ${token} failed its checksum`, 'checksum');
        return { accepted: false, reason: 'checksum' };
      }
      const next = await this.x.writer.shard(shardVerbs.commit(rec, r, token));
      if (!next) {
        // The record was reloaded: this very commit may have landed already (its acknowledgement lost).
        const cur = farm.shard(k);
        const ours = cur?.state === 'done' && cur.attempt === token && cur.agentId === r.agentId;
        return ours ? { accepted: true, reason: 'duplicate' } : { accepted: false, reason: 'superseded' };
      }
      if (rec.backup) this.raceEnded(rec, token);
      const now = d.clock.now();
      // `next` names the attempt that committed (a backup's agent and token when the backup won).
      d.metrics.shardRunSeconds.observe({ model: job.model, vram_class: classLabel(next.agentClassGb) }, r.runSeconds);
      d.metrics.shardsCompleted.inc({ stage: rec.stage });
      d.log.debug(
        { job: job.id, shard: rec.index, agent: next.agentName, attempt: next.attempt, ms: now - next.leasedMs },
        'shard done',
      );
      d.events.shardChanged(job, next);
      this.x.perform(this.x.core.handle({ type: 'committed', jobId: job.id, index: rec.index }, now));
      return { accepted: true, reason: '' };
    });
  }

  /** Puts a leased shard back in the queue (lease lost, agent lost, timeout), under the shard lock. */
  requeue(k: string, attempt: number, reason: string, metric: string): Promise<void> {
    return this.x.locks.run(k, () => this.requeueLocked(k, attempt, reason, metric));
  }

  /**
   * A shard with a backup committed attempt `token`: the race is over. Counts it (won: the backup
   * committed; lost: the primary did) and stops the other attempt at once.
   */
  private raceEnded(rec: ShardRecord, token: number): void {
    const { d } = this.x;
    const b = rec.backup!;
    const won = token === b.attempt;
    d.metrics.speculativeAttempts.inc({ outcome: won ? 'won' : 'lost' });
    const loser = won ? { attempt: rec.attempt, agent: rec.agentName } : { attempt: b.attempt, agent: b.agentName };
    d.log.info({ job: rec.jobId, shard: rec.index, committed: token, cancelled: loser }, 'speculative race ended');
    d.events.attemptCancelled?.({ jobId: rec.jobId, shardIndex: rec.index, fencingToken: loser.attempt });
  }

  /**
   * Ends attempt `token` of a shard that has a backup (failed, lost, timed out) without requeueing
   * it: a dropped backup counts as cancelled; a dropped primary leaves the backup as the shard's
   * attempt (counted as won: it outlived its primary). The dropped attempt's agent is told to stop.
   */
  private async dropLocked(s: ShardRecord, token: number, reason: string): Promise<void> {
    const { d, farm } = this.x;
    const wasBackup = s.backup?.attempt === token;
    const next = await this.x.writer.shard(shardVerbs.dropAttempt(s, token, reason));
    if (!next) return;
    d.metrics.speculativeAttempts.inc({ outcome: wasBackup ? 'cancelled' : 'won' });
    d.log.warn({ job: s.jobId, shard: s.index, attempt: token, backup: wasBackup, reason }, 'attempt dropped');
    d.events.attemptCancelled?.({ jobId: s.jobId, shardIndex: s.index, fencingToken: token });
    const job = farm.job(s.jobId);
    if (job) d.events.shardChanged(job, next);
  }

  private refuse(reason: string, rec: ShardRecord, r: ShardResult): ShardResultReply {
    this.x.d.metrics.resultsRefused.inc({ reason });
    this.x.d.log.warn(
      { job: rec.jobId, shard: rec.index, token: r.ref?.fencingToken, current: rec.attempt, agent: r.agentId, reason },
      'result refused',
    );
    return { accepted: false, reason };
  }

  /** What the failure policy makes of a failed attempt, with the name of the agent it ran on. */
  private failurePlan(rec: ShardRecord, r: ShardResult) {
    const { d, farm } = this.x;
    const agentName = farm.registry.get(r.agentId)?.advert.name ?? r.agentId;
    const plan = policy.planFailure(
      rec,
      FAILURE_CLASS[r.failure] ?? 'error',
      r.agentId,
      agentName,
      r.error,
      d.clock.now(),
      {
        retryBackoffMs: d.options.retryBackoffMs,
        retryBackoffMaxMs: d.options.retryBackoffMaxMs,
        classesGb: d.table.classesGb,
        classLabel,
      },
    );
    return { ...plan, agentName };
  }

  /** A failed attempt, by the failure policy: fail the job, or requeue (counted against the agent). */
  private async fail(rec: ShardRecord, r: ShardResult): Promise<void> {
    const { d } = this.x;
    const k = shardKey(rec.jobId, rec.index);
    const plan = this.failurePlan(rec, r);
    const agentName = plan.agentName;
    if (plan.then === 'fail') {
      if (r.failure === FailureKind.FAILURE_KIND_FATAL) d.metrics.retries.inc({ reason: 'fatal' });
      await this.x.writer.shard(shardVerbs.fail(rec, plan.shardReason));
      await this.life.finish(rec.jobId, 'failed', plan.jobError, true);
      return;
    }
    if (plan.countAgainstAgent && (await this.blocklist(k, rec, agentName, r.error))) return;
    await this.requeueLocked(k, rec.attempt, plan.reason, plan.metric, plan.patch);
  }

  /**
   * Counts a failed attempt against its agent on the job; when that blocklists the agent and leaves
   * no live agent that can run the shard, the job fails rather than wait forever (returns true).
   */
  private async blocklist(k: string, rec: ShardRecord, agentName: string, lastError: string): Promise<boolean> {
    const { d, farm } = this.x;
    const limit = d.options.blocklistAfter;
    let blockedNow = false;
    await this.x.writer.job(rec.jobId, (cur) => {
      const counted = policy.countAgentFailure(cur, agentName, limit);
      blockedNow = counted.blockedNow;
      return { ...cur, ...counted.patch };
    });
    const job = farm.job(rec.jobId);
    if (!blockedNow || !job || FINAL_JOB_STATES.has(job.state)) return false;
    d.log.warn(
      { job: job.id, agent: agentName, failures: limit, blocked: job.blockedAgents },
      'agent blocklisted for this job',
    );
    if (policy.someAgentCanRun(farm.liveAgents(), job.blockedAgents, rec.requiredClassGb)) return false;
    const error = policy.blocklistExhausted(rec.index, limit, job.blockedAgents, lastError); // hook(ops): names the cause
    await this.x.writer.shard(shardVerbs.fail(farm.shard(k) ?? rec, error));
    await this.life.finish(rec.jobId, 'failed', error, true);
    return true;
  }

  private async requeueLocked(
    k: string,
    attempt: number,
    reason: string,
    metric: string,
    patch: Partial<ShardRecord> = {},
  ): Promise<void> {
    const { d, farm } = this.x;
    const s = farm.shard(k);
    if (!s || s.state !== 'leased') return;
    // With a backup running, an attempt that ends without a result is dropped alone.
    if (s.backup && (s.attempt === attempt || s.backup.attempt === attempt)) return this.dropLocked(s, attempt, reason);
    if (s.attempt !== attempt) return;
    const job = farm.job(s.jobId);
    if (!job || FINAL_JOB_STATES.has(job.state)) return;
    d.metrics.retries.inc({ reason: metric });
    const next = policy.retryOrFail(s, job.maxAttempts, reason);
    if (next.then === 'fail') {
      await this.x.writer.shard(shardVerbs.fail(s, reason, patch));
      await this.life.finish(job.id, 'failed', next.jobError, true);
      return;
    }
    const now = d.clock.now();
    const queued = await this.x.writer.shard(shardVerbs.requeue(s, reason, now, patch));
    if (!queued) return;
    const backoffMs = queued.notBeforeMs > 0 ? queued.notBeforeMs - now : undefined;
    d.log.warn({ job: job.id, shard: queued.index, attempt, reason, backoffMs }, 'shard requeued');
    d.events.shardChanged(job, queued);
    this.x.perform([{ type: 'pump' }]);
  }
}
