/**
 * Frame-batch planning for video jobs (SVD / SVD-XT image-to-video, video upscale).
 *
 * A clip of `totalFrames` frames is split into batches of at most `framesPerBatch` frames; consecutive
 * batches share exactly `overlap` frames, which the assembler cross-fades (see cross-fade.ts).
 *
 * Frame mapping: frame k of batch b (0 ≤ k < b.count) IS clip frame `b.start + k`. Clip frame f is produced
 * by one batch, or, when `batches[b+1].start ≤ f < batches[b].start + batches[b].count`, by batches b and b+1
 * (frame `f − batches[b].start` of b and frame `i = f − batches[b+1].start` of b+1, 0 ≤ i < overlap), blended
 * with weight `(i + 1) / (overlap + 1)` on b+1. Never by three batches: every batch between two others adds at
 * least `overlap` frames of its own.
 */
import { VideoPlanError, requireIntIn } from './errors.js';

/** `keyframed`: batches are independent (each from its own keyframe) and run in parallel. `chained`: batch b
 * is conditioned on a frame of batch b − 1, so it can start only after b − 1 is done (a DAG edge). */
export type BatchMode = 'keyframed' | 'chained';

/**
 * How the frames are spread over the batches (the number of batches is the minimum either way).
 * `even`: batch sizes differ by at most one where possible (earlier batches get the extra frames), which keeps
 * the largest batch — the makespan of a keyframed job — small and never leaves a stub batch at the end.
 * `full`: every batch has `framesPerBatch` frames except the last, for models exported with a fixed frame count
 * (the last batch then has between `overlap + 1` and `framesPerBatch` frames).
 */
export type BatchLayout = 'even' | 'full';

/**
 * One batch of a frame plan: clip frames `[start, start + count)`.
 * Invariants over a plan: `index` is the position in the array; `batches[0].start === 0`; the last batch ends at
 * `totalFrames`; `batches[b+1].start === batches[b].start + batches[b].count − overlap`; every count is in
 * `[overlap + 1, framesPerBatch]` (a single-batch plan: `count === totalFrames`).
 */
export interface FrameBatch {
  index: number;
  /** Clip index of this batch's frame 0. */
  start: number;
  /** Frames this batch generates, including the `overlap` frames shared with each neighbour. */
  count: number;
  /** Chained: `index − 1` (must finish first); keyframed, and batch 0 of a chained plan: `null`. */
  dependsOn: number | null;
  /**
   * Chained: the clip frame whose image conditions this batch, which is `start` — a frame batch `dependsOn`
   * produced (its local frame `start − batches[dependsOn].start`). SVD reproduces the conditioning image as its
   * frame 0, so conditioning on the frame at the batch's own start keeps the overlap aligned in time; with
   * `overlap` 1 this is exactly the previous batch's last frame. `null` where `dependsOn` is null.
   */
  conditionFrame: number | null;
}

/** Input of {@link planFrameBatches}. */
export interface PlanFrameBatchesInput {
  /** Frames in the finished clip, 1 … {@link MAX_TOTAL_FRAMES}. */
  totalFrames: number;
  /** Most frames one batch may generate (25 for SVD-XT, 14 for SVD), ≥ 1. */
  framesPerBatch: number;
  /** Frames shared by consecutive batches, 0 … floor(framesPerBatch / 2). 0 means hard cuts (video upscale). */
  overlap: number;
  mode: BatchMode;
  /** Default `even`. */
  layout?: BatchLayout;
}

/** The most frames one plan may hold (over 11 hours at 25 fps); guards against unit mistakes. */
export const MAX_TOTAL_FRAMES = 1_000_000;

const planError = (field: 'total_frames' | 'frames_per_batch' | 'overlap') => (message: string) =>
  new VideoPlanError(field, message);

/** Validates the input of {@link planFrameBatches}; throws {@link VideoPlanError} naming the field and the limit. */
export function validatePlanFrameBatchesInput(input: PlanFrameBatchesInput): void {
  requireIntIn(planError('total_frames'), 'total_frames', input.totalFrames, 1, MAX_TOTAL_FRAMES);
  requireIntIn(planError('frames_per_batch'), 'frames_per_batch', input.framesPerBatch, 1);
  requireIntIn(planError('overlap'), 'overlap', input.overlap, 0);
  const maxOverlap = Math.floor(input.framesPerBatch / 2);
  if (input.overlap > maxOverlap) {
    throw new VideoPlanError(
      'overlap',
      `overlap ${input.overlap} must be at most frames_per_batch / 2 = ${maxOverlap} ` +
        `(frames_per_batch ${input.framesPerBatch}; a frame may be shared by at most two batches)`,
    );
  }
  if (input.mode !== 'keyframed' && input.mode !== 'chained') {
    throw new VideoPlanError('mode', `mode must be 'keyframed' or 'chained', got ${JSON.stringify(input.mode)}`);
  }
  const layout = input.layout ?? 'even';
  if (layout !== 'even' && layout !== 'full') {
    throw new VideoPlanError('layout', `layout must be 'even' or 'full', got ${JSON.stringify(input.layout)}`);
  }
}

