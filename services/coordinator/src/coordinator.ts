/**
 * The coordinator: the farm core (core/) wrapped in its shell (shell/: CAS writes, parking, results,
 * assembly, intake) and the job kinds (kinds/); the surface the gRPC API and the NATS handlers call.
 * Every transition is persisted with a revision check before it counts; the farm state is a cache of
 * the store, rebuilt by `start()` after a restart.
 */
import type {
  AgentState,
  Heartbeat,
  LeaseRenewal,
  LeaseRenewalReply,
  ShardResult,
  ShardResultReply,
  WorkGrant,
  WorkRequest,
} from '@tessera/protocol';
import { withTimers, type Timer } from './clock.js';
import { FarmCore } from './core/core.js';
import type { FarmState } from './core/farm.js';
import { ownerUsage, recentJobs } from './core/farm-queries.js';
import { NotFoundError } from './errors.js';
import * as kinds from './kinds/index.js';
import { FINAL_JOB_STATES, type JobRecord, type ShardRecord } from './model.js';
import { KeyedMutex } from './mutex.js';
import type { AgentEntry } from './registry.js';
import { agentsView, jobWaitingReason } from './views.js';
import type { ShellContext } from './shell/context.js';
import type { CoordinatorDeps, ShellDeps } from './shell/deps.js';
import { Dispatcher } from './shell/dispatch.js';
import { EffectRunner } from './shell/effects.js';
import { Submissions } from './shell/intake.js';
import { Lifecycle } from './shell/lifecycle.js';
import { backupView, eftPlacement, farmState } from './shell/placement.js';
import { Results } from './shell/results.js';
import { RecordWriter } from './shell/writer.js';

export type * from './shell/deps.js';
export { ShardOutputCorruptError } from './shell/deps.js';
export type * from './kinds/requests.js';

export class Coordinator {
  private readonly farm: FarmState;
  private readonly core: FarmCore;
  private readonly x: ShellContext;
  private readonly dispatch: Dispatcher;
  private readonly results: Results;
  private readonly life: Lifecycle;
  private readonly intake: Submissions;
  private readonly effects: EffectRunner;
  private sweepTimer: Timer | undefined;
  private readonly d: ShellDeps;

  constructor(deps: CoordinatorDeps) {
    const d = (this.d = { ...deps, clock: withTimers(deps.clock) });
    const o = d.options;
    this.farm = farmState(d);
    this.core = new FarmCore(this.farm, o, eftPlacement(d, this.farm), backupView(d, this.farm)); // hook(speed)
    const base = {
      d,
      core: this.core,
      farm: this.farm,
      locks: new KeyedMutex(),
      perform: (effects: Parameters<ShellContext['perform']>[0]) => this.effects.perform(effects),
    };
    const x: ShellContext = (this.x = {
      ...base,
      writer: new RecordWriter(base),
      background: (p, what) => void p.catch((e: unknown) => d.log.error({ err: e }, `${what} failed`)),
    });
    this.dispatch = new Dispatcher(x);
    this.life = new Lifecycle(x);
    this.results = new Results(x, this.life);
    this.intake = new Submissions(x);
    this.effects = new EffectRunner(x, { dispatch: this.dispatch, results: this.results, life: this.life });
  }

  /** Loads persisted state, resumes jobs, starts the sweeper. */
  async start(): Promise<void> {
    const { jobs, shards } = await this.d.store.loadAll();
    const held = <T>(v: { value: T; revision: number }) => ({ rec: v.value, rev: v.revision });
    this.effects.perform(
      this.core.handle({ type: 'loaded', jobs: jobs.map(held), shards: shards.map(held) }, this.d.clock.now()),
    );
    const resumed = [...this.farm.jobs.values()].filter((j) => !FINAL_JOB_STATES.has(j.rec.state)).length;
    this.d.log.info({ jobs: this.farm.jobs.size, shards: this.farm.shards.size, resumed }, 'state loaded');
    const tick = () => {
      this.sweepTimer = this.d.clock.after(this.d.options.sweepEveryMs, tick);
      this.effects.perform(this.core.handle({ type: 'tick' }, this.d.clock.now()));
    };
    this.sweepTimer = this.d.clock.after(this.d.options.sweepEveryMs, tick);
  }

  /** Stops the sweeper and answers parked work requests with "no work". */
  stop(): void {
    this.sweepTimer?.cancel();
    this.dispatch.stop();
  }

  /** Runs the sweeper's rules now (what its timer does every sweepEveryMs). */
  sweep(): void {
    this.effects.perform(this.core.handle({ type: 'tick' }, this.d.clock.now()));
  }

  /** What agents may take changed outside the core (a model was pushed or removed): dispatch again. */
  redispatch(): void {
    this.dispatch.pump();
  }

  // ───────────────────────────── jobs API ─────────────────────────────

  submitUpscale(sub: kinds.UpscaleSubmission): Promise<JobRecord> {
    return this.intake.submit(kinds.upscale.intake, sub);
  }

  submitVideo(sub: kinds.VideoSubmission): Promise<JobRecord> {
    return this.intake.submit(kinds.video.intake, sub);
  }

  submitVideoUpscale(sub: kinds.VideoUpscaleSubmission): Promise<JobRecord> {
    return this.intake.submit(kinds.videoUpscale.intake, sub);
  }

