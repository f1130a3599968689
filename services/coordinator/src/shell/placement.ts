/** hook(speed): placement by expected finish time, wired for the farm core (placement/fleet-view.ts). */
import { vramClassOf } from '@tessera/hardware';
import { FarmState, type Narrow } from '../core/farm.js';
import type { SpeculationView } from '../core/speculation.js';
import { speculationView } from '../placement/backups.js';
import { shardWork } from '../placement/cost.js';
import { coordinatorEftNarrow } from '../placement/fleet-view.js';
import type { CoordinatorDeps } from './deps.js';
import type { Parked } from './dispatch.js';

/**
 * The coordinator's farm state: agents classed by the hardware table, owners weighted for fair
 * share, and jobs with chains ranked by their remaining critical path in the table's cost model.
 */
export function farmState(d: Pick<CoordinatorDeps, 'table' | 'options'>): FarmState {
  const o = d.options;
  return new FarmState(
    (a) => vramClassOf(d.table, a.vramUsableGb),
    o.maxAgents,
    (u) => o.userWeights.get(u) ?? 1,
    (job, s) => shardWork(d.table, job, s).workS,
  );
}

/**
 * A slow agent gets a shard only if it finishes before a faster fitting one could. The dispatch pass
 * gives the narrowing the parked agents it was given, so typing it over Parked is sound.
 */
export function eftPlacement(d: Pick<CoordinatorDeps, 'table'>, farm: FarmState): (nowMs: number) => Narrow {
  return (nowMs) =>
    coordinatorEftNarrow<Parked>(d.table, farm.registry.all(), (k) => farm.shardAndJob(k), nowMs) as unknown as Narrow;
}

/** Speculative backups of stragglers: the estimates of a dispatch pass (placement/backups.ts). */
export function backupView(d: Pick<CoordinatorDeps, 'table'>, farm: FarmState): (nowMs: number) => SpeculationView {
  const src = {
    agent: (id: string) => farm.registry.get(id),
    agents: () => farm.registry.all(),
    progressOf: (k: string, token: number) => farm.progressOf(k, token),
    jobShards: (jobId: string) => farm.jobShards(jobId),
  };
  return (nowMs) => speculationView(d.table, src, nowMs);
}
