/**
 * Blend weights for tiled model outputs.
 *
 * A tile's output covers its `input` rect scaled by an integer `scale`. It is trustworthy only `margin`
 * input pixels (the model's receptive-field radius) away from every side of `input` that is not on the
 * image border. Let h = overlap − margin. Across each internal core boundary b, the two neighbours
 * cross-fade linearly over the band [b − h, b + h] (input px; ×scale in output px); elsewhere a pixel
 * comes only from the tile whose core owns it. With h = 0 the seam is hard.
 *
 * Construction (per axis): ramp_b(u) rises 0 → 1 across the band of boundary b; cell k between
 * boundaries b_k and b_{k+1} gets w_k = ramp_{b_k} − ramp_{b_{k+1}} (ramp ≡ 1 left of the image, ≡ 0
 * right of it). The sum telescopes to exactly 1, every w_k ≥ 0 because the ramps are shifted copies,
 * and w_k > 0 only inside (b_k − h, b_{k+1} + h) ⊆ the cell's trustworthy span. This holds even when
 * bands overlap (tile < 2h) or reach past a narrow edge cell. The 2-D weight is wx(x) · wy(y).
 *
 * Pixels are sampled at their centres: output pixel o is at input coordinate u = (o + ½) / scale.
 * All comparisons are done in output pixels × 2 so they are exact integers.
 */
import { TilingError, requireInt } from './errors.js';
import type { Rect, TilePlan, TileSpec } from './plan.js';

/** Which grid axis: 'x' indexes columns, 'y' indexes rows. */
export type Axis = 'x' | 'y';

/** Weights of one grid cell along one axis, over that cell's whole output span. */
export interface AxisWeights {
  /** First output pixel of the span (= input start × scale). */
  offset: number;
  /** weights[i] is the weight of output pixel offset + i; each is in [0, 1]. */
  weights: Float64Array;
  /** Output pixels [lo, hi) where the weight is > 0 (absolute coordinates). */
  lo: number;
  hi: number;
  /** Output pixels [fullLo, fullHi) where the weight is exactly 1 (every other cell's is 0); may be empty. */
  fullLo: number;
  fullHi: number;
}

/** Validates `scale` (integer ≥ 1) and `margin` (integer in [0, overlap]); throws {@link TilingError}. */
export function validateBlend(plan: TilePlan, scale: number, margin: number): void {
  requireInt('scale', scale, 1);
  requireInt('margin', margin, 0);
  if (margin > plan.overlap) {
    throw new TilingError(
      'margin',
      `margin ${margin} must not exceed overlap ${plan.overlap}: tiles would have no trustworthy pixels at their seams`,
    );
  }
}

function axisCount(plan: TilePlan, axis: Axis): number {
  return axis === 'x' ? plan.cols : plan.rows;
}

function axisSize(plan: TilePlan, axis: Axis): number {
  return axis === 'x' ? plan.width : plan.height;
}

/** ramp_b at output pixel o: 0 before the band of boundary b, 1 after it, linear inside. */
function ramp(o: number, b: number, h: number, scale: number): number {
  // Compare 2o + 1 (the pixel centre, doubled) against the doubled band edges: exact integers.
  const c = 2 * o + 1;
  const lo = 2 * (b - h) * scale;
  const hi = 2 * (b + h) * scale;
  // c is odd and lo, hi are even, so a centre never sits on a band edge (even when h = 0).
  if (c <= lo) return 0;
  if (c >= hi) return 1;
  return (c - lo) / (hi - lo);
}

/**
 * Weight of cell `index` along `axis` at output pixel `o` (0 outside the image). For a fixed axis and o,
 * the weights of all cells sum to exactly 1, and a weight is > 0 only where that cell is trustworthy.
 */
