/**
 * A job's later life: refine preparation, assembly (retried with the one backoff of the failure
 * policy; a corrupt shard output reopens that shard), the job's end (its unfinished shards
 * cancelled, its shard records leaving memory) and retention.
 */
import { blobKeys } from '@tessera/protocol';
import * as jobVerbs from '../core/job.js';
import { ASSEMBLY_ATTEMPTS, assemblyRetryMs } from '../core/policy.js';
import * as shardVerbs from '../core/shard.js';
import { FINAL_JOB_STATES, shardKey, type JobRecord, type ShardRecord } from '../model.js';
import { mapLimit } from '../util.js';
import type { ShellContext } from './context.js';
import { ShardOutputCorruptError } from './deps.js';

export class Lifecycle {
  /** Jobs being assembled or prepared for refine (one run each at a time). */
  private readonly busy = new Set<string>();

  constructor(private readonly x: ShellContext) {}

  /** Starts the assembly of a job whose shards all committed (once). */
  assemble(jobId: string): void {
    this.once(jobId, () => this.runAssembly(jobId), 'assembly');
  }

  /** Starts the refine preparation of an upscale whose upscale tiles all committed (once). */
  prepareRefine(jobId: string): void {
    this.once(jobId, () => this.runRefinePrep(jobId), 'refine preparation');
  }

  /** A job's shard records: from memory while it runs, from the store once it has finished. */
  async shardsOf(job: JobRecord): Promise<ShardRecord[]> {
    if (job.shardsTotal > 0 && !this.x.farm.shards.has(shardKey(job.id, 0)) && FINAL_JOB_STATES.has(job.state))
      return this.x.d.store.loadShards(job.id, job.shardsTotal);
    return this.x.farm.jobShards(job.id);
  }

  /**
   * Moves a job to a final state and cancels its unfinished shards. `insideShardLock` is true when
   * the caller holds a shard lock: the shard updates are then queued behind it, not awaited.
   */
  async finish(jobId: string, state: 'succeeded' | 'failed' | 'cancelled', error: string, insideShardLock = false) {
    const { d, farm, locks, writer } = this.x;
    const cur = farm.job(jobId);
    if (!cur || FINAL_JOB_STATES.has(cur.state)) return;
    const now = d.clock.now();
    // No shard of an ending job may be dispatched from here on.
    farm.apply({ type: 'job_closing', jobId });
    await writer.job(jobId, jobVerbs.finish(state, error, now));
    const job = farm.job(jobId)!;
    if (state === 'cancelled') d.events.jobCancelled(jobId);
    if (state !== 'succeeded') {
      const reason = state === 'cancelled' ? 'job cancelled' : 'job failed';
      const pending = farm
        .jobShards(jobId)
        .filter((s) => s.state === 'queued' || s.state === 'leased')
        .map((s) => {
          const k = shardKey(jobId, s.index);
          return locks
            .run(k, async () => {
              const latest = farm.shard(k);
              if (!latest) return;
              const cancelled = await writer.shard(shardVerbs.cancel(latest, reason));
              if (cancelled && latest.backup) d.metrics.speculativeAttempts.inc({ outcome: 'cancelled' });
            })
            .catch((e: unknown) => d.log.error({ err: e, shard: k }, 'could not cancel shard'));
        });
      // Its shard records leave memory once written (they stay in the store).
      const settled = Promise.all(pending).then(() => farm.apply({ type: 'shards_dropped', jobId }));
      if (!insideShardLock) await settled;
    } else {
      farm.apply({ type: 'shards_dropped', jobId });
    }
    d.metrics.jobsCompleted.inc({ kind: job.kind, outcome: state });
    d.metrics.jobDuration.observe({ kind: job.kind, outcome: state }, (now - job.createdMs) / 1000);
    d.log.info({ job: jobId, state, error: error || undefined, seconds: (now - job.createdMs) / 1000 }, 'job finished');
  }

  /** Deletes expired finished jobs: blobs first, then records. */
  async expire(jobIds: readonly string[]): Promise<void> {
    const { d, farm } = this.x;
    for (const id of jobIds) {
      const job = farm.job(id);
      if (!job) continue;
      const shards = await this.shardsOf(job);
      const keys = new Set<string>();
      if (job.inputKey) keys.add(job.inputKey);
      for (const s of shards) {
        if (s.inputKey) keys.add(s.inputKey);
        // Every attempt's output, a speculative backup's too (its token may exceed `attempt`).
        const tokens = Math.max(s.attempt, s.lastToken ?? 0);
        for (let a = 1; a <= tokens; a++) keys.add(blobKeys.shardOutput(job.id, s.index, a));
      }
      for (const o of job.outputs ?? []) {
        if (o.format === 'png-frames') for (let f = 0; f < o.frames; f++) keys.add(`${o.key}/${f}`);
        else keys.add(o.key);
      }
      await mapLimit([...keys], 16, (k) => d.blobs.delete(k));
      await d.store.deleteJob(job.id, job.shardsTotal);
      farm.apply({ type: 'job_forgotten', jobId: job.id });
      d.log.info({ job: job.id, blobs: keys.size }, 'job expired (retention)');
    }
  }

