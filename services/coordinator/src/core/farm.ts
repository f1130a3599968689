/**
 * The farm's state as the coordinator holds it: job and shard records (a cache of the state store)
 * and the indexes derived from them — the queue index, the leased set, leases per agent, running
 * shards per owner, committed shards per job. The records and every index change only through
 * `apply(transition)`, so "who runs what" cannot drift between the structures.
 *
 * Memory follows the live work, not the history: a finished job keeps its job record (until
 * retention) but its shard records leave memory (`shards_dropped`).
 */
import type { AgentAdvert } from '@tessera/protocol';
import { FINAL_JOB_STATES, shardKey, type JobRecord, type ShardRecord } from '../model.js';
import { ShardQueue, type QueueJobMeta, type Taken } from '../queue.js';
import { AgentRegistry, type AgentEntry } from '../registry.js';
import type { IdleAgent, Narrowing } from '../scheduler.js';
import { ChainRanks, type ShardWorkS } from './chains.js';

/**
 * hook(speed): narrows the agents a shard may go to (placement by expected finish time, given by
 * the shell: placement/fleet-view.ts). Returns a subset of `agents`.
 */
export type Narrow = Narrowing<IdleAgent>;

/** A record with the store revision it was read or written at. */
export interface Held<T> {
  rec: T;
  rev: number;
}

/** Every change of the farm state. */
export type Transition =
  /** A job record was created, written or reloaded. */
  | { type: 'job'; rec: JobRecord; rev: number }
  /** A shard record was created, written or reloaded (queued ones enter the queue index). */
  | { type: 'shard'; rec: ShardRecord; rev: number; nowMs: number }
  /** The job is ending: none of its shards may be dispatched from here on. */
  | { type: 'job_closing'; jobId: string }
  /** A finished job's shard records leave memory (they stay in the store). */
  | { type: 'shards_dropped'; jobId: string }
  /** Retention deleted the job. */
  | { type: 'job_forgotten'; jobId: string }
  /** A dispatch pass took the shard but its grant did not happen: it is no longer running. */
  | { type: 'grant_abandoned'; key: string; nowMs: number }
  /** The shard it depended on committed: a gated shard may run. */
  | { type: 'released'; key: string; nowMs: number }
  /** A renewal extended lease `token` (memory only) and reported engine progress. */
  | { type: 'lease_renewed'; key: string; token: number; expiresMs: number; progress: number; nowMs: number }
  /** A dispatch pass chose a backup of the shard, expected to take `seconds` (its job's budget pays). */
  | { type: 'backup_taken'; key: string; jobId: string; seconds: number }
  /** The backup's grant did not happen (or landed): the shard may be chosen for a backup again. */
  | { type: 'backup_settled'; key: string }
  /** The agent's heartbeat lists the lease (after a restart, the agent index learns it here). */
  | { type: 'lease_confirmed'; key: string; agentId: string }
  /** NATS connectivity changed; coming back refreshes every agent's and lease's deadline. */
  | { type: 'online'; online: boolean; nowMs: number; leaseMs: number };

/** What the queue index needs of a job (`rank`: its remaining critical path, core/chains.ts). */
export function queueMeta(job: JobRecord, rank = 0): QueueJobMeta {
  return {
    rank,
    id: job.id,
    priority: job.priority,
    createdMs: job.createdMs,
    owner: job.owner ?? '',
    model: job.model,
    blocked: job.blockedAgents ?? [],
  };
}

export class FarmState {
  /** Job records (unfinished and finished until retention). */
  readonly jobs = new Map<string, Held<JobRecord>>();
  /** Shard records of unfinished jobs. */
  readonly shards = new Map<string, Held<ShardRecord>>();
  /** Queued shards of every unfinished job, indexed for dispatch. */
  readonly queue: ShardQueue;
  /** The fleet; each entry's `leases` is an index kept here. */
  readonly registry: AgentRegistry;
  /** Leased shards by key, with their holders (what the sweeper walks). */
  private readonly leased = new Map<string, Held<ShardRecord>>();
  private readonly doneCount = new Map<string, number>();
  /** Engine progress per leased shard and attempt, from renewals (memory only; restarts begin afresh). */
  private readonly progress = new Map<string, Map<number, { value: number; sinceMs: number }>>();
  /** Shards a dispatch pass chose a backup for, until its grant lands or is abandoned. */
  private readonly backupsPending = new Set<string>();
  /** Expected seconds of the backups granted per unfinished job (memory only: a restart resets it). */
  private readonly backupSpent = new Map<string, number>();
  /** NATS connectivity: while offline nothing is dispatched and silence is not judged. */
  online = true;
  /** When state was last loaded or NATS came back (start timeouts count from no earlier). */
  resumedMs = 0;
  /** When retention last ran. */
  lastRetentionMs = 0;

