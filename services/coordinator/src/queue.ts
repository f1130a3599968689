/**
 * The queue index: every queued shard of the farm, arranged so that a dispatch pass looks only at
 * the heads of its queues, never at the whole queue.
 *
 * - Jobs are grouped by priority (levels served high first), then by owner; within an owner, jobs
 *   with chains by remaining critical path (their `rank`, longest first), then in age order. Only
 *   jobs with a dispatchable ("ready") shard are listed.
 * - Within a job, ready shard indices sit in one min-heap per required VRAM class, so the lowest
 *   index that some free agent fits is found by peeking at a handful of heaps.
 * - A queued shard can be *gated* (it waits for another shard's commit: a chained video batch, the
 *   next image stage, a refine tile before the upscaled image exists) or *delayed* (retry backoff
 *   until `notBeforeMs`). Neither is looked at by a dispatch pass; `release()` and `releaseDue()`
 *   make them ready.
 *
 * `take()` makes exactly the decisions of the reference `assign()` in scheduler.ts (same rules,
 * same order); scheduler.test.ts checks that on random queues.
 */
import TinyQueue from 'tinyqueue';
import { agentName, bestAgentFor, compareShares } from './scheduler.js';
import type { IdleAgent, Narrowing, QueuedShard } from './scheduler.js';

/** What the index knows of a job. */
export interface QueueJobMeta {
  readonly id: string;
  readonly priority: number;
  readonly createdMs: number;
  /** '' = anonymous. */
  readonly owner: string;
  readonly model: string;
  /** Agent names on the job's blocklist. */
  readonly blocked: readonly string[];
  /**
   * hook(speed): the remaining critical path of a job whose shards form chains (HEFT's upward rank,
   * reference seconds; scheduler.ts). Among one owner's jobs of one priority, a higher rank goes
   * first; 0 (the default, every job without chains) keeps submission order.
   */
  readonly rank?: number;
}

type MemberState = 'ready' | 'gated' | 'delayed';

interface Member {
  readonly job: JobQueue;
  readonly index: number;
  readonly classGb: number;
  state: MemberState;
  notBeforeMs: number;
}

/** Ready indices of one job needing one class: a heap with lazy deletion, the set is the truth. */
interface Bucket {
  heap: TinyQueue<number>;
  ready: Set<number>;
}

class JobQueue {
  /** Ready shards by required class. */
  buckets = new Map<number, Bucket>();
  readyCount = 0;
  /** Queued shards (any state) by required class, for waiting reasons. */
  byClass = new Map<number, number>();
  members = 0;
  /** True while it sits in its owner's list. */
  listed = false;
  constructor(public meta: QueueJobMeta) {}
}

/** Service order of one owner's jobs: remaining critical path (chains) desc, then age, then id. */
const jobOrder = (a: QueueJobMeta, b: QueueJobMeta): number =>
  (b.rank ?? 0) - (a.rank ?? 0) || a.createdMs - b.createdMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export interface Taken<A extends IdleAgent> {
  key: string;
  jobId: string;
  index: number;
  agent: A;
}

export class ShardQueue {
  private readonly members = new Map<string, Member>();
  private readonly jobs = new Map<string, JobQueue>();
  /** priority → owner → listed jobs in age order. */
  private readonly levels = new Map<number, Map<string, JobQueue[]>>();
  /** Priorities with a level, high first. */
  private priorities: number[] = [];
  /** Delayed members by due time (lazy: entries whose member moved on are skipped). */
  private readonly delayed = new TinyQueue<{ key: string; atMs: number }>([], (a, b) => a.atMs - b.atMs);
  private readonly classCounts = new Map<number, number>();
  /** Running shards per owner (leased or being granted). */
  private readonly runningByOwner = new Map<string, number>();

  constructor(private readonly weight: (owner: string) => number = () => 1) {}

  /** Queued shards, in any state. */
  get size(): number {
    return this.members.size;
  }

  has(key: string): boolean {
    return this.members.has(key);
  }

  /** Queued shards by required class. */
  byClass(): Map<number, number> {
    return new Map([...this.classCounts].filter(([, n]) => n > 0));
  }

  /** A job's queued shards (any state): how many and the largest class they need (0 when none). */
  jobQueued(jobId: string): { count: number; maxClassGb: number } {
    const j = this.jobs.get(jobId);
    if (!j || j.members === 0) return { count: 0, maxClassGb: 0 };
    let max = 0;
    for (const [c, n] of j.byClass) if (n > 0) max = Math.max(max, c);
    return { count: j.members, maxClassGb: max };
  }

  /**
   * Registers a job or updates what the index knows of it (its blocklist, its rank). A listed job
   * whose rank changed moves to its new place in its owner's list.
   */
  setJob(meta: QueueJobMeta): void {
    const j = this.jobs.get(meta.id);
    if (!j) return void this.jobs.set(meta.id, new JobQueue(meta));
    const moved = j.listed && (j.meta.rank ?? 0) !== (meta.rank ?? 0);
    if (moved) this.unlist(j);
    j.meta = meta;
    if (moved) this.list(j);
  }

