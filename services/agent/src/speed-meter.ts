/**
 * Throughput per model, smoothed: each committed shard's work units (the coordinator's cost model puts
 * them in the task) over its engine run time, folded into an exponentially weighted moving average.
 * Pure; the slot feeds it and the advert reads it.
 */
import type { ModelSpeed } from '@tessera/protocol';

/** Weight of the newest sample in the average. */
export const SPEED_EWMA_ALPHA = 0.3;

export class SpeedMeter {
  private readonly byModel = new Map<string, { unitsPerSecond: number; samples: number }>();

  constructor(private readonly alpha = SPEED_EWMA_ALPHA) {}

  /**
   * Records one run of `units` work units of `model` in `seconds`. Ignored when either is not a
   * positive finite number (a task without a cost, a run too short to time). Returns the new estimate.
   */
  record(model: string, units: number, seconds: number): number | undefined {
    if (!(units > 0) || !(seconds > 0) || !Number.isFinite(units) || !Number.isFinite(seconds)) {
      return this.byModel.get(model)?.unitsPerSecond;
    }
    const sample = units / seconds;
    const cur = this.byModel.get(model);
    const next = cur
      ? { unitsPerSecond: cur.unitsPerSecond + this.alpha * (sample - cur.unitsPerSecond), samples: cur.samples + 1 }
      : { unitsPerSecond: sample, samples: 1 };
    this.byModel.set(model, next);
    return next.unitsPerSecond;
  }

  /** The estimates, for the advert (model order: first measured first). */
  speeds(): ModelSpeed[] {
    return [...this.byModel].map(([model, s]) => ({ model, unitsPerSecond: s.unitsPerSecond, samples: s.samples }));
  }
}