/**
 * Splits `[0, totalFrames)` into the fewest batches of ≤ `framesPerBatch` frames with consecutive batches
 * overlapping by exactly `overlap` frames (see {@link FrameBatch} for the invariants and the module comment for
 * the frame mapping). Deterministic: the same input always gives the same plan.
 */
export function planFrameBatches(input: PlanFrameBatchesInput): FrameBatch[] {
  validatePlanFrameBatchesInput(input);
  const { totalFrames: total, framesPerBatch: perBatch, overlap, mode } = input;
  if (total <= perBatch) return [{ index: 0, start: 0, count: total, dependsOn: null, conditionFrame: null }];
  const owns = ownFrames(total, perBatch, overlap, input.layout ?? 'even');
  const batches: FrameBatch[] = [];
  let start = 0;
  for (let b = 0; b < owns.length; b++) {
    const count = owns[b] + overlap;
    const chained = mode === 'chained' && b > 0;
    batches.push({
      index: b,
      start,
      count,
      dependsOn: chained ? b - 1 : null,
      conditionFrame: chained ? start : null,
    });
    start += count - overlap;
  }
  return batches;
}

/**
 * Frames each batch adds beyond the `overlap` it shares with its predecessor ("own" frames; batch 0's own
 * frames are its first `count − overlap`). They sum to `total − overlap`, are ≤ `perBatch − overlap`, ≥ 1, and
 * ≥ `overlap` for middle batches (so no frame lies in three batches).
 */
function ownFrames(total: number, perBatch: number, overlap: number, layout: BatchLayout): number[] {
  const stride = perBatch - overlap;
  const own = total - overlap;
  const n = Math.ceil(own / stride);
  if (layout === 'full') {
    return Array.from({ length: n }, (_, b) => (b < n - 1 ? stride : own - (n - 1) * stride));
  }
  // Integer water-filling: c_b = clamp(level, lower_b, stride), the level chosen so the sum is `own`; the
  // remainder goes one frame each to the earliest batches sitting at the level.
  const lower = Array.from({ length: n }, (_, b) => (b === 0 || b === n - 1 ? 1 : Math.max(1, overlap)));
  const fill = (level: number) => lower.reduce((s, lo) => s + Math.min(stride, Math.max(lo, level)), 0);
  let lo = 1;
  let hi = stride;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fill(mid) <= own) lo = mid;
    else hi = mid - 1;
  }
  const counts = lower.map((l) => Math.min(stride, Math.max(l, lo)));
  let rest = own - fill(lo);
  for (let b = 0; b < n && rest > 0; b++) {
    if (counts[b] === lo && lo < stride) {
      counts[b]++;
      rest--;
    }
  }
  return counts;
}

/** Clip frame index one past the last frame of `batch`. */
export function batchEnd(batch: FrameBatch): number {
  return batch.start + batch.count;
}

/**
 * Checks that `batches` is a valid plan for a `totalFrames`-frame clip with the given `overlap` (the
 * {@link FrameBatch} invariants, `dependsOn` null or the previous batch). Throws {@link VideoPlanError} with
 * field `batches` naming the first offending batch. Plans from {@link planFrameBatches} always pass.
 */
export function validateFramePlan(batches: readonly FrameBatch[], totalFrames: number, overlap: number): void {
  const fail = (message: string): never => {
    throw new VideoPlanError('batches', message);
  };
  if (batches.length === 0) fail('a frame plan needs at least one batch');
  for (let b = 0; b < batches.length; b++) {
    const x = batches[b];
    if (x.index !== b) fail(`batch at position ${b} has index ${x.index}`);
    if (!Number.isInteger(x.start) || !Number.isInteger(x.count) || x.count < 1) {
      fail(`batch ${b} needs integer start and count ≥ 1, got start ${x.start} count ${x.count}`);
    }
    if (x.dependsOn !== null && x.dependsOn !== b - 1) fail(`batch ${b} may depend only on batch ${b - 1}`);
    const expected = b === 0 ? 0 : batchEnd(batches[b - 1]) - overlap;
    if (x.start !== expected) fail(`batch ${b} must start at frame ${expected} (overlap ${overlap}), got ${x.start}`);
    if (batches.length > 1 && x.count <= overlap) {
      fail(`batch ${b} has ${x.count} frames, it must have more than overlap ${overlap}`);
    }
    if (b >= 2 && x.start < batchEnd(batches[b - 2])) fail(`batch ${b} overlaps batch ${b - 2}`);
  }
  const end = batchEnd(batches[batches.length - 1]);
  if (end !== totalFrames) fail(`the last batch ends at frame ${end}, the clip has ${totalFrames} frames`);
}
