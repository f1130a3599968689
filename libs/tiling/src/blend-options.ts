/** Blend options shared by BandAssembler and its size predictor, compiled once; pure. */
import { requireInt } from './errors.js';
import type { TilePlan } from './plan.js';

/** How tile outputs relate to the plan. */
export interface BlendOptions {
  /** Integer upscale factor of the model (output px per input px), ≥ 1. */
  scale: number;
  /** Receptive-field radius of the model in input px; 0 ≤ margin ≤ plan.overlap. */
  margin: number;
  /** Interleaved 8-bit channels per pixel. Default 3 (RGB8). */
  channels?: number;
}

/** Receives finished output rows: `rows` holds `n` full rows of `width × scale × channels` bytes from row y0. */
export type RowsSink = (y0: number, rows: Uint8Array) => void;

/** Options of {@link BandAssembler}. */
export interface BandAssemblerOptions extends BlendOptions {
  /** Called synchronously from `push` with each finished chunk of rows, top to bottom; may keep `rows`. */
  onRows: RowsSink;
  /** Most output rows per emitted chunk. Default: as many as fit an 8 MiB accumulator (≥ 1). */
  chunkRows?: number;
  /**
   * Emit every chunk in one reused buffer (no allocation per chunk): `onRows` must then be done with
   * `rows` when it returns. Default false (each chunk is a fresh array the sink may keep).
   */
  reuseRows?: boolean;
}

/** Default budget for the Float32 accumulator of one chunk. */
export const DEFAULT_ACCUMULATOR_BYTES = 8 * 1024 * 1024;

/** Blend options validated, defaults filled. */
export interface Compiled {
  scale: number;
  margin: number;
  channels: number;
  chunkRows: number;
  outWidth: number;
  outHeight: number;
}

/** Validates blend options (errors name the field) and fills the defaults. */
export function compileBlendOptions(plan: TilePlan, opts: BlendOptions & { chunkRows?: number }): Compiled {
  const scale = opts.scale;
  const channels = requireInt('channels', opts.channels ?? 3, 1);
  // validated by bandSchedule/axisWeights too; do it first so errors name the field before any work.
  requireInt('scale', scale, 1);
  const outWidth = plan.width * scale;
  const defaultRows = Math.max(1, Math.floor(DEFAULT_ACCUMULATOR_BYTES / (outWidth * (channels + 1) * 4)));
  const chunkRows = requireInt('chunkRows', opts.chunkRows ?? defaultRows, 1);
  return { scale, margin: opts.margin, channels, chunkRows, outWidth, outHeight: plan.height * scale };
}

/**
 * Rows to drop from the top of a tile row that holds output rows [from, to) once rows above `y` are
 * emitted: all of them above y when that is at least half of what it holds, else none.
 */
export function trimRows(from: number, to: number, y: number): number {
  const drop = Math.min(to, y) - from;
  return drop > 0 && 2 * drop >= to - from ? drop : 0;
}

/** Byte length of tile `index`'s output: input rect × scale, `channels` bytes per pixel. */
export function tileOutputBytes(plan: TilePlan, index: number, scale: number, channels = 3): number {
  const t = plan.tiles[index];
  return t.input.width * scale * t.input.height * scale * channels;
}