  private once(jobId: string, run: () => Promise<void>, what: string): void {
    if (this.busy.has(jobId)) return;
    this.busy.add(jobId);
    this.x.background(
      run().finally(() => this.busy.delete(jobId)),
      what,
    );
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => this.x.d.clock.after(ms, r));
  }

  /**
   * Assembles a finished job. A corrupt or missing shard output sends that shard back to the queue;
   * any other error (NATS trouble) is retried with backoff before the job fails.
   */
  private async runAssembly(jobId: string): Promise<void> {
    const { d, farm, writer } = this.x;
    for (let attempt = 1; ; attempt++) {
      const job = farm.job(jobId);
      if (!job || FINAL_JOB_STATES.has(job.state)) return;
      try {
        if (job.state !== 'assembling') await writer.job(jobId, jobVerbs.assemble);
        const t0 = performance.now();
        const outputs = await d.assemble(farm.job(jobId)!, farm.jobShards(jobId));
        d.metrics.reassemblySeconds.observe((performance.now() - t0) / 1000);
        for (const out of outputs) d.metrics.outputBytes.inc(out.bytes);
        await writer.job(jobId, jobVerbs.recordOutputs(outputs));
        await this.finish(jobId, 'succeeded', '');
        return;
      } catch (e) {
        if (e instanceof ShardOutputCorruptError) return this.reopenCorrupt(jobId, e);
        if (attempt < ASSEMBLY_ATTEMPTS) {
          const delayMs = assemblyRetryMs(attempt);
          d.log.warn({ job: jobId, attempt, delayMs, err: (e as Error).message }, 'assembly failed; retrying');
          await this.sleep(delayMs);
          continue;
        }
        d.log.error({ job: jobId, err: e }, 'assembly failed');
        await this.finish(jobId, 'failed', `assembly failed: ${e instanceof Error ? e.message : String(e)}`);
        return;
      }
    }
  }

  /** Blends the upscale tiles, gives each refine tile its input, then lets the refine tiles run. */
  private async runRefinePrep(jobId: string): Promise<void> {
    const { d, farm, locks, writer } = this.x;
    for (let attempt = 1; ; attempt++) {
      const job = farm.job(jobId);
      if (!job?.refine || job.refine.ready || FINAL_JOB_STATES.has(job.state)) return;
      try {
        const inputs = await d.prepareRefine(job, farm.jobShards(jobId));
        for (const [index, inp] of inputs) {
          const k = shardKey(jobId, index);
          await locks.run(k, async () => {
            const s = farm.shard(k);
            if (s) await writer.shard(shardVerbs.provideInput(s, inp.key, inp.sha256));
          });
        }
        await writer.job(jobId, jobVerbs.refineReady);
        d.log.info({ job: jobId, tiles: inputs.size }, 'upscale assembled; refine tiles ready');
        const now = d.clock.now();
        for (let i = job.refine.firstShard; i < job.shardsTotal; i++)
          farm.apply({ type: 'released', key: shardKey(jobId, i), nowMs: now });
        this.x.perform([{ type: 'pump' }]);
        return;
      } catch (e) {
        if (e instanceof ShardOutputCorruptError) return this.reopenCorrupt(jobId, e);
        if (attempt >= ASSEMBLY_ATTEMPTS) {
          await this.finish(jobId, 'failed', `refine preparation failed: ${(e as Error).message}`);
          return;
        }
        await this.sleep(assemblyRetryMs(attempt));
      }
    }
  }

  /** done → (corrupt output) → queued: the shard runs again; the job goes back to running. */
  private async reopenCorrupt(jobId: string, e: ShardOutputCorruptError): Promise<void> {
    const { d, farm, locks, writer } = this.x;
    const k = shardKey(jobId, e.shardIndex);
    d.log.warn({ job: jobId, shard: e.shardIndex, err: e.message }, 'shard output corrupt; running it again');
    await locks.run(k, async () => {
      const s = farm.shard(k);
      if (s) await writer.shard(shardVerbs.reopen(s, e.message));
    });
    await writer.job(jobId, jobVerbs.reopen);
    this.x.perform([{ type: 'pump' }]);
  }
}
