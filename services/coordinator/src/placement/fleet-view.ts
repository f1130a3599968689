/**
 * What placement by expected finish time needs from the coordinator's live state, gathered once per
 * dispatch pass: each fitting agent's speed on a shard's model and when the busy ones free up. Pure
 * over the plain data the coordinator hands in.
 */
import type { HardwareTable } from '@tessera/hardware';
import { AgentState, type ModelSpeed } from '@tessera/protocol';
import { agentName, fits, type IdleAgent, type Narrowing, type QueuedShard } from '../scheduler.js';
import { shouldTake, type FleetAgent } from './eft.js';
import { agentSpeed } from './speeds.js';
import { shardWork } from './cost.js';
import type { JobRecord, ShardRecord } from '../model.js';
import type { AgentEntry } from '../registry.js';

/** A live agent other than the waiting ones: its class, name, advertised speeds and when it frees up. */
export interface BusyAgentView {
  readonly agentId: string;
  readonly name: string;
  readonly classGb: number;
  readonly modelSpeeds: readonly ModelSpeed[];
  /** Seconds until its current shard is expected to end (≥ 0). */
  readonly freeInS: number;
}

/**
 * Seconds a running attempt still needs: expected − elapsed while on time; once late, as long again
 * as it is late (a straggler is assumed to need more, never "about to finish").
 */
export function remainingS(expectedS: number, elapsedS: number): number {
  return elapsedS <= expectedS ? expectedS - elapsedS : elapsedS - expectedS;
}

/**
 * Seconds a running attempt still needs, LATE's estimator: from its reported progress (fraction in
 * (0, 1)) at its own rate, elapsed × (1 − progress) / progress; without progress, {@link remainingS}.
 */
export function estimateRemainingS(expectedS: number, elapsedS: number, progress?: number): number {
  if (progress !== undefined && progress > 0 && progress < 1 && elapsedS > 0)
    return (elapsedS * (1 - progress)) / progress;
  if (progress !== undefined && progress >= 1) return 0;
  return remainingS(expectedS, elapsedS);
}

/**
 * The filter a dispatch pass applies to the agents that fit a shard (queue.take's `narrow`): keeps
 * the waiting agents that {@link shouldTake} it, given every fitting agent, busy or waiting, and the
 * ready shards ahead of it in service order that the busy agents would take first (`ahead`, each
 * counted as this one's size: the index does not know their sizes); `busyAgents` gathers the busy
 * ones (called at most once, on the first shard). `work` gives a shard's model (whose speeds apply)
 * and reference seconds.
 */
export function eftNarrow<A extends IdleAgent>(
  table: HardwareTable,
  speedsOf: (agent: A) => readonly ModelSpeed[] | undefined,
  busyAgents: () => readonly BusyAgentView[],
  work: (shard: QueuedShard) => { model: string; workS: number },
): Narrowing<A> {
  // A pass places many shards of few models on the same agents: each agent's speed on a model is
  // looked up once per pass, and the busy agents are gathered only if the pass places anything.
  const speeds = new Map<string, ReturnType<typeof agentSpeed>>();
  const speedOn = (agentId: string, classGb: number, measured: readonly ModelSpeed[] | undefined, model: string) => {
    const key = `${agentId}\u0000${model}`;
    let s = speeds.get(key);
    if (!s) speeds.set(key, (s = agentSpeed(table, classGb, measured, model)));
    return s;
  };
  let busy: readonly BusyAgentView[] | undefined;
  return (shard, agents, ahead) => {
    busy ??= busyAgents();
    const { model, workS: w } = work(shard);
    const fleet: FleetAgent[] = [];
    const speedOf = new Map<A, number>();
    const waiting = new Set(agents.map((a) => a.agentId));
    const unmeasured = new Set<A>();
    // Only fitting agents that have measured the model compete: a table default is a guess, and an
    // agent that does not fit the shard cannot take it from anyone.
    const competes = (classGb: number, name: string) =>
      fits(classGb, shard.requiredClassGb) && !shard.blocked?.includes(name);
    for (const a of agents) {
      const { speed, source } = speedOn(a.agentId, a.classGb, speedsOf(a), model);
      speedOf.set(a, speed);
      if (source === 'table') unmeasured.add(a);
      else if (competes(a.classGb, agentName(a))) fleet.push({ agentId: a.agentId, speed, freeInS: 0 });
    }
    for (const b of busy) {
      if (waiting.has(b.agentId) || !competes(b.classGb, b.name)) continue;
      const { speed, source } = speedOn(b.agentId, b.classGb, b.modelSpeeds, model);
      if (source === 'measured') fleet.push({ agentId: b.agentId, speed, freeInS: b.freeInS });
    }
    return agents.filter(
      (a) =>
        !shard.blocked?.includes(agentName(a)) &&
        // An agent that has not measured the model yet is never held back: running it is how it measures.
        (unmeasured.has(a) ||
          shouldTake(w, { agentId: a.agentId, speed: speedOf.get(a)! }, fleet, Math.max(0, ahead) * w)),
    );
  };
}

/** The cost of a shard of a job: its model and reference seconds (placement/cost.ts in production). */
export type WorkOf = (job: JobRecord, rec: ShardRecord) => { model: string; workS: number };

/** A leased shard as the coordinator holds it: its job, record, and agent. */
export interface LeasedView {
  readonly job: JobRecord;
  readonly rec: ShardRecord;
}

/**
 * The dispatch filter from the coordinator's state: `agents` are its live registry entries, `held`
 * finds a held shard's job and record. An agent holding a lease frees up when its shard's expected
 * run (cost model ÷ its speed on the model) ends, by {@link remainingS}; one without a lease (between
 * work requests, or being granted one) counts as free now. Draining agents are left out. `work` is
 * the cost model (the simulator hands in its own).
 */
export function coordinatorEftNarrow<A extends IdleAgent & { advert: { modelSpeeds: ModelSpeed[] } }>(
  table: HardwareTable,
  agents: readonly AgentEntry[],
  held: (key: string) => LeasedView | undefined,
  nowMs: number,
  work: WorkOf = (job, rec) => shardWork(table, job, rec),
): Narrowing<A> {
  const busyAgents = () => {
    const busy: BusyAgentView[] = [];
    for (const a of agents) {
      // An agent without a lease is between work requests or being granted one: about to be free.
      if (a.liveness !== 'live' || a.advert.state === AgentState.AGENT_STATE_DRAINING) continue;
      let freeInS = 0;
      for (const k of a.leases) {
        const l = held(k);
        if (!l || l.rec.state !== 'leased') continue;
        const w = work(l.job, l.rec);
        const speed = agentSpeed(table, a.classGb, a.advert.modelSpeeds, w.model).speed;
        freeInS = Math.max(freeInS, remainingS(w.workS / speed, Math.max(0, nowMs - l.rec.leasedMs) / 1000));
      }
      busy.push({
        agentId: a.advert.agentId,
        name: a.advert.name,
        classGb: a.classGb,
        modelSpeeds: a.advert.modelSpeeds,
        freeInS,
      });
    }
    return busy;
  };
  const workOf = (shard: QueuedShard) => {
    const l = held(shard.key);
    return l ? work(l.job, l.rec) : { model: shard.model ?? '', workS: 1 };
  };
  return eftNarrow<A>(table, (a) => a.advert.modelSpeeds, busyAgents, workOf);
}
