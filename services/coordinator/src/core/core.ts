/**
 * The farm core's entry point: `handle(event, now) → effects`. Events are what happens to the farm
 * (a sweep tick, a heartbeat, a renewal, idle agents, a commit); effects are what the shell must do
 * next, in order (requeue a shard, grant a lease, answer a parked agent, assemble a job, …). The
 * core decides and keeps its indexes through `FarmState.apply`; it performs no I/O, reads no clock
 * and draws no random numbers — the production shell and the simulator drive the same code.
 */
import type { AgentAdvert, LeaseRef } from '@tessera/protocol';
import { shardKey, type JobRecord, type ShardKind, type ShardRecord } from '../model.js';
import type { AgentEntry } from '../registry.js';
import type { IdleAgent } from '../scheduler.js';
import { FarmState, type Held, type Narrow } from './farm.js';
import { expiredJobs } from './farm-queries.js';
import type { SpeculationOptions } from '../placement/speculate.js';
import { leaseExpiry, type LeaseTimeouts } from './policy.js';
import { committedBy, holdsLease, leaseOf, type LeaseHolder } from './shard.js';
import { chooseBackups, type SpeculationView } from './speculation.js';

/** The options the core's rules read. */
export interface CoreOptions {
  leaseMs: number;
  agentSilenceMs: number;
  /** 0 = finished jobs are kept for ever. */
  retentionMs: number;
  timeouts: Record<ShardKind, LeaseTimeouts>;
  /** Speculative backups of stragglers (core/speculation.ts); absent or budgetFraction 0: none. */
  speculation?: SpeculationOptions;
}

/** What happens to the farm. */
export type FarmEvent<A extends IdleAgent = IdleAgent> =
  /** The sweeper's turn: backoffs that passed, retention, silent agents, lease timeouts. */
  | { type: 'tick' }
  /** An agent's heartbeat with the leases it works on. */
  | { type: 'heartbeat'; advert: AgentAdvert; leases: readonly LeaseRef[] }
  /** A lease renewal with engine progress (0..1). */
  | { type: 'renewal'; ref: LeaseRef; agentId: string; progress: number }
  /** Agents waiting for work: one dispatch pass. */
  | { type: 'idle'; agents: readonly A[] }
  /** Persisted records were loaded (a start or a take-over): which jobs resume where. */
  | { type: 'loaded'; jobs: readonly Held<JobRecord>[]; shards: readonly Held<ShardRecord>[] }
  /** A shard committed (or a reload found it committed): what it lets happen next. */
  | { type: 'committed'; jobId: string; index: number };

/** What the shell does next, in order. */
export type Effect<A extends IdleAgent = IdleAgent> =
  | { type: 'requeue'; key: string; attempt: number; reason: string; metric: string }
  | { type: 'grant'; key: string; agent: A }
  /** Grant a backup lease of the leased shard to the parked agent (speculation). */
  | { type: 'backup'; key: string; agent: A; seconds: number }
  | { type: 'pump' }
  /** Answer the agent's parked work request with "no work". */
  | { type: 'unpark'; agentId: string }
  | { type: 'agent_joined'; agent: AgentEntry }
  | { type: 'agent_refused'; advert: AgentAdvert }
  | { type: 'agent_lost'; agent: AgentEntry; silentMs: number }
  | { type: 'expire'; jobIds: string[] }
  | { type: 'assemble'; jobId: string }
  | { type: 'prepare_refine'; jobId: string }
  | { type: 'renewal_reply'; ok: boolean; expiresMs: number; reason: string };

/** The job kinds whose shards wait for another shard's commit (chained batches, pipeline stages). */
const CHAINED_KINDS = new Set(['video', 'image']);

export class FarmCore {
  private lastSpeculationPumpMs = -Infinity;

  constructor(
    readonly state: FarmState,
    readonly o: CoreOptions,
    /** hook(speed): the placement narrowing of a dispatch pass at a time (none: best fit only). */
    private readonly placement?: (nowMs: number) => Narrow,
    /** hook(speed): the estimates speculation reads in a dispatch pass at a time (none: no backups). */
    private readonly speculation?: (nowMs: number) => SpeculationView,
  ) {}

  /** True when idle agents may get backups of stragglers. */
  get speculates(): boolean {
    return this.speculation !== undefined && (this.o.speculation?.budgetFraction ?? 0) > 0;
  }