  /** hook(speed): remaining critical paths of jobs with chains, the queue's order among an owner's jobs. */
  private readonly chains: ChainRanks;

  constructor(
    classOf: (a: AgentAdvert) => number,
    maxAgents: number,
    weight: (owner: string) => number,
    workS?: ShardWorkS,
  ) {
    this.registry = new AgentRegistry(classOf, maxAgents);
    this.queue = new ShardQueue(weight);
    this.chains = new ChainRanks(workS);
  }

  /** Applies one transition to the records and every index derived from them. */
  apply(t: Transition): void {
    switch (t.type) {
      case 'job': {
        this.jobs.set(t.rec.id, { rec: t.rec, rev: t.rev });
        // The budget spent persists in the job record (a restart starts from it), counted here at once.
        const spent = t.rec.backupSpentS ?? 0;
        if (spent > (this.backupSpent.get(t.rec.id) ?? 0)) this.backupSpent.set(t.rec.id, spent);
        if (FINAL_JOB_STATES.has(t.rec.state)) this.closeJob(t.rec.id);
        else this.queue.setJob(queueMeta(t.rec, this.chains.current(t.rec.id)));
        return;
      }
      case 'shard':
        return this.applyShard(t.rec, t.rev, t.nowMs);
      case 'job_closing':
        return this.closeJob(t.jobId);
      case 'shards_dropped':
        return this.dropShards(t.jobId);
      case 'job_forgotten':
        this.dropShards(t.jobId);
        this.closeJob(t.jobId);
        this.jobs.delete(t.jobId);
        this.doneCount.delete(t.jobId);
        this.backupSpent.delete(t.jobId);
        return;
      case 'grant_abandoned': {
        this.queue.runningEnded(this.ownerOfKey(t.key));
        const s = this.shards.get(t.key)?.rec;
        if (s?.state === 'queued') this.enqueue(s, t.nowMs);
        return;
      }
      case 'released': {
        const s = this.shards.get(t.key)?.rec;
        if (s) this.rerank(s.jobId);
        return this.queue.release(t.key, t.nowMs);
      }
      case 'lease_renewed': {
        const s = this.shards.get(t.key)?.rec;
        if (s?.state !== 'leased') return;
        const lease = s.backup?.attempt === t.token ? s.backup : s.attempt === t.token ? s : undefined;
        if (!lease) return;
        lease.leaseExpiresMs = t.expiresMs;
        lease.leaseConfirmed = true;
        let byToken = this.progress.get(t.key);
        if (!byToken) this.progress.set(t.key, (byToken = new Map()));
        const seen = byToken.get(t.token);
        if (!seen || t.progress > seen.value) byToken.set(t.token, { value: t.progress, sinceMs: t.nowMs });
        return;
      }
      case 'lease_confirmed': {
        const s = this.shards.get(t.key)?.rec;
        if (s?.state !== 'leased') return;
        const lease = s.agentId === t.agentId ? s : s.backup?.agentId === t.agentId ? s.backup : undefined;
        if (!lease) return;
        lease.leaseConfirmed = true;
        this.registry.get(t.agentId)?.leases.add(t.key);
        return;
      }
      case 'backup_taken':
        this.backupsPending.add(t.key);
        this.backupSpent.set(t.jobId, (this.backupSpent.get(t.jobId) ?? 0) + t.seconds);
        return;
      case 'backup_settled':
        this.backupsPending.delete(t.key);
        return;
      case 'online': {
        this.online = t.online;
        if (!t.online) return;
        this.resumedMs = t.nowMs;
        for (const a of this.registry.all()) if (a.liveness === 'live') a.lastSeenMs = t.nowMs;
        for (const { rec: s } of this.leased.values()) {
          if (s.state !== 'leased') continue;
          s.leaseExpiresMs = Math.max(s.leaseExpiresMs, t.nowMs + t.leaseMs);
          if (s.backup) s.backup.leaseExpiresMs = Math.max(s.backup.leaseExpiresMs, t.nowMs + t.leaseMs);
        }
        return;
      }
    }
  }

