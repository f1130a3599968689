/** hook(speed): placement by expected finish time, wired for the farm core (placement/fleet-view.ts). */
import type { FarmState, Narrow } from '../core/farm.js';
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
