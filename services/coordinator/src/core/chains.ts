/**
 * hook(speed): the remaining critical path of jobs whose shards form chains (chained video batches,
 * image stages), HEFT's upward rank. A shard's upward rank is its reference seconds plus the largest
 * upward rank among the shards that wait for it; a job's rank is the largest over its unfinished
 * shards, i.e. how long the rest of the job takes at best. The queue serves an owner's jobs with
 * chains by it, longest first (queue.ts): a link that waits delays every link after it, while a
 * tile that waits delays nothing behind it.
 *
 * Jobs without chains rank 0 (the queue keeps them in submission order). Pure: the reference seconds
 * of a shard come from the shell's cost model (placement/cost.ts).
 */
import type { JobRecord, ShardRecord } from '../model.js';

/** Reference seconds (speed 1.0) of one shard of a job. */
export type ShardWorkS = (job: JobRecord, shard: ShardRecord) => number;

/** A job's upward ranks, its shard indices by rank (highest first), and the first not yet committed. */
interface Graph {
  up: Float64Array;
  order: number[];
  at: number;
}

export class ChainRanks {
  /** Each job seen whole (the graph never changes); null: no chains. */
  private readonly graphs = new Map<string, Graph | null>();
  /** The rank each job was last given. */
  private readonly last = new Map<string, number>();

  constructor(private readonly workS: ShardWorkS = () => 1) {}

  /** The rank a job was last given (0 when never ranked). */
  current(jobId: string): number {
    return this.last.get(jobId) ?? 0;
  }

  /**
   * Ranks `job` from its shard records now (`shardOf(i)`, undefined while not yet written). Until the
   * last shard is written, the graph is not known whole and the rank stays what it was.
   */
  rank(job: JobRecord, shardOf: (i: number) => ShardRecord | undefined): number {
    let g = this.graphs.get(job.id);
    if (g === undefined) {
      if (!shardOf(job.shardsTotal - 1)) return this.current(job.id);
      const up = this.build(job, shardOf);
      g = up && { up, order: [...up.keys()].sort((a, b) => up[b] - up[a] || a - b), at: 0 };
      this.graphs.set(job.id, g);
    }
    if (!g) return 0;
    // A committed shard stays committed: the rank only falls, and the walk down the order is paid once.
    while (g.at < g.order.length && shardOf(g.order[g.at])?.state === 'done') g.at++;
    const r = g.at < g.order.length ? g.up[g.order[g.at]] : 0;
    this.last.set(job.id, r);
    return r;
  }

  /** Forgets a job (it ended). */
  forget(jobId: string): void {
    this.graphs.delete(jobId);
    this.last.delete(jobId);
  }

  /** Upward ranks of a job's shards, or null when none depends on another. */
  private build(job: JobRecord, shardOf: (i: number) => ShardRecord | undefined): Float64Array | null {
    const n = job.shardsTotal;
    const waiting: number[][] = [];
    let chained = false;
    for (let i = 0; i < n; i++) {
      const d = shardOf(i)?.dependsOn ?? -1;
      if (d < 0 || d >= n) continue;
      (waiting[d] ??= []).push(i);
      chained = true;
    }
    if (!chained) return null;
    const up = new Float64Array(n).fill(-1);
    // Iterative post-order (a chain may be thousands of links long: no recursion).
    for (let root = 0; root < n; root++) {
      if (up[root] >= 0) continue;
      const stack = [root];
      while (stack.length > 0) {
        const i = stack[stack.length - 1];
        const next = (waiting[i] ?? []).find((c) => up[c] < 0 && !stack.includes(c));
        if (next !== undefined) {
          stack.push(next);
          continue;
        }
        stack.pop();
        let tail = 0;
        for (const c of waiting[i] ?? []) tail = Math.max(tail, up[c]);
        const s = shardOf(i);
        up[i] = (s ? this.workS(job, s) : 0) + tail;
      }
    }
    return up;
  }
}