  submitImage(sub: kinds.ImageSubmission): Promise<JobRecord> {
    return this.intake.submit(kinds.image.intake, sub);
  }

  /** What `owner` holds now (for the per-user limits). */
  ownerUsage(owner: string): { unfinishedJobs: number; queuedShards: number } {
    return ownerUsage(this.farm, owner);
  }

  /** A job record; throws NotFoundError. */
  jobRecord(id: string): JobRecord {
    const job = this.farm.job(id);
    if (!job) throw new NotFoundError(`job ${JSON.stringify(id)} not found`);
    return job;
  }

  /** A job with its shard records (from the store for a finished job) and why it waits. */
  async getJob(id: string, o: { withShards?: boolean } = {}) {
    const job = this.jobRecord(id);
    const shards = o.withShards === false ? [] : await this.life.shardsOf(job);
    return { job, shards, waitingReason: this.jobWaitingReason(job) };
  }

  listJobs(limit: number): JobRecord[] {
    return recentJobs(this.farm, limit);
  }

  /** Cancels a job; leased shards learn it at their next renewal (and from the cancel notice). */
  async cancelJob(id: string): Promise<JobRecord> {
    const job = this.jobRecord(id);
    if (FINAL_JOB_STATES.has(job.state)) return job;
    await this.life.finish(id, 'cancelled', 'cancelled by request');
    return this.jobRecord(id);
  }

  /** The fleet as the registry sees it, each agent with its state. */
  agents(includeLost: boolean): { entry: AgentEntry; state: AgentState }[] {
    return agentsView(this.farm.registry.all(), includeLost);
  }

  /** Number of shards waiting for an agent. */
  queuedCount(): number {
    return this.farm.queue.size;
  }

  /** Queued shards grouped by required class (for metrics). */
  queuedByClass(): Map<number, number> {
    return this.farm.queue.byClass();
  }

  /** Shard records held in memory (the live work; for the load benchmark and tests). */
  heldShardCount(): number {
    return this.farm.shards.size;
  }

  /** Work requests parked, waiting for a shard (for metrics). */
  parkedRequests(): number {
    return this.dispatch.parkedCount;
  }

  /** Committed shards of a job. */
  shardsDone(jobId: string): number {
    return this.farm.shardsDone(jobId);
  }

  /** The shard records of a job held in memory (an unfinished job's), in index order. */
  jobShards(jobId: string): ShardRecord[] {
    return this.farm.jobShards(jobId);
  }

  /** Why a job's queued shards are not running, or ''. */
  jobWaitingReason(job: JobRecord): string {
    return jobWaitingReason(job, this.farm, this.d.modelWaitReason); // hook(models)
  }

  // ───────────────────────────── agent protocol ─────────────────────────────

  /** Heartbeat: liveness, and confirmation of the leases the agent is working on. */
  heartbeat(hb: Heartbeat): void {
    if (!hb.advert?.agentId) return;
    this.effects.perform(
      this.core.handle({ type: 'heartbeat', advert: hb.advert, leases: hb.leases }, this.d.clock.now()),
    );
  }

  /** A work request: answered at once with a lease, or parked until work arrives or wait_ms passes. */
  requestWork(req: WorkRequest): Promise<WorkGrant> {
    const advert = req.advert;
    if (!advert?.agentId) return Promise.resolve({ lease: undefined });
    const waitMs = Math.min(Math.max(req.waitMs, 0), 30_000);
    if (!this.core.admits(advert.agentId)) {
      this.effects.perform([{ type: 'agent_refused', advert }]);
      // No answer before its wait is over, so a refused agent does not ask again at once.
      return new Promise((resolve) => this.d.clock.after(waitMs, () => resolve({ lease: undefined })));
    }
    const entry = this.farm.registry;
    if (entry.seen(advert, this.d.clock.now())) this.d.log.info({ agent: advert.name }, 'agent joined');
    return this.dispatch.request({ ...req, advert }, entry.get(advert.agentId)!.classGb);
  }

  /** Lease renewal; refuses superseded or cancelled leases so the agent stops. */
  async renewLease(r: LeaseRenewal): Promise<LeaseRenewalReply> {
    if (!r.ref) return { ok: false, expiresUnixMs: 0, reason: 'unknown' };
    const [reply] = this.core.handle(
      { type: 'renewal', ref: r.ref, agentId: r.agentId, progress: r.progress },
      this.d.clock.now(),
    );
    return reply.type === 'renewal_reply'
      ? { ok: reply.ok, expiresUnixMs: reply.expiresMs, reason: reply.reason }
      : { ok: false, expiresUnixMs: 0, reason: 'unknown' };
  }

  /** A shard's outcome. Only the current lease (fencing token) may commit; the first valid result wins. */
  reportResult(r: ShardResult): Promise<ShardResultReply> {
    return this.results.report(r);
  }

  /** NATS connectivity: offline, nothing is dispatched or judged by silence; back, every deadline is fresh. */
  setOnline(online: boolean): void {
    if (online === this.farm.online) return;
    this.farm.apply({ type: 'online', online, nowMs: this.d.clock.now(), leaseMs: this.d.options.leaseMs });
    if (!online) return this.d.log.warn('NATS connection lost: dispatch and silence checks paused');
    this.d.log.info('NATS connection back: deadlines refreshed, dispatch resumed');
    this.dispatch.pump();
  }
}
