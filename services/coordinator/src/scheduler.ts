/**
 * Placement: which waiting agent gets which queued shard. Pure functions over plain data.
 *
 * Rules (DESIGN §4, §6):
 * - a shard may run only on an agent whose VRAM class ≥ the shard's required class;
 * - among fitting idle agents, the smallest class wins (keeps big GPUs free for big shards),
 *   then the one that has waited longest;
 * - work-conserving: a shard is never left queued while a fitting agent waits idle;
 * - shards are served by job priority (high first); priority always dominates;
 * - among jobs of the same priority, weighted fair share between owners: the owner with the fewest
 *   running shards per unit weight goes next (running = leased or being granted, counted across
 *   priorities); on equal shares, then within one owner, a job whose shards form chains (chained
 *   video, image stages) by its remaining critical path (HEFT's upward rank: a link delayed delays
 *   the rest of its chain), longest first, ahead of jobs without chains; then the older job first,
 *   then shard index;
 * - an agent on a job's blocklist (it failed that job's shards too often) gets no shard of the job;
 * - an agent that already failed a shard is not given that shard again while others can run it;
 * - among agents of the same class, one that has the shard's model loaded wins (model affinity:
 *   no load time, no second copy of the weights in VRAM);
 * - an agent holding the shard's model on disk beats one that would fetch it, whatever their classes,
 *   and an agent whose model cache cannot hold the model never gets the shard (model-routing.ts).
 */

/** An agent slot waiting for work. */
export interface IdleAgent {
  readonly agentId: string;
  readonly classGb: number;
  /** Monotonic arrival order of its work request (smaller = waited longer). */
  readonly waitingSince: number;
  /** Models its engine has loaded (ids or model directories). */
  readonly modelsLoaded?: readonly string[];
  /** Its name, what job blocklists hold (default: the agent id). */
  readonly name?: string;
  /**
   * hook(models): how well it suits a model (model-routing.ts modelRank): 0 holds it, 1 can fetch it,
   * null cannot hold it (never given the shard). Default 0 for every model.
   */
  readonly modelRank?: (model: string | undefined) => number | null;
}

/** A queued shard as the scheduler sees it. */
export interface QueuedShard {
  readonly key: string;
  readonly jobId: string;
  readonly index: number;
  readonly requiredClassGb: number;
  readonly priority: number;
  readonly jobCreatedMs: number;
  /** Agents that failed this shard before. */
  readonly failedOn: readonly string[];
  /** Model the shard runs (for affinity). */
  readonly model?: string;
  /** Owner of the job ('' = anonymous), for fair share. */
  readonly owner?: string;
  /** Agent names on the job's blocklist: they never get this shard. */
  readonly blocked?: readonly string[];
  /** Its job's remaining critical path (reference seconds) when the job has chains; 0 otherwise. */
  readonly jobRank?: number;
}

/**
 * hook(speed): the agents of `agents` a shard may go to (placement by expected finish time,
 * placement/fleet-view.ts); `ahead` counts the ready shards ahead of it in service order that the
 * dispatch pass leaves for the agents that are busy now.
 */
export type Narrowing<A extends IdleAgent> = (shard: QueuedShard, agents: readonly A[], ahead: number) => readonly A[];

/** What fair share between owners needs: their running shards now and their weights. */
export interface FairShare {
  /** Shards running (leased or being granted) per owner. */
  readonly running: ReadonlyMap<string, number>;
  /** Weight of an owner (> 0; 1 when not configured). */
  readonly weight: (owner: string) => number;
}

/** The name a blocklist matches for an agent. */
export function agentName(agent: IdleAgent): string {
  return agent.name ?? agent.agentId;
}

/**
 * Compares two owners' shares, running/weight, without division: < 0 when `a` has the smaller
 * share (goes first).
 */
export function compareShares(aRunning: number, aWeight: number, bRunning: number, bWeight: number): number {
  return aRunning * bWeight - bRunning * aWeight;
}

/** True when `agent` has `model` loaded (by id, or as the last part of a model directory). */
export function hasModelLoaded(agent: IdleAgent, model: string | undefined): boolean {
  if (!model || !agent.modelsLoaded) return false;
  return agent.modelsLoaded.some((m) => m === model || m.endsWith(`/${model}`));
}

/** One placement decision. */
export interface Assignment<S extends QueuedShard = QueuedShard, A extends IdleAgent = IdleAgent> {
  readonly shard: S;
  readonly agent: A;
}

/** True when an agent of class `agentClassGb` may run a shard requiring `requiredClassGb`. */
export function fits(agentClassGb: number, requiredClassGb: number): boolean {
  return agentClassGb >= requiredClassGb;
}

