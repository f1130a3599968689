/**
 * Cross-fade over the frames two consecutive batches share, and the resulting frame → source mapping.
 */
import { VideoPlanError, requireIntIn } from './errors.js';
import { batchEnd, type FrameBatch } from './plan.js';

/**
 * Weights of the LATER batch over the `overlap` shared frames: `w[i] = (i + 1) / (overlap + 1)`, strictly
 * increasing, each in (0, 1); the earlier batch gets `1 − w[i]`, so the two weights of every frame sum to 1 and
 * neither batch's contribution ever jumps to or from 0 inside the overlap (frame i = 0 already has a little of the
 * later batch, the last shared frame still a little of the earlier one). `overlap` 0 gives `[]` (a hard cut).
 */
export function crossFadeWeights(overlap: number): number[] {
  requireIntIn((m) => new VideoPlanError('overlap', m), 'overlap', overlap, 0);
  return Array.from({ length: overlap }, (_, i) => (i + 1) / (overlap + 1));
}

/** One batch's share of a clip frame: its local `frame` index and blend `weight` (> 0). */
export interface FrameSource {
  batch: number;
  frame: number;
  weight: number;
}

/**
 * Where clip frame `f` comes from under a valid plan (see `validateFramePlan`): one source with weight 1, or,
 * inside an overlap, the earlier batch with `1 − w[i]` then the later batch with `w[i]` of
 * {@link crossFadeWeights}. The weights sum to 1, so every clip frame is produced exactly once — none dropped,
 * none duplicated. Throws {@link VideoPlanError} (field `total_frames`) when `f` is outside the plan.
 */
export function frameSources(batches: readonly FrameBatch[], overlap: number, f: number): FrameSource[] {
  const end = batches.length === 0 ? 0 : batchEnd(batches[batches.length - 1]);
  if (!Number.isInteger(f) || f < 0 || f >= end) {
    throw new VideoPlanError('total_frames', `frame ${f} is outside the clip [0, ${end})`);
  }
  // The first batch whose end is past f (batch ends increase with the index).
  let lo = 0;
  let hi = batches.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (batchEnd(batches[mid]) > f) hi = mid;
    else lo = mid + 1;
  }
  const a = batches[lo];
  const next = batches[lo + 1];
  if (next === undefined || f < next.start) return [{ batch: lo, frame: f - a.start, weight: 1 }];
  const i = f - next.start;
  const w = (i + 1) / (overlap + 1);
  return [
    { batch: lo, frame: f - a.start, weight: 1 - w },
    { batch: lo + 1, frame: i, weight: w },
  ];
}
