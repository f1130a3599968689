/** hook(speed): placement by expected finish time, wired for the farm core (placement/fleet-view.ts). */
import type { FarmState, Narrow } from '../core/farm.js';
import type { SpeculationView } from '../core/speculation.js';
import { speculationView } from '../placement/backups.js';
import { coordinatorEftNarrow } from '../placement/fleet-view.js';
import type { CoordinatorDeps } from './deps.js';
import type { Parked } from './dispatch.js';

/**
 * A slow agent gets a shard only if it finishes before a faster fitting one could. The dispatch pass
 * gives the narrowing the parked agents it was given, so typing it over Parked is sound.
 */
export function eftPlacement(d: Pick<CoordinatorDeps, 'table'>, farm: FarmState): (nowMs: number) => Narrow {
  return (nowMs) =>
    coordinatorEftNarrow<Parked>(
      d.table,
      farm.registry.all(),
      (k) => farm.shardAndJob(k),
      nowMs,
      farm.queue.size,
    ) as unknown as Narrow;
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