/** Service order of queued shards: priority desc, job rank desc, job age asc, job id, shard index asc. */
export function compareShards(a: QueuedShard, b: QueuedShard): number {
  return (
    b.priority - a.priority ||
    (b.jobRank ?? 0) - (a.jobRank ?? 0) ||
    a.jobCreatedMs - b.jobCreatedMs ||
    (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0) ||
    a.index - b.index
  );
}

/**
 * The best idle agent for a shard, or null when none fits ("no agent" is a value).
 * Agents on the job's blocklist never get it; agents in `failedOn` are skipped unless they are the
 * only fitting ones.
 */
export function bestAgentFor<A extends IdleAgent>(shard: QueuedShard, idle: readonly A[]): A | null {
  let best: A | null = null;
  let bestRank: number[] = [];
  for (const agent of idle) {
    if (!fits(agent.classGb, shard.requiredClassGb)) continue;
    if (shard.blocked?.includes(agentName(agent))) continue;
    if (agent.modelRank?.(shard.model) === null) continue; // hook(models): its cache cannot hold the model
    const r = rankFor(shard, agent);
    if (best === null || lexLess(r, bestRank)) {
      best = agent;
      bestRank = r;
    }
  }
  return best;
}

/**
 * An agent's rank for a shard, compared lexicographically (lower is better): not avoided, holds the
 * model (hook(models)), smallest class, model loaded, waited longest. A module function rather than
 * a closure per call: dispatch calls this once per free agent per decision.
 */
function rankFor(shard: QueuedShard, a: IdleAgent): number[] {
  return [
    shard.failedOn.includes(a.agentId) ? 1 : 0,
    a.modelRank?.(shard.model) ?? 0,
    a.classGb,
    hasModelLoaded(a, shard.model) ? 0 : 1,
    a.waitingSince,
  ];
}

function lexLess(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}

/**
 * Matches queued shards to idle agents, the rules above spelled out plainly: each turn, of the
 * shards some free agent can take, the first in service order (priority, owner share, job rank,
 * job age, job id, index) goes to its best agent. Each agent gets at most one shard. Returns the assignments in
 * decision order; shards and agents left over stay waiting.
 *
 * This is the reference definition, quadratic in the queue: the coordinator dispatches from the
 * index in queue.ts, which makes the same decisions while looking only at the heads of its queues
 * (scheduler.test.ts checks the two agree).
 */
export function assign<S extends QueuedShard, A extends IdleAgent>(
  queued: readonly S[],
  idle: readonly A[],
  fair?: FairShare,
): Assignment<S, A>[] {
  const out: Assignment<S, A>[] = [];
  if (idle.length === 0 || queued.length === 0) return out;
  const free = [...idle];
  const left = [...queued].sort(compareShards);
  const running = new Map(fair?.running ?? []);
  const weight = fair?.weight ?? (() => 1);
  const before = (a: S, b: S): boolean => {
    if (a.priority !== b.priority) return a.priority > b.priority;
    const oa = a.owner ?? '';
    const ob = b.owner ?? '';
    if (oa !== ob) {
      const c = compareShares(running.get(oa) ?? 0, weight(oa), running.get(ob) ?? 0, weight(ob));
      if (c !== 0) return c < 0;
    }
    return compareShards(a, b) < 0;
  };
  while (free.length > 0 && left.length > 0) {
    let best = -1;
    let bestAgent: A | null = null;
    for (let i = 0; i < left.length; i++) {
      if (best >= 0 && !before(left[i], left[best])) continue;
      const agent = bestAgentFor(left[i], free);
      if (!agent) continue;
      best = i;
      bestAgent = agent;
    }
    if (!bestAgent) break;
    const [shard] = left.splice(best, 1);
    out.push({ shard, agent: bestAgent });
    free.splice(free.indexOf(bestAgent), 1);
    const owner = shard.owner ?? '';
    running.set(owner, (running.get(owner) ?? 0) + 1);
  }
  return out;
}

/**
 * Why a job's queued shards cannot run, in words, or '' when some live agent fits.
 * `liveClassesGb` are the classes of all live agents (busy or idle).
 */
export function waitingReason(
  requiredClassGb: number,
  liveClassesGb: readonly number[],
  label: (gb: number) => string,
): string {
  if (liveClassesGb.some((c) => fits(c, requiredClassGb))) return '';
  const fleet = [...new Set(liveClassesGb)].sort((a, b) => a - b).map(label);
  return `no agent of VRAM class ${label(requiredClassGb)} or larger is connected (fleet: ${fleet.length ? fleet.join(', ') : 'none'})`;
}
