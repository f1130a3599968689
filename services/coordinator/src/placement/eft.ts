/**
 * Placement by expected finish time (HEFT's earliest finish, for pull-driven dispatch). Pure.
 *
 * A waiting agent may take a shard only when it would finish it no later than the faster fitting
 * agents would: those agents (busy ones when they free up, waiting ones now) first work through the
 * queued work ahead of it, then run this one. So a slow agent takes work
 * while the queue is long enough that the fast ones could not finish it sooner, and stops near the
 * end, where a straggler would hold the whole job back. An agent with no faster fitting agent is
 * always eligible, so a shard never waits while its fastest fitting agent idles (work-conserving for
 * the fastest class; the VRAM fit, blocklist and affinity rules apply before and after this filter).
 * HEFT's other half, the upward rank of chains, orders the queue (core/chains.ts).
 */

/** A fitting agent other than the candidate, as placement sees it. */
export interface FleetAgent {
  readonly agentId: string;
  /** Speed on the shard's model (work per second relative to the cost table); > 0. */
  readonly speed: number;
  /** Seconds until it is free: 0 when waiting, the expected rest of its current shard when busy. */
  readonly freeInS: number;
}

/**
 * When `agents` working together would have done `aheadWorkS` reference seconds of work, each
 * starting when it frees up (seconds from now): the T with Σ speed × max(0, T − freeInS) = aheadWorkS
 * (water-filling). 0 when there is no work ahead; Infinity when there are no agents.
 */
export function aheadDoneS(aheadWorkS: number, agents: readonly FleetAgent[]): number {
  if (agents.length === 0) return Infinity;
  if (aheadWorkS <= 0) return 0;
  const sorted = [...agents].sort((a, b) => a.freeInS - b.freeInS);
  let speed = 0;
  let left = aheadWorkS;
  for (let i = 0; i < sorted.length; i++) {
    speed += sorted[i].speed;
    const next = i + 1 < sorted.length ? sorted[i + 1].freeInS : Infinity;
    const span = (next - sorted[i].freeInS) * speed;
    if (span >= left) return sorted[i].freeInS + left / speed;
    left -= span;
  }
  return Infinity;
}

/**
 * When the faster agents would finish a shard of `workS` after the work ahead of it: the earliest
 * over them of max(its free time, when the work ahead is done) + workS / its speed.
 */
export function fasterFinishS(workS: number, aheadWorkS: number, agents: readonly FleetAgent[]): number {
  const ahead = aheadDoneS(aheadWorkS, agents);
  let best = Infinity;
  for (const a of agents) best = Math.min(best, Math.max(a.freeInS, ahead) + workS / a.speed);
  return best;
}

/**
 * True when `candidate` should take a shard of `workS` reference seconds now: no fitting agent is
 * faster by more than `slack`, or its own finish (workS / speed) is no later than when the faster
 * fitting agents would finish it after `aheadWorkS` reference seconds of queued work that they would
 * take first. (The slack absorbs noisy speed measurements when telling faster agents from equal
 * ones; the finish times themselves are compared as they are: a looser comparison let slow agents
 * take the last shards of a queue and end after the fast ones, 6 % over the plan scenarios' lower
 * bound instead of 2.8 %.)
 * `fleet` holds every fitting agent (busy or waiting); the candidate may be among them.
 */
export function shouldTake(
  workS: number,
  candidate: { agentId: string; speed: number },
  fleet: readonly FleetAgent[],
  aheadWorkS: number,
  slack = SPEED_SLACK,
): boolean {
  const faster = fleet.filter((a) => a.agentId !== candidate.agentId && a.speed > candidate.speed * (1 + slack));
  if (faster.length === 0) return true;
  return workS / candidate.speed <= fasterFinishS(workS, aheadWorkS, faster);
}

/**
 * Agents within this fraction of each other's speed count as equally fast (measurements are noisy),
 * so among them the VRAM best-fit and affinity rules decide, as before.
 */
export const SPEED_SLACK = 0.25;