  /**
   * Loads persisted records (a start or a take-over). Leases survive with a fresh deadline: their
   * agents renew or are found silent. A finished job's shards stay in the store.
   */
  load(
    jobs: readonly Held<JobRecord>[],
    shards: readonly Held<ShardRecord>[],
    nowMs: number,
    leaseMs: number,
  ): { resumed: JobRecord[] } {
    this.resumedMs = nowMs;
    for (const j of jobs) {
      // Records written before these fields existed.
      j.rec.owner ??= '';
      j.rec.agentFailures ??= {};
      j.rec.blockedAgents ??= [];
      this.apply({ type: 'job', rec: j.rec, rev: j.rev });
    }
    const queued: ShardRecord[] = [];
    for (const { rec, rev } of shards) {
      const job = this.jobs.get(rec.jobId)?.rec;
      if (!job) continue;
      if (rec.state === 'done') this.doneCount.set(job.id, (this.doneCount.get(job.id) ?? 0) + 1);
      if (FINAL_JOB_STATES.has(job.state)) continue;
      rec.notBeforeMs ??= 0;
      const k = shardKey(rec.jobId, rec.index);
      const held = { rec, rev };
      if (rec.state === 'leased') {
        rec.leaseExpiresMs = nowMs + leaseMs;
        // A persisted backup resumes like its primary: its agent renews it or is found silent.
        if (rec.backup) rec.backup.leaseExpiresMs = nowMs + leaseMs;
        this.leased.set(k, held);
        this.queue.runningStarted(job.owner);
      }
      this.shards.set(k, held);
      if (rec.state === 'queued') queued.push(rec);
    }
    // Once every shard is loaded: whether a queued shard waits for another depends on that one.
    for (const rec of queued) this.enqueue(rec, nowMs);
    return { resumed: [...this.jobs.values()].map((h) => h.rec).filter((j) => !FINAL_JOB_STATES.has(j.state)) };
  }

  /** One dispatch pass: shards whose backoff passed become ready, then ready shards meet idle agents. */
  dispatch<A extends IdleAgent>(idle: readonly A[], nowMs: number, narrow?: Narrow): Taken<A>[] {
    if (!this.online || idle.length === 0 || this.queue.size === 0) return [];
    this.queue.releaseDue(nowMs);
    // A narrowing returns a subset of the agents it is given, so it keeps their type.
    const n = narrow as Narrowing<A> | undefined;
    return this.queue.take(idle, this.failedOn, n);
  }

  /** A queued shard's agents to avoid (one function for every dispatch pass). */
  private readonly failedOn = (k: string): readonly string[] => this.shards.get(k)?.rec.failedOn ?? [];

  /** hook(speed): a held shard with its job, for placement's cost estimates. */
  shardAndJob(k: string): { job: JobRecord; rec: ShardRecord } | undefined {
    const rec = this.shards.get(k)?.rec;
    const job = rec && this.jobs.get(rec.jobId)?.rec;
    return rec && job ? { job, rec } : undefined;
  }

  // ───────────────────────────── queries ─────────────────────────────

  job(id: string): JobRecord | undefined {
    return this.jobs.get(id)?.rec;
  }

  shard(key: string): ShardRecord | undefined {
    return this.shards.get(key)?.rec;
  }

  /** Committed shards of a job. */
  shardsDone(jobId: string): number {
    return this.doneCount.get(jobId) ?? 0;
  }

  /** Leased shards: key → holder. */
  leasedShards(): ReadonlyMap<string, Held<ShardRecord>> {
    return this.leased;
  }

  /** When attempt `lease.attempt` of the shard last made engine progress (its grant when never). */
  progressSince(key: string, lease: Pick<ShardRecord, 'attempt' | 'leasedMs'>): number {
    return this.progress.get(key)?.get(lease.attempt)?.sinceMs ?? lease.leasedMs;
  }

  /** The engine progress (0..1) attempt `token` of the shard last reported, if any. */
  progressOf(key: string, token: number): number | undefined {
    return this.progress.get(key)?.get(token)?.value;
  }

  /** True while a backup of the shard is being granted. */
  backupPending(key: string): boolean {
    return this.backupsPending.has(key);
  }

  /** Expected seconds of the backups granted for the job so far. */
  backupSpentS(jobId: string): number {
    return this.backupSpent.get(jobId) ?? 0;
  }

  /** The shard records of a job held in memory (an unfinished job's), in index order. */
  jobShards(jobId: string): ShardRecord[] {
    const job = this.jobs.get(jobId)?.rec;
    if (!job) return [];
    const out: ShardRecord[] = [];
    for (let i = 0; i < job.shardsTotal; i++) {
      const s = this.shards.get(shardKey(jobId, i));
      if (s) out.push(s.rec);
    }
    return out;
  }

  /** Upscale with refine: every upscale tile (the shards before the first refine tile) committed. */
  upscaleStageDone(job: JobRecord): boolean {
    const first = job.refine?.firstShard ?? job.shardsTotal;
    for (let i = 0; i < first; i++) if (this.shards.get(shardKey(job.id, i))?.rec.state !== 'done') return false;
    return true;
  }