  /**
   * Queues a shard. `gated`: it waits for `release()`. `notBeforeMs`: it is not dispatched before
   * then (retry backoff). Re-adding a queued shard replaces its entry.
   */
  add(
    key: string,
    jobId: string,
    index: number,
    classGb: number,
    o: { gated?: boolean; notBeforeMs?: number; nowMs?: number } = {},
  ): void {
    const job = this.jobs.get(jobId);
    if (!job) throw new Error(`queue: job ${jobId} not registered`);
    this.remove(key);
    const m: Member = { job, index, classGb, state: 'gated', notBeforeMs: o.notBeforeMs ?? 0 };
    this.members.set(key, m);
    job.members++;
    job.byClass.set(classGb, (job.byClass.get(classGb) ?? 0) + 1);
    this.classCounts.set(classGb, (this.classCounts.get(classGb) ?? 0) + 1);
    if (!o.gated) this.ungate(key, m, o.nowMs ?? 0);
  }

  /** Lets a gated shard run (its dependency committed); it may still wait for its backoff. */
  release(key: string, nowMs: number): void {
    const m = this.members.get(key);
    if (m?.state === 'gated') this.ungate(key, m, nowMs);
  }

  /** True when the shard is queued and gated. */
  isGated(key: string): boolean {
    return this.members.get(key)?.state === 'gated';
  }

  /** Makes delayed shards whose time has come ready. Returns how many. */
  releaseDue(nowMs: number): number {
    let n = 0;
    const d = this.delayed;
    while (d.length > 0 && d.peek()!.atMs <= nowMs) {
      const { key, atMs } = d.pop()!;
      const m = this.members.get(key);
      if (m?.state !== 'delayed' || m.notBeforeMs !== atMs) continue;
      this.makeReady(m);
      n++;
    }
    return n;
  }

  /** Removes a shard from the queue (granted, cancelled, …). */
  remove(key: string): void {
    const m = this.members.get(key);
    if (!m) return;
    this.members.delete(key);
    const j = m.job;
    j.members--;
    j.byClass.set(m.classGb, (j.byClass.get(m.classGb) ?? 1) - 1);
    this.classCounts.set(m.classGb, (this.classCounts.get(m.classGb) ?? 1) - 1);
    if (m.state === 'ready') {
      const b = j.buckets.get(m.classGb)!;
      b.ready.delete(m.index);
      j.readyCount--;
      // Keep a heap from growing with stale entries (the same index re-queued many times).
      if (b.heap.length > 2 * b.ready.size + 64) b.heap = new TinyQueue([...b.ready]);
    }
  }

  /** Forgets a job and its queued shards (it ended). */
  removeJob(jobId: string, shardsTotal: number, keyOf: (index: number) => string): void {
    const j = this.jobs.get(jobId);
    if (!j) return;
    if (j.members > 0) for (let i = 0; i < shardsTotal; i++) this.remove(keyOf(i));
    this.jobs.delete(jobId);
    // A listed job with nothing ready is dropped from its owner's list by the next take().
  }

  /** A shard of `owner` started running (granted). */
  runningStarted(owner: string): void {
    this.runningByOwner.set(owner, (this.runningByOwner.get(owner) ?? 0) + 1);
  }

  /** A shard of `owner` stopped running (committed, requeued, cancelled, or its grant failed). */
  runningEnded(owner: string): void {
    const n = (this.runningByOwner.get(owner) ?? 0) - 1;
    if (n > 0) this.runningByOwner.set(owner, n);
    else this.runningByOwner.delete(owner);
  }

  /** Running shards per owner. */
  running(): ReadonlyMap<string, number> {
    return this.runningByOwner;
  }

