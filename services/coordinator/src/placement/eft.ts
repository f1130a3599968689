/**
 * Placement by expected finish time (HEFT's earliest finish, for pull-driven dispatch). Pure.
 *
 * A waiting agent may take a shard only when it would finish it no later than the faster fitting
 * agents would reach it: those agents (busy ones when they free up, waiting ones now) first work
 * through the `queued` shards like it that wait with it, then this one. So a slow agent takes work
 * while the queue is long enough that the fast ones could not finish it sooner, and stops near the
 * end, where a straggler would hold the whole job back. An agent with no faster fitting agent is
 * always eligible, so a shard never waits while its fastest fitting agent idles (work-conserving for
 * the fastest class; the VRAM fit, blocklist and affinity rules apply before and after this filter).
 */

/** A fitting agent other than the candidate, as placement sees it. */
export interface FleetAgent {
  readonly agentId: string;
  /** Speed on the shard's model (work per second relative to the cost table); > 0. */
  readonly speed: number;
  /** Seconds until it is free: 0 when waiting, the expected rest of its current shard when busy. */
  readonly freeInS: number;
}

/** Above this many queued shards the list schedule is replaced by its fluid approximation. */
const EXACT_LIMIT = 256;

/**
 * When the last of `count` shards of `workS` reference seconds each would finish (seconds from now)
 * on `agents` taking them greedily, each on the agent that finishes it first (a list schedule).
 * Infinity when there are no agents.
 */
export function listFinishS(workS: number, count: number, agents: readonly FleetAgent[]): number {
  if (agents.length === 0) return Infinity;
  if (count <= 0) return 0;
  if (count > EXACT_LIMIT) {
    // Fluid approximation: total work plus the busy agents' head start over the total speed.
    let speed = 0;
    let head = 0;
    for (const a of agents) {
      speed += a.speed;
      head += a.freeInS * a.speed;
    }
    return (count * workS + head) / speed;
  }
  const free = agents.map((a) => a.freeInS);
  let last = 0;
  for (let n = 0; n < count; n++) {
    let best = 0;
    let bestEnd = Infinity;
    for (let i = 0; i < agents.length; i++) {
      const end = free[i] + workS / agents[i].speed;
      if (end < bestEnd) {
        bestEnd = end;
        best = i;
      }
    }
    free[best] = bestEnd;
    last = bestEnd;
  }
  return last;
}

/**
 * True when `candidate` should take a shard of `workS` reference seconds now: no fitting agent is
 * faster, or its own finish (workS / speed) is no later than the faster fitting agents' finish of
 * the `queued` shards (this one included, each assumed as big) scheduled on them alone.
 * `fleet` holds every fitting agent (busy or waiting), the candidate may be among them.
 */
export function shouldTake(
  workS: number,
  candidate: { agentId: string; speed: number },
  fleet: readonly FleetAgent[],
  queued: number,
): boolean {
  const faster = fleet.filter((a) => a.agentId !== candidate.agentId && a.speed > candidate.speed);
  if (faster.length === 0) return true;
  return workS / candidate.speed <= listFinishS(workS, Math.max(1, queued), faster);
}

/** A shard in a job's dependency graph, for upward rank. */
export interface RankNode {
  /** Reference seconds at speed 1. */
  readonly workS: number;
  /** Indices of the shards that wait for this one. */
  readonly dependents: readonly number[];
}

/**
 * HEFT upward rank of every node: its own time on the fastest agent plus the largest rank among
 * its dependents, i.e. the remaining critical path from it to the end of its job. Nodes must form
 * a DAG (dependents only later in dependency order); computed bottom-up with memoisation.
 */
export function upwardRanks(nodes: readonly RankNode[], fastestSpeed: number): number[] {
  const rank = new Array<number>(nodes.length).fill(-1);
  const visit = (i: number): number => {
    if (rank[i] >= 0) return rank[i];
    let tail = 0;
    for (const d of nodes[i].dependents) tail = Math.max(tail, visit(d));
    rank[i] = nodes[i].workS / fastestSpeed + tail;
    return rank[i];
  };
  for (let i = 0; i < nodes.length; i++) visit(i);
  return rank;
}