  /** Live agents as the blocklist sees them. */
  liveAgents(): { classGb: number; name: string; entry: AgentEntry }[] {
    return this.registry.live().map((entry) => ({ classGb: entry.classGb, name: entry.advert.name, entry }));
  }

  // ───────────────────────────── index upkeep ─────────────────────────────

  private applyShard(rec: ShardRecord, rev: number, nowMs: number): void {
    const k = shardKey(rec.jobId, rec.index);
    let held = this.shards.get(k);
    const prev = held?.rec;
    // The holder is updated in place (one per shard for its life: no allocation per write).
    if (held) {
      held.rec = rec;
      held.rev = rev;
    } else this.shards.set(k, (held = { rec, rev }));
    if (rec.state === 'leased') {
      if (prev?.state !== 'leased') this.leased.set(k, held);
    } else if (prev?.state === 'leased') {
      this.leased.delete(k);
      this.queue.runningEnded(this.jobs.get(rec.jobId)?.rec.owner ?? '');
    }
    // Who holds a lease of it: the primary's agent and the backup's.
    const holders = rec.state === 'leased' ? [rec.agentId, rec.backup?.agentId] : [];
    if (prev?.state === 'leased')
      for (const a of [prev.agentId, prev.backup?.agentId])
        if (a && !holders.includes(a)) this.registry.get(a)?.leases.delete(k);
    for (const a of holders) if (a) this.registry.get(a)?.leases.add(k);
    if (rec.backup) this.backupsPending.delete(k);
    const delta = (rec.state === 'done' ? 1 : 0) - (prev?.state === 'done' ? 1 : 0);
    if (delta !== 0) this.doneCount.set(rec.jobId, (this.doneCount.get(rec.jobId) ?? 0) + delta);
    if (rec.state === 'queued') this.enqueue(rec, nowMs, k);
    // Only a queued record can be in the queue index (a taken one has left it already).
    else if (prev?.state === 'queued') this.queue.remove(k);
  }

  /**
   * Queues a shard in the index: held back while the shard it depends on has not committed or
   * (refine tiles) while the upscaled image is not assembled, and until its retry backoff passes.
   */
  private enqueue(rec: ShardRecord, nowMs: number, k = shardKey(rec.jobId, rec.index)): void {
    const job = this.jobs.get(rec.jobId)?.rec;
    if (!job || FINAL_JOB_STATES.has(job.state)) return;
    const depPending = rec.dependsOn >= 0 && this.shards.get(shardKey(job.id, rec.dependsOn))?.rec.state !== 'done';
    const refinePending = rec.stage === 'refine' && !job.refine?.ready;
    this.rerank(job.id);
    this.queue.add(k, job.id, rec.index, rec.requiredClassGb, {
      gated: depPending || refinePending,
      notBeforeMs: rec.notBeforeMs ?? 0,
      nowMs,
    });
  }

  /** Tells the queue a job's remaining critical path when it changed (jobs with chains only). */
  private rerank(jobId: string): void {
    const job = this.jobs.get(jobId)?.rec;
    if (!job || (job.kind !== 'video' && job.kind !== 'image')) return;
    const before = this.chains.current(jobId);
    const rank = this.chains.rank(job, (i) => this.shards.get(shardKey(jobId, i))?.rec);
    if (rank !== before) this.queue.setJob(queueMeta(job, rank));
  }

  private closeJob(jobId: string): void {
    this.chains.forget(jobId);
    const job = this.jobs.get(jobId)?.rec;
    if (job) this.queue.removeJob(jobId, job.shardsTotal, (i) => shardKey(jobId, i));
  }

  private dropShards(jobId: string): void {
    const job = this.jobs.get(jobId)?.rec;
    if (!job) return;
    for (let i = 0; i < job.shardsTotal; i++) {
      const k = shardKey(jobId, i);
      const s = this.shards.get(k)?.rec;
      if (s?.state === 'leased') {
        this.registry.get(s.agentId)?.leases.delete(k);
        if (s.backup) this.registry.get(s.backup.agentId)?.leases.delete(k);
      }
      this.shards.delete(k);
      this.progress.delete(k);
      this.backupsPending.delete(k);
      if (this.leased.delete(k)) this.queue.runningEnded(job.owner);
    }
  }

  /** The owner of the job a shard key belongs to. */
  private ownerOfKey(k: string): string {
    const s = this.shards.get(k);
    return (s && this.jobs.get(s.rec.jobId)?.rec.owner) ?? '';
  }
}