  /** Applies an event to the farm state and returns the effects it calls for, in order. */
  handle<A extends IdleAgent>(e: FarmEvent<A>, nowMs: number): Effect<A>[] {
    switch (e.type) {
      case 'tick':
        return this.tick(nowMs);
      case 'heartbeat':
        return this.heartbeat(e.advert, e.leases, nowMs);
      case 'renewal':
        return [this.renewal(e.ref, e.agentId, e.progress, nowMs)];
      case 'idle':
        return this.idle(e.agents, nowMs);
      case 'committed':
        return this.committed(e.jobId, e.index, nowMs);
      case 'loaded':
        return this.loaded(e.jobs, e.shards, nowMs);
    }
  }

  /** One dispatch pass; agents it leaves without a queued shard may back up a straggler. */
  private idle<A extends IdleAgent>(agents: readonly A[], nowMs: number): Effect<A>[] {
    const taken = this.state.dispatch(agents, nowMs, this.placement?.(nowMs));
    const out: Effect<A>[] = taken.map((t) => ({ type: 'grant', key: t.key, agent: t.agent }));
    if (!this.speculates || taken.length === agents.length) return out;
    const busy = new Set<A>(taken.map((t) => t.agent));
    const left = agents.filter((a) => !busy.has(a));
    for (const b of chooseBackups(this.state, left, this.speculation!(nowMs), this.o.speculation!))
      out.push({ type: 'backup', key: b.key, agent: b.agent, seconds: b.seconds });
    return out;
  }

  private loaded<A extends IdleAgent>(
    jobs: readonly Held<JobRecord>[],
    shards: readonly Held<ShardRecord>[],
    now: number,
  ): Effect<A>[] {
    const { resumed } = this.state.load(jobs, shards, now, this.o.leaseMs);
    const out: Effect<A>[] = [];
    for (const job of resumed) {
      // Also a job whose last shard committed just before the previous coordinator died, before it
      // recorded 'assembling': no commit is left to start its assembly.
      if (job.state === 'assembling' || this.state.shardsDone(job.id) === job.shardsTotal)
        out.push({ type: 'assemble', jobId: job.id });
      else if (job.refine && !job.refine.ready && this.state.upscaleStageDone(job))
        out.push({ type: 'prepare_refine', jobId: job.id });
    }
    return out;
  }

  /** Admits an agent's advert: false when the registry is full of live agents. */
  admits(agentId: string): boolean {
    return this.state.registry.hasRoomFor(agentId);
  }

  private tick<A extends IdleAgent>(now: number): Effect<A>[] {
    const s = this.state;
    // While this coordinator is cut off from NATS, silence says nothing about the agents.
    if (!s.online) return [];
    const out: Effect<A>[] = [];
    // Shards whose retry backoff has passed can be dispatched.
    if (s.queue.releaseDue(now) > 0) out.push({ type: 'pump' });
    if (this.o.retentionMs > 0 && now - s.lastRetentionMs > Math.min(60_000, this.o.retentionMs)) {
      s.lastRetentionMs = now;
      const expired = expiredJobs(s, now, this.o.retentionMs).map((j) => j.id);
      if (expired.length) out.push({ type: 'expire', jobIds: expired });
    }
    for (const a of s.registry.sweep(now, this.o.agentSilenceMs)) {
      const silentMs = now - a.lastSeenMs;
      out.push({ type: 'agent_lost', agent: a, silentMs }, { type: 'unpark', agentId: a.advert.agentId });
      for (const k of a.leases) {
        // Its lease of the shard, the primary's or a backup's: the shell drops just that attempt.
        const lease = s.shard(k) && leaseOf(s.shard(k)!, a.advert.agentId);
        if (lease) {
          const reason = `agent ${a.advert.name} lost (no heartbeat for ${Math.round(silentMs / 100) / 10} s)`;
          out.push({ type: 'requeue', key: k, attempt: lease.attempt, reason, metric: 'agent_lost' });
        }
      }
    }
    // forEach, not for…of over the entries: no array per leased shard per tick. The primary lease is
    // judged on the record itself; a backup on the record with the backup's lease fields.
    s.leasedShards().forEach(({ rec }, k) => {
      if (rec.state !== 'leased') return;
      const judge = (view: ShardRecord) => {
        const x = leaseExpiry(view, this.o.timeouts[rec.kind], now, s.progressSince(k, view), s.resumedMs);
        if (x) out.push({ type: 'requeue', key: k, attempt: view.attempt, reason: x.reason, metric: x.metric });
      };
      judge(rec);
      if (rec.backup) judge({ ...rec, ...rec.backup });
    });
    // Stragglers fall behind as time passes: parked agents are matched again every second.
    if (this.speculates && s.leasedShards().size > 0 && now - this.lastSpeculationPumpMs >= 1000) {
      this.lastSpeculationPumpMs = now;
      out.push({ type: 'pump' });
    }
    return out;
  }