export function axisWeight(
  plan: TilePlan,
  axis: Axis,
  index: number,
  scale: number,
  margin: number,
  o: number,
): number {
  const n = axisCount(plan, axis);
  if (o < 0 || o >= axisSize(plan, axis) * scale || index < 0 || index >= n) return 0;
  const h = plan.overlap - margin;
  const left = index === 0 ? 1 : ramp(o, index * plan.tile, h, scale);
  const right = index === n - 1 ? 0 : ramp(o, (index + 1) * plan.tile, h, scale);
  return left - right;
}

/**
 * Output pixels [lo, hi) along `axis` where cell `index` has weight > 0. Equal to
 * [(b_k − h)·scale, (b_{k+1} + h)·scale) clamped to the image, with b_0 = 0 and b_n = size.
 */
export function axisSupport(
  plan: TilePlan,
  axis: Axis,
  index: number,
  scale: number,
  margin: number,
): [number, number] {
  const n = axisCount(plan, axis);
  const size = axisSize(plan, axis) * scale;
  const h = plan.overlap - margin;
  const lo = index === 0 ? 0 : Math.max(0, (index * plan.tile - h) * scale);
  const hi = index === n - 1 ? size : Math.min(size, ((index + 1) * plan.tile + h) * scale);
  return [lo, hi];
}

/** Weights of cell `index` along `axis` over its whole output span (input span × scale). */
export function axisWeights(plan: TilePlan, axis: Axis, index: number, scale: number, margin: number): AxisWeights {
  validateBlend(plan, scale, margin);
  const tile = plan.tiles[axis === 'x' ? index : index * plan.cols];
  if (!tile) throw new TilingError('tileIndex', `${axis === 'x' ? 'column' : 'row'} ${index} is not in the plan`);
  const start = axis === 'x' ? tile.input.x : tile.input.y;
  const length = axis === 'x' ? tile.input.width : tile.input.height;
  const offset = start * scale;
  const weights = new Float64Array(length * scale);
  for (let i = 0; i < weights.length; i++) weights[i] = axisWeight(plan, axis, index, scale, margin, offset + i);
  const [lo, hi] = axisSupport(plan, axis, index, scale, margin);
  // w = 1 exactly where the left ramp is 1 and the right one 0: one contiguous run, possibly empty.
  let fullLo = weights.indexOf(1);
  let fullHi = weights.lastIndexOf(1) + 1;
  if (fullLo < 0) fullLo = fullHi = 0;
  return { offset, weights, lo, hi, fullLo: offset + fullLo, fullHi: offset + fullHi };
}

/**
 * Weight of `tile`'s output at output pixel (ox, oy): wx(ox) · wy(oy). Over all tiles of the plan these sum
 * to exactly 1 at every output pixel, and are > 0 only inside the tile's {@link trustedRect} (× scale).
 */
export function tileWeight(
  plan: TilePlan,
  tile: TileSpec | number,
  scale: number,
  margin: number,
  ox: number,
  oy: number,
): number {
  validateBlend(plan, scale, margin);
  const spec = typeof tile === 'number' ? plan.tiles[tile] : tile;
  if (!spec) throw new TilingError('tileIndex', `tile ${String(tile)} is not in the plan`);
  const wx = axisWeight(plan, 'x', spec.col, scale, margin, ox);
  return wx === 0 ? 0 : wx * axisWeight(plan, 'y', spec.row, scale, margin, oy);
}

/**
 * The part of `tile.input` (input pixels) whose model output is trustworthy: the input rect shrunk by
 * `margin` on every side that is not on the image border. Always contains the core, since margin ≤ overlap.
 */
export function trustedRect(plan: TilePlan, tile: TileSpec, margin: number): Rect {
  const { input } = tile;
  const x0 = input.x === 0 ? 0 : input.x + margin;
  const y0 = input.y === 0 ? 0 : input.y + margin;
  const x1 = input.x + input.width === plan.width ? plan.width : input.x + input.width - margin;
  const y1 = input.y + input.height === plan.height ? plan.height : input.y + input.height - margin;
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}