  /**
   * One dispatch pass: matches ready shards to `free` agents by the scheduler's rules, removes the
   * chosen shards from the queue and counts them as running for their owners. `failedOn` gives a
   * shard's agents to avoid (soft). Looks at the heads of the queues only: a pass costs about
   * (assignments × (owners + classes + agents)), whatever the queue's length.
   */
  take<A extends IdleAgent>(
    free: readonly A[],
    failedOn: (key: string) => readonly string[],
    // hook(speed): placement by expected finish time narrows the agents a shard may go to (placement/eft.ts)
    narrow?: Narrowing<A>,
  ): Taken<A>[] {
    const out: Taken<A>[] = [];
    // Ready shards of the jobs this pass skipped: ahead of the later ones in service order.
    let skipped = 0;
    let agents: readonly A[] = free;
    // `priorities` is replaced, never changed in place: a pass may drop a level while it walks them.
    for (const prio of this.priorities) {
      if (agents.length === 0) break;
      const owners = this.levels.get(prio)!;
      // Per owner, how many of its jobs this pass skipped (made on the first skip: most passes skip none).
      let cursor: Map<string, number> | undefined;
      while (agents.length > 0) {
        // The owner with the smallest share whose next job (in age order) might serve a free agent.
        // (forEach rather than for…of over the entries: a pass is made per request, and the entry
        // arrays were most of what dispatch allocated.)
        let best: { owner: string; job: JobQueue } | undefined;
        owners.forEach((list, owner) => {
          const c = cursor?.get(owner) ?? 0;
          while (c < list.length && list[c].readyCount === 0) list.splice(c, 1)[0].listed = false;
          if (c >= list.length) return;
          const job = list[c];
          if (!best) {
            best = { owner, job };
            return;
          }
          const s = compareShares(
            this.runningByOwner.get(owner) ?? 0,
            this.weight(owner),
            this.runningByOwner.get(best.owner) ?? 0,
            this.weight(best.owner),
          );
          if (s < 0 || (s === 0 && jobOrder(job.meta, best.job.meta) < 0)) best = { owner, job };
        });
        if (!best) break;
        const pick = this.pick(best.job, agents, failedOn, narrow, skipped);
        if (!pick) {
          skipped += best.job.readyCount;
          // Nothing of this job fits the free agents: the owner's next job gets its turn.
          cursor ??= new Map();
          cursor.set(best.owner, (cursor.get(best.owner) ?? 0) + 1);
          continue;
        }
        const key = pick.key;
        this.remove(key);
        this.runningStarted(best.owner);
        agents = agents.filter((a) => a !== pick.agent);
        out.push({ key, jobId: best.job.meta.id, index: pick.index, agent: pick.agent });
      }
      // Exhausted jobs leave from the heads of the lists (the ones behind are skipped when reached):
      // a pass costs what it looked at, not the number of listed jobs.
      owners.forEach((list, owner) => {
        let n = 0;
        while (n < list.length && list[n].readyCount === 0) list[n++].listed = false;
        if (n > 0) list.splice(0, n);
        if (list.length === 0) owners.delete(owner);
      });
      if (owners.size === 0) {
        this.levels.delete(prio);
        this.priorities = this.priorities.filter((p) => p !== prio);
      }
    }
    return out;
  }

  /** The lowest-index ready shard of `job` that an eligible free agent fits, with that agent. */
  private pick<A extends IdleAgent>(
    job: JobQueue,
    agents: readonly A[],
    failedOn: (key: string) => readonly string[],
    narrow: Narrowing<A> | undefined,
    skipped: number,
  ): { key: string; index: number; agent: A } | null {
    const blocked = job.meta.blocked;
    const eligible = blocked.length ? agents.filter((a) => !blocked.includes(agentName(a))) : agents;
    if (eligible.length === 0) return null;
    let maxClass = -Infinity;
    for (const a of eligible) maxClass = Math.max(maxClass, a.classGb);
    let index = -1;
    let classGb = 0;
    job.buckets.forEach((b, c) => {
      if (c > maxClass || b.ready.size === 0) return;
      while (b.heap.length > 0 && !b.ready.has(b.heap.peek()!)) b.heap.pop();
      const top = b.heap.peek()!;
      if (index < 0 || top < index) {
        index = top;
        classGb = c;
      }
    });
    if (index < 0) return null;
    const key = `${job.meta.id}.${index}`;
    const shard: QueuedShard = {
      key,
      jobId: job.meta.id,
      index,
      requiredClassGb: classGb,
      priority: job.meta.priority,
      jobCreatedMs: job.meta.createdMs,
      failedOn: failedOn(key),
      model: job.meta.model,
      owner: job.meta.owner,
      blocked,
      jobRank: job.meta.rank ?? 0,
    };
    // Any ready shard of the job may be the one left for last: the others are ahead of it.
    const agent = bestAgentFor(shard, narrow ? narrow(shard, eligible, skipped + job.readyCount - 1) : eligible);
    return agent ? { key, index, agent } : null;
  }

  private ungate(key: string, m: Member, nowMs: number): void {
    if (m.notBeforeMs > nowMs) {
      m.state = 'delayed';
      this.delayed.push({ key, atMs: m.notBeforeMs });
    } else {
      this.makeReady(m);
    }
  }

  private makeReady(m: Member): void {
    const j = m.job;
    m.state = 'ready';
    let b = j.buckets.get(m.classGb);
    if (!b) {
      b = { heap: new TinyQueue<number>(), ready: new Set() };
      j.buckets.set(m.classGb, b);
    }
    if (!b.ready.has(m.index)) {
      b.ready.add(m.index);
      b.heap.push(m.index);
      j.readyCount++;
    }
    if (!j.listed) this.list(j);
  }

  /** Takes a listed job out of its owner's list (it goes back in with `list`). */
  private unlist(j: JobQueue): void {
    const list = this.levels.get(j.meta.priority)?.get(j.meta.owner);
    const at = list ? list.indexOf(j) : -1;
    if (at >= 0) list!.splice(at, 1);
    j.listed = false;
  }

  /** Puts a job in its owner's list at its place in service order (rank, then age). */
  private list(j: JobQueue): void {
    j.listed = true;
    const { priority, owner } = j.meta;
    let owners = this.levels.get(priority);
    if (!owners) {
      owners = new Map();
      this.levels.set(priority, owners);
      this.priorities = [...this.priorities, priority].sort((a, b) => b - a);
    }
    let list = owners.get(owner);
    if (!list) {
      list = [];
      owners.set(owner, list);
    }
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (jobOrder(list[mid].meta, j.meta) < 0) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, j);
  }
}
