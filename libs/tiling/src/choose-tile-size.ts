/**
 * Choosing the core tile side for a tiled job.
 *
 * Rule (documented contract; see choose-tile-size.test.ts for the properties it guarantees):
 *
 * 1. Candidates are multiples of `align` in [lo, maxTile], where lo is the largest of `minTile`,
 *    `overlap + 1` and the overhead floor: the smallest side t with ((t + 2·overlap) / t)² ≤ `maxOverhead`
 *    (context is computed twice: a 128 tile with 24 px context costs 1.9× its area, a 512 with 12 only
 *    1.1×; the default 1.5 keeps overhead from dominating). If lo > maxTile, maxTile is used as is.
 * 2. Each candidate t is scored by an estimate of the makespan on `agents` equal agents, in input pixels:
 *      work(t)   = Σ over tiles of (input area + shardOverheadPx)           (exact, from the grid geometry)
 *      makespan  = work / agents + (1 − 1/agents) · largest tile's work     (Graham's list-scheduling bound)
 *    The first term rewards big tiles (less overlap, fewer shards); the second rewards enough tiles to
 *    keep every agent busy (it shrinks only when there are several tiles per agent), so large images on
 *    many agents get ≥ 2 tiles per agent unless that would cross the overhead floor.
 * 3. The lowest score wins; ties go to the candidate with the smaller largest tile, then the larger side.
 *    One agent and an image that fits in maxTile therefore gets a single tile (no overlap is paid at all).
 */
import { TilingError, requireInt } from './errors.js';
import { inputSpanMax, inputSpanSum } from './plan.js';

/** Input of {@link chooseTileSize}; optional fields have the documented defaults. */
export interface ChooseTileSizeInput {
  width: number;
  height: number;
  /** Context per side, input px (≥ the model's receptive field). */
  overlap: number;
  /** Agents expected to work on the job in parallel, ≥ 1. */
  agents: number;
  /** Smallest allowed side. Default 64. */
  minTile?: number;
  /** Largest allowed side (what fits the model/VRAM). Default 512. */
  maxTile?: number;
  /** Returned sides are multiples of this (VAE-friendly). Default 8. */
  align?: number;
  /** Largest allowed (input area / core area) of an interior tile. Default 1.5. */
  maxOverhead?: number;
  /** Fixed cost of one shard (dispatch, transfer, session start) in input-pixel equivalents. Default 4096. */
  shardOverheadPx?: number;
}

/** Smallest side whose interior tile computes at most `maxOverhead` × its core area. */
export function overheadFloor(overlap: number, maxOverhead: number): number {
  return Math.ceil((2 * overlap) / (Math.sqrt(maxOverhead) - 1));
}

/** Estimated makespan (input px) of a `tile`-side grid on `agents` agents; see the module comment. */
export function tilingCost(
  width: number,
  height: number,
  tile: number,
  overlap: number,
  agents: number,
  shardOverheadPx: number,
): { makespan: number; largest: number; tiles: number } {
  const tiles = Math.ceil(width / tile) * Math.ceil(height / tile);
  const work = inputSpanSum(width, tile, overlap) * inputSpanSum(height, tile, overlap) + tiles * shardOverheadPx;
  const largest = inputSpanMax(width, tile, overlap) * inputSpanMax(height, tile, overlap) + shardOverheadPx;
  return { makespan: work / agents + (1 - 1 / agents) * largest, largest, tiles };
}

/**
 * Picks the core tile side for a `width × height` image with `overlap` px of context on `agents` agents.
 * Result: a multiple of `align`, > overlap, within [minTile, maxTile] (except that it never goes below
 * overlap + 1), and never below the overhead floor unless maxTile is. Pure and deterministic.
 */
export function chooseTileSize(input: ChooseTileSizeInput): number {
  const width = requireInt('width', input.width, 1);
  const height = requireInt('height', input.height, 1);
  const overlap = requireInt('overlap', input.overlap, 0);
  const agents = requireInt('agents', input.agents, 1);
  const minTile = requireInt('minTile', input.minTile ?? 64, 1);
  const maxTile = requireInt('maxTile', input.maxTile ?? 512, 1);
  const align = requireInt('align', input.align ?? 8, 1);
  const maxOverhead = input.maxOverhead ?? 1.5;
  const shardOverheadPx = input.shardOverheadPx ?? 4096;
  if (!(typeof maxOverhead === 'number' && maxOverhead > 1)) {
    throw new TilingError('maxOverhead', `maxOverhead must be a number > 1, got ${JSON.stringify(maxOverhead)}`);
  }
  if (!(typeof shardOverheadPx === 'number' && shardOverheadPx >= 0)) {
    throw new TilingError(
      'shardOverheadPx',
      `shardOverheadPx must be a number ≥ 0, got ${JSON.stringify(shardOverheadPx)}`,
    );
  }
  if (minTile > maxTile) throw new TilingError('minTile', `minTile ${minTile} must not exceed maxTile ${maxTile}`);
  const top = Math.floor(maxTile / align) * align;
  if (top <= overlap) {
    throw new TilingError(
      'maxTile',
      `maxTile ${maxTile} (aligned to ${align}: ${top}) must be larger than overlap ${overlap}`,
    );
  }
  const floor = Math.max(minTile, overlap + 1, overheadFloor(overlap, maxOverhead));
  const lo = Math.min(top, Math.ceil(floor / align) * align);
  let best = top;
  let bestScore = tilingCost(width, height, top, overlap, agents, shardOverheadPx);
  for (let t = top - align; t >= lo; t -= align) {
    const score = tilingCost(width, height, t, overlap, agents, shardOverheadPx);
    // Strict improvements only: ties keep the larger side found first (we walk downwards).
    if (
      score.makespan < bestScore.makespan - 1e-9 ||
      (Math.abs(score.makespan - bestScore.makespan) <= 1e-9 && score.largest < bestScore.largest)
    ) {
      best = t;
      bestScore = score;
    }
  }
  return best;
}

/**
 * How many equal agents a mixed-speed fleet counts as when choosing a tile size: enough shards that
 * the slowest useful agent gets one while the fastest get their share, i.e. Σ speeds ÷ the slowest
 * useful speed, rounded up. Agents slower than `usefulFraction` (default 1/10) of the fastest are left
 * out (placement by expected finish time gives them little), and the count is capped at 4 × the
 * useful agents so that a very uneven fleet does not drown in small shards. Equal speeds give the
 * agent count itself; an empty fleet gives 1.
 */
export function fleetTilingAgents(speeds: readonly number[], usefulFraction = 0.1): number {
  const max = Math.max(0, ...speeds.filter((s) => Number.isFinite(s)));
  const useful = speeds.filter((s) => Number.isFinite(s) && s > 0 && s >= usefulFraction * max);
  if (useful.length === 0) return 1;
  const min = Math.min(...useful);
  const sum = useful.reduce((a, s) => a + s, 0);
  return Math.max(1, Math.min(4 * useful.length, Math.ceil(sum / min - 1e-9)));
}
