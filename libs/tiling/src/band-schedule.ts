import type { TilePlan } from './plan.js';
import { axisSupport, validateBlend } from './weights.js';

/** Output rows [y0, y1) whose pixels all draw on exactly the tile rows `rows` (ascending). */
export interface BandSegment {
  y0: number;
  y1: number;
  rows: number[];
}

/**
 * Splits the output height into segments over which the set of contributing tile rows (weight > 0) is
 * constant. Segments are contiguous, top to bottom, and cover [0, height × scale). Pure.
 */
export function bandSchedule(plan: TilePlan, scale: number, margin: number): BandSegment[] {
  validateBlend(plan, scale, margin);
  const supports = Array.from({ length: plan.rows }, (_, r) => axisSupport(plan, 'y', r, scale, margin));
  const cuts = new Set<number>([0, plan.height * scale]);
  for (const [lo, hi] of supports) cuts.add(lo).add(hi);
  const ys = [...cuts].sort((a, b) => a - b);
  const segments: BandSegment[] = [];
  for (let i = 0; i + 1 < ys.length; i++) {
    const y0 = ys[i];
    const rows: number[] = [];
    supports.forEach(([lo, hi], r) => {
      if (lo <= y0 && y0 < hi) rows.push(r);
    });
    segments.push({ y0, y1: ys[i + 1], rows });
  }
  return segments;
}

/** For each tile row, the index of the last segment that needs it (after which its tiles can be freed). */
export function lastSegmentOfRow(plan: TilePlan, segments: BandSegment[]): number[] {
  const last = new Array<number>(plan.rows).fill(-1);
  segments.forEach((seg, s) => {
    for (const r of seg.rows) last[r] = s;
  });
  return last;
}
