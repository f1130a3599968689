/**
 * The simulator's shell: performs the farm core's effects synchronously against the farm state.
 * Writes always land (no store, no revisions, no locks) and time is the simulator's virtual clock;
 * every decision — dispatch, the verbs, the failure policy, the sweeper's rules — is the
 * production core's (core/), the same code the coordinator's shell drives.
 */
import { AgentState, type AgentAdvert } from '@tessera/protocol';
import { FarmCore, type Effect } from '../core/core.js';
import * as jobVerbs from '../core/job.js';
import * as policy from '../core/policy.js';
import * as shardVerbs from '../core/shard.js';
import { isRefusal, type Verdict } from '../core/verdict.js';
import { FINAL_JOB_STATES, shardKey, type JobRecord, type ShardRecord } from '../model.js';
import type { IdleAgent } from '../scheduler.js';

/** What a simulated attempt "outputs". */
const SIM_OUTPUT = {
  outputKey: 'sim',
  outputSha256: '',
  outputBytes: 1,
  outputWidth: 1,
  outputHeight: 1,
  outputFrames: 1,
  outputChannels: 0,
  runSeconds: 0,
};

/** The advert of a simulated agent slot of class `classGb` (its speeds are the simulator's to set). */
export function simAdvert(agentId: string, name: string, classGb: number, vramTotalGb = classGb): AgentAdvert {
  return {
    agentId,
    name,
    hostname: 'sim',
    deviceIndex: 0,
    deviceName: 'sim',
    vramTotalGb,
    vramUsableGb: classGb,
    vramClass: '',
    executionProvider: 'none',
    modelsLoaded: [],
    version: 'sim',
    state: AgentState.AGENT_STATE_IDLE,
    shardsCompleted: 0,
    modelsHeld: [],
    modelCacheFreeBytes: 0,
    modelCacheCapacityBytes: 0,
    modelSpeeds: [],
  };
}

/** A simulated agent slot waiting for work. */
export interface SimIdle extends IdleAgent {
  readonly name: string;
}

/** What the shell reports to the simulator. */
export interface SimHooks<A extends SimIdle> {
  /** A lease was granted: the agent starts attempt `token` of the shard (`backup`: a speculative one). */
  granted(agent: A, shard: ShardRecord, token: number, backup: boolean): void;
  /** The other attempt of a shard committed first: the agent stops attempt `token` at once. */
  cancelled?(agentId: string, token: number): void;
  /** The agent's parked request ends without work (lost, draining). */
  unparked(agentId: string): void;
  /** A job reached a final state. */
  finished(job: JobRecord): void;
}

export class SimShell<A extends SimIdle> {
  /** Parked agents, in arrival order. */
  idle: A[] = [];
  private rev = 0;
  private pumping = false;
  private pumpAgain = false;

  constructor(
    readonly core: FarmCore,
    private readonly p: { blocklistAfter: number; failure: policy.FailurePolicy },
    private readonly hooks: SimHooks<A>,
  ) {}

  private get farm() {
    return this.core.state;
  }

  /** Accepts a planned job (records created). */
  submit(job: JobRecord, shards: ShardRecord[], now: number): void {
    this.farm.apply({ type: 'job', rec: job, rev: ++this.rev });
    for (const s of shards) this.farm.apply({ type: 'shard', rec: s, rev: ++this.rev, nowMs: now });
  }

  /** An agent asks for work: parked, then a dispatch pass. */
  request(agent: A, now: number): void {
    this.idle.push(agent);
    this.pump(now);
  }

  /** Performs effects in order. */
  perform(effects: readonly Effect<A>[], now: number): void {
    for (const e of effects) {
      switch (e.type) {
        case 'pump':
          this.pump(now);
          break;
        case 'grant':
          this.grant(e.key, e.agent, now);
          break;
        case 'backup':
          this.backup(e.key, e.agent, e.seconds, now);
          break;
        case 'requeue':
          this.requeue(e.key, e.attempt, e.reason, {}, now);
          break;
        case 'unpark':
          this.idle = this.idle.filter((a) => a.agentId !== e.agentId);
          this.hooks.unparked(e.agentId);
          break;
        case 'assemble':
          this.job(e.jobId, jobVerbs.assemble);
          this.finish(e.jobId, 'succeeded', '', now);
          break;
        default:
          // Logging, retention, refine preparation: nothing to simulate.
          break;
      }
    }
  }