  private heartbeat<A extends IdleAgent>(advert: AgentAdvert, leases: readonly LeaseRef[], now: number): Effect<A>[] {
    if (!this.admits(advert.agentId)) return [{ type: 'agent_refused', advert }];
    const s = this.state;
    const out: Effect<A>[] = [];
    const revived = s.registry.seen(advert, now);
    const agent = s.registry.get(advert.agentId)!;
    // A draining agent takes no new work: release its parked request so it can exit at once.
    if (advert.state === 3 /* AGENT_STATE_DRAINING */) out.push({ type: 'unpark', agentId: advert.agentId });
    if (revived) out.push({ type: 'agent_joined', agent }, { type: 'pump' });
    const held = new Set<string>();
    for (const l of leases) {
      const k = shardKey(l.jobId, l.shardIndex);
      const rec = s.shard(k);
      if (rec && holdsLease(rec, l.fencingToken, advert.agentId)) {
        s.apply({ type: 'lease_confirmed', key: k, agentId: advert.agentId });
        held.add(k);
      }
    }
    // A lease granted to this agent that it does not know of (the grant was lost) goes back to the queue.
    for (const k of agent.leases) {
      if (held.has(k)) continue;
      const rec = s.shard(k);
      if (!rec) continue;
      const lease = leaseOf(rec, advert.agentId);
      if (lease && !lease.leaseConfirmed && now - lease.leasedMs > this.o.agentSilenceMs) {
        const reason = `lease not picked up by ${advert.name}`;
        out.push({ type: 'requeue', key: k, attempt: lease.attempt, reason, metric: 'lease_lost' });
      }
    }
    return out;
  }

  private renewal<A extends IdleAgent>(ref: LeaseRef, agentId: string, progress: number, now: number): Effect<A> {
    const k = shardKey(ref.jobId, ref.shardIndex);
    const rec = this.state.shard(k);
    const job = this.state.job(ref.jobId);
    if (job?.state === 'cancelled') return refusedRenewal('cancelled');
    // A finished job's shards are no longer held: no lease of it is current.
    if (!rec) return refusedRenewal(job ? 'superseded' : 'unknown');
    if (rec.state === 'cancelled') return refusedRenewal('cancelled');
    if (!holdsLease(rec, ref.fencingToken, agentId)) return refusedRenewal('superseded');
    const expiresMs = now + this.o.leaseMs;
    this.state.apply({ type: 'lease_renewed', key: k, token: ref.fencingToken, expiresMs, progress, nowMs: now });
    const agent = this.state.registry.get(agentId);
    if (agent) agent.lastSeenMs = now;
    return { type: 'renewal_reply', ok: true, expiresMs, reason: '' };
  }

  /** What a committed shard lets happen next: assembly, the shards that waited for it, or refine. */
  private committed<A extends IdleAgent>(jobId: string, index: number, now: number): Effect<A>[] {
    const s = this.state;
    const job = s.job(jobId);
    if (!job) return [];
    if (s.shardsDone(jobId) === job.shardsTotal) return [{ type: 'assemble', jobId }];
    if (CHAINED_KINDS.has(job.kind)) {
      for (let i = 0; i < job.shardsTotal; i++) {
        const k = shardKey(jobId, i);
        if (s.shard(k)?.dependsOn === index) s.apply({ type: 'released', key: k, nowMs: now });
      }
      return [{ type: 'pump' }];
    }
    if (job.refine && !job.refine.ready && s.upscaleStageDone(job)) return [{ type: 'prepare_refine', jobId }];
    return [];
  }
}

/** A renewal refused for `reason` (module level: no closure per renewal). */
function refusedRenewal<A extends IdleAgent>(reason: string): Effect<A> {
  return { type: 'renewal_reply', ok: false, expiresMs: 0, reason };
}

/** How the core judges a result report against the shard record it holds. */
export type ResultJudgement = 'duplicate' | 'cancelled' | 'superseded' | 'current';

/** Judges a reported result for `token` of `agentId` against the shard record. */
export function judgeResult(rec: LeaseHolder, jobState: string, token: number, agentId: string): ResultJudgement {
  if (committedBy(rec, token, agentId)) return 'duplicate';
  if (rec.state === 'cancelled' || jobState === 'cancelled') return 'cancelled';
  if (!holdsLease(rec, token, agentId)) return 'superseded';
  return 'current';
}
