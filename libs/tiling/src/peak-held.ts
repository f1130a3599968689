/** Peak memory of a BandAssembler, predicted from tile sizes alone (same schedule, freeing and trimming). */
import { bandSchedule, lastSegmentOfRow } from './band-schedule.js';
import { compileBlendOptions, tileOutputBytes, trimRows, type BlendOptions } from './blend-options.js';
import type { TilePlan } from './plan.js';

/**
 * Peak tile bytes a {@link BandAssembler} holds when tiles arrive in `order` (default row-major), computed
 * from sizes alone with the same schedule and freeing rule — for sizing gigapixel jobs without the data.
 */
export function peakHeldBytes(plan: TilePlan, opts: BlendOptions, order?: readonly number[]): number {
  const c = compileBlendOptions(plan, opts);
  const segments = bandSchedule(plan, c.scale, c.margin);
  const lastSeg = lastSegmentOfRow(plan, segments);
  const arrived = new Array<number>(plan.rows).fill(0);
  const rowBytes = new Array<number>(plan.rows).fill(0);
  // Per tile row: output rows it spans [top, bottom), rows trimmed, bytes per output row of the whole row.
  const top = Array.from({ length: plan.rows }, (_, r) => plan.tiles[r * plan.cols].input.y * c.scale);
  const tileRows = Array.from({ length: plan.rows }, (_, r) => plan.tiles[r * plan.cols].input.height * c.scale);
  const trimmed = new Array<number>(plan.rows).fill(0);
  let seg = 0;
  let held = 0;
  let peak = 0;
  for (const i of order ?? plan.tiles.map((t) => t.index)) {
    const bytes = tileOutputBytes(plan, i, c.scale, c.channels);
    const r = plan.tiles[i].row;
    arrived[r]++;
    rowBytes[r] += bytes / tileRows[r];
    held += bytes;
    peak = Math.max(peak, held);
    while (seg < segments.length && segments[seg].rows.every((q) => arrived[q] === plan.cols)) {
      const next = segments[seg + 1]?.y0 ?? plan.height * c.scale;
      for (const q of segments[seg].rows) {
        if (lastSeg[q] === seg) {
          held -= rowBytes[q] * (tileRows[q] - trimmed[q]);
        } else {
          const drop = trimRows(top[q] + trimmed[q], top[q] + tileRows[q], next);
          held -= rowBytes[q] * drop;
          trimmed[q] += drop;
        }
      }
      seg++;
    }
  }
  return peak;
}
