/**
 * Placement: which waiting agent gets which queued shard. Pure functions over plain data.
 *
 * Rules (DESIGN §4, §6):
 * - a shard may run only on an agent whose VRAM class ≥ the shard's required class;
 * - among fitting idle agents, the smallest class wins (keeps big GPUs free for big shards),
 *   then the one that has waited longest;
 * - work-conserving: a shard is never left queued while a fitting agent waits idle;
 * - shards are served by job priority (high first), then job age, then shard index;
 * - an agent that already failed a shard is not given that shard again while others can run it;
 * - among agents of the same class, one that has the shard's model loaded wins (model affinity:
 *   no load time, no second copy of the weights in VRAM).
 */

/** An agent slot waiting for work. */
export interface IdleAgent {
  readonly agentId: string;
  readonly classGb: number;
  /** Monotonic arrival order of its work request (smaller = waited longer). */
  readonly waitingSince: number;
  /** Models its engine has loaded (ids or model directories). */
  readonly modelsLoaded?: readonly string[];
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

/** Service order of queued shards: priority desc, job age asc, job id, shard index asc. */
export function compareShards(a: QueuedShard, b: QueuedShard): number {
  return (
    b.priority - a.priority ||
    a.jobCreatedMs - b.jobCreatedMs ||
    (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0) ||
    a.index - b.index
  );
}

/**
 * The best idle agent for a shard, or null when none fits ("no agent" is a value).
 * Agents in `failedOn` are skipped unless they are the only fitting ones.
 */
export function bestAgentFor<A extends IdleAgent>(shard: QueuedShard, idle: readonly A[]): A | null {
  // Lexicographic rank: not avoided, smallest class, model loaded, waited longest.
  const rank = (a: A): number[] => [
    shard.failedOn.includes(a.agentId) ? 1 : 0,
    a.classGb,
    hasModelLoaded(a, shard.model) ? 0 : 1,
    a.waitingSince,
  ];
  let best: A | null = null;
  let bestRank: number[] = [];
  for (const agent of idle) {
    if (!fits(agent.classGb, shard.requiredClassGb)) continue;
    const r = rank(agent);
    if (best === null || lexLess(r, bestRank)) {
      best = agent;
      bestRank = r;
    }
  }
  return best;
}

function lexLess(a: number[], b: number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] < b[i];
  return false;
}

/**
 * Matches queued shards (in service order) to idle agents. Each agent gets at most one shard.
 * Returns the assignments in decision order; shards and agents left over stay waiting.
 */
export function assign<S extends QueuedShard, A extends IdleAgent>(
  queued: readonly S[],
  idle: readonly A[],
): Assignment<S, A>[] {
  const out: Assignment<S, A>[] = [];
  if (idle.length === 0 || queued.length === 0) return out;
  const free = [...idle];
  const ordered = [...queued].sort(compareShards);
  for (const shard of ordered) {
    if (free.length === 0) break;
    const agent = bestAgentFor(shard, free);
    if (!agent) continue;
    out.push({ shard, agent });
    free.splice(free.indexOf(agent), 1);
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