  /**
   * One dispatch pass over the parked agents (what the coordinator's pump does); a pump asked for
   * during the pass runs another one after it.
   */
  pump(now: number): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    do {
      this.pumpAgain = false;
      if (this.idle.length === 0) break;
      const grants = this.core.handle({ type: 'idle', agents: this.idle }, now);
      if (grants.length === 0) break;
      // A pass grants to a few agents (one, mostly): a scan beats building a set.
      this.idle = this.idle.filter(
        (a) => !grants.some((g) => (g.type === 'grant' || g.type === 'backup') && g.agent === a),
      );
      this.perform(grants, now);
    } while (this.pumpAgain);
    this.pumping = false;
  }

  /** An agent reports its attempt: committed, or failed with a failure class. */
  report(
    key: string,
    token: number,
    agentId: string,
    outcome: { ok: true; runSeconds?: number } | { ok: false; failure: policy.FailureClass; error: string },
    now: number,
  ): 'accepted' | 'refused' {
    const s = this.farm.shard(key);
    if (!s || !shardVerbs.holdsLease(s, token, agentId)) return 'refused';
    if (outcome.ok) {
      const b = s.backup;
      if (!this.write(shardVerbs.commit(s, { ...SIM_OUTPUT, runSeconds: outcome.runSeconds ?? 0 }, token), now))
        return 'refused';
      // A race with a backup ended: the other attempt stops.
      if (b) {
        const backupWon = b.attempt === token;
        this.hooks.cancelled?.(backupWon ? s.agentId : b.agentId, backupWon ? s.attempt : b.attempt);
      }
      this.perform(this.core.handle({ type: 'committed', jobId: s.jobId, index: s.index }, now), now);
      return 'accepted';
    }
    const name = this.farm.registry.get(agentId)?.advert.name ?? agentId;
    const plan = policy.planFailure(s, outcome.failure, agentId, name, outcome.error, now, this.p.failure);
    if (plan.then === 'fail') {
      this.write(shardVerbs.fail(s, plan.shardReason), now);
      this.finish(s.jobId, 'failed', plan.jobError, now);
      return 'accepted';
    }
    if (plan.countAgainstAgent) {
      let blockedNow = false;
      const job = this.job(s.jobId, (cur) => {
        const c = policy.countAgentFailure(cur, name, this.p.blocklistAfter);
        blockedNow = c.blockedNow;
        return { ...cur, ...c.patch };
      });
      if (blockedNow && job && !policy.someAgentCanRun(this.farm.liveAgents(), job.blockedAgents, s.requiredClassGb)) {
        const error = policy.blocklistExhausted(s.index, this.p.blocklistAfter, job.blockedAgents, outcome.error);
        this.write(shardVerbs.fail(s, error), now);
        this.finish(s.jobId, 'failed', error, now);
        return 'accepted';
      }
    }
    this.requeue(key, s.attempt, plan.reason, plan.patch, now);
    return 'accepted';
  }

  private grant(key: string, agent: A, now: number): void {
    const s = this.farm.shard(key);
    const job = s && this.farm.job(s.jobId);
    const next =
      s && job && !FINAL_JOB_STATES.has(job.state)
        ? this.write(
            shardVerbs.grant(s, {
              agentId: agent.agentId,
              agentName: agent.name,
              agentClassGb: agent.classGb,
              nowMs: now,
              leaseMs: this.core.o.leaseMs,
            }),
            now,
          )
        : undefined;
    if (!next || !job) {
      this.farm.apply({ type: 'grant_abandoned', key, nowMs: now });
      this.idle.push(agent);
      return;
    }
    if (job.state === 'queued') this.job(job.id, jobVerbs.start(now));
    this.hooks.granted(agent, next, next.attempt, false);
  }

  /** A backup lease of leased shard `key` for `agent` (speculation). */
  private backup(key: string, agent: A, seconds: number, now: number): void {
    const s = this.farm.shard(key);
    const job = s && this.farm.job(s.jobId);
    const g = { agentId: agent.agentId, agentName: agent.name, agentClassGb: agent.classGb, nowMs: now };
    const next =
      s && job && !FINAL_JOB_STATES.has(job.state)
        ? this.write(shardVerbs.grantBackup(s, { ...g, leaseMs: this.core.o.leaseMs }), now)
        : undefined;
    this.farm.apply({ type: 'backup_settled', key });
    if (!next?.backup || next.backup.agentId !== agent.agentId) {
      this.idle.push(agent);
      return;
    }
    this.job(next.jobId, jobVerbs.spendOnBackup(seconds));
    this.hooks.granted(agent, next, next.backup.attempt, true);
  }

  private requeue(key: string, attempt: number, reason: string, patch: Partial<ShardRecord>, now: number): void {
    const s = this.farm.shard(key);
    if (!s || s.state !== 'leased' || s.attempt !== attempt) return;
    const job = this.farm.job(s.jobId);
    if (!job || FINAL_JOB_STATES.has(job.state)) return;
    const next = policy.retryOrFail(s, job.maxAttempts, reason);
    if (next.then === 'fail') {
      this.write(shardVerbs.fail(s, reason, patch), now);
      this.finish(job.id, 'failed', next.jobError, now);
      return;
    }
    this.write(shardVerbs.requeue(s, reason, now, patch), now);
    this.pump(now);
  }

  private finish(jobId: string, state: 'succeeded' | 'failed' | 'cancelled', error: string, now: number): void {
    this.farm.apply({ type: 'job_closing', jobId });
    const job = this.job(jobId, jobVerbs.finish(state, error, now));
    if (!job) return;
    if (state !== 'succeeded')
      for (const s of this.farm.jobShards(jobId)) this.write(shardVerbs.cancel(s, `job ${state}`), now);
    this.farm.apply({ type: 'shards_dropped', jobId });
    this.hooks.finished(job);
  }

  private write(v: Verdict<ShardRecord>, now: number): ShardRecord | undefined {
    if (isRefusal(v)) return undefined;
    this.farm.apply({ type: 'shard', rec: v, rev: ++this.rev, nowMs: now });
    return v;
  }

  private job(jobId: string, verb: jobVerbs.JobVerb): JobRecord | undefined {
    const cur = this.farm.job(jobId);
    const next = cur && verb(cur);
    if (!next || isRefusal(next)) return undefined;
    this.farm.apply({ type: 'job', rec: next, rev: ++this.rev });
    return next;
  }
}

/** The key of a shard (re-exported for the simulator's traces). */
export { shardKey };
