import { TilingError, requireInt } from './errors.js';

/** An axis-aligned rectangle in integer pixels; `width` and `height` are > 0 for every rect this package returns. */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * One tile of a {@link TilePlan}. `core` is the part of the image this tile owns (the cores partition the
 * image); `input` is `core` grown by `overlap` on every side and clamped to the image, i.e. what the model reads.
 */
export interface TileSpec {
  /** Position in `TilePlan.tiles`; always `row * cols + col`. */
  index: number;
  row: number;
  col: number;
  core: Rect;
  input: Rect;
}

/**
 * A grid of `rows × cols` tiles of stride `tile` over a `width × height` image. Tiles are in row-major
 * order; the last row/column is smaller when the side is not a multiple of `tile` ("edge tiles").
 */
export interface TilePlan {
  width: number;
  height: number;
  tile: number;
  overlap: number;
  rows: number;
  cols: number;
  tiles: TileSpec[];
}

/** Input of {@link planTiles}. All values are integer pixels. */
export interface PlanTilesInput {
  width: number;
  height: number;
  /** Core tile side (grid stride); must be larger than `overlap`. */
  tile: number;
  /** Context added on every side of a core, ≥ 0. */
  overlap: number;
}

/** The most tiles one plan may hold; guards against a 1-px tile over a gigapixel image. */
export const MAX_TILES = 1_000_000;

/** Validates the input of {@link planTiles}; throws {@link TilingError} naming the field. */
export function validatePlanInput(input: PlanTilesInput): void {
  requireInt('width', input.width, 1);
  requireInt('height', input.height, 1);
  requireInt('tile', input.tile, 1);
  requireInt('overlap', input.overlap, 0);
  if (input.tile <= input.overlap) {
    throw new TilingError('tile', `tile ${input.tile} must be larger than overlap ${input.overlap}`);
  }
  const count = Math.ceil(input.width / input.tile) * Math.ceil(input.height / input.tile);
  if (count > MAX_TILES) {
    throw new TilingError(
      'tile',
      `tile ${input.tile} cuts a ${input.width}×${input.height} image into ${count} tiles; at most ${MAX_TILES} are allowed`,
    );
  }
}

/** Start and length of cell `i` along an axis of length `size` cut with stride `tile`. */
function cell(i: number, tile: number, size: number): [start: number, length: number] {
  const start = i * tile;
  return [start, Math.min(tile, size - start)];
}

/** Start and length of cell `i`'s input span: the cell grown by `overlap` on both sides, clamped to [0, size). */
function grown(i: number, tile: number, overlap: number, size: number): [start: number, length: number] {
  const [start, length] = cell(i, tile, size);
  const lo = Math.max(0, start - overlap);
  const hi = Math.min(size, start + length + overlap);
  return [lo, hi - lo];
}

/**
 * Cuts a `width × height` image into a grid of core tiles of side `tile` (edge tiles smaller) and gives each
 * an input rect grown by `overlap`, clamped to the image. Pure; throws {@link TilingError} on invalid input.
 */
export function planTiles(input: PlanTilesInput): TilePlan {
  validatePlanInput(input);
  const { width, height, tile, overlap } = input;
  const cols = Math.ceil(width / tile);
  const rows = Math.ceil(height / tile);
  const tiles: TileSpec[] = [];
  for (let row = 0; row < rows; row++) {
    const [cy, ch] = cell(row, tile, height);
    const [iy, ih] = grown(row, tile, overlap, height);
    for (let col = 0; col < cols; col++) {
      const [cx, cw] = cell(col, tile, width);
      const [ix, iw] = grown(col, tile, overlap, width);
      tiles.push({
        index: row * cols + col,
        row,
        col,
        core: { x: cx, y: cy, width: cw, height: ch },
        input: { x: ix, y: iy, width: iw, height: ih },
      });
    }
  }
  return { width, height, tile, overlap, rows, cols, tiles };
}

/** Sum of the input spans of all cells along one axis (separable: total input area = sumX · sumY). */
export function inputSpanSum(size: number, tile: number, overlap: number): number {
  const n = Math.ceil(size / tile);
  // Every internal boundary adds `overlap` of context to each of its two sides, clamped where a cell is
  // narrower than the overlap; summing cell by cell keeps the clamping exact.
  let sum = 0;
  for (let i = 0; i < n; i++) sum += grown(i, tile, overlap, size)[1];
  return sum;
}

/** Largest input span along one axis. */
export function inputSpanMax(size: number, tile: number, overlap: number): number {
  const n = Math.ceil(size / tile);
  let max = 0;
  for (let i = 0; i < n; i++) max = Math.max(max, grown(i, tile, overlap, size)[1]);
  return max;
}
