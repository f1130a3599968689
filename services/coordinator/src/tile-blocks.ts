/**
 * Tile size by VRAM class (issue 16 part 3). The planner cuts the image into one grid of tiles (what
 * the smallest fitting agents can run); on a farm that also has bigger agents, the top rows of that
 * grid are grouped into k × k blocks, one shard each, that only the big agents fit: fewer, larger shards
 * where the class allows. A block's output is its tiles' union input × scale; the assembler cuts each
 * tile's output out of it (a tile's trusted area lies inside the block's, where both equal the single
 * pass), so the blended bytes do not depend on how the tiles were grouped. Pure.
 */
import type { Rect, TilePlan } from '@tessera/tiling';

/** One shard's worth of tiles: a single tile, or a k × k block of neighbours. */
export interface TileBlock {
  /** Tile indices of the plan, row-major. */
  tiles: number[];
  /** Union of the tiles' input rects (what the agent reads). */
  input: Rect;
  /** Union of the tiles' cores (what the shard owns). */
  core: Rect;
  /** VRAM class (GB) the shard needs. */
  requiredClassGb: number;
}

/** Largest block side tried (a 4 × 4 block of 512-px tiles is a 2048-px input). */
export const MAX_BLOCK_SIDE = 4;

function union(rects: Rect[]): Rect {
  const x = Math.min(...rects.map((r) => r.x));
  const y = Math.min(...rects.map((r) => r.y));
  const x1 = Math.max(...rects.map((r) => r.x + r.width));
  const y1 = Math.max(...rects.map((r) => r.y + r.height));
  return { x, y, width: x1 - x, height: y1 - y };
}

function block(plan: TilePlan, r0: number, c0: number, k: number, need: (pixels: number) => number): TileBlock {
  const tiles: number[] = [];
  for (let r = r0; r < Math.min(plan.rows, r0 + k); r++)
    for (let c = c0; c < Math.min(plan.cols, c0 + k); c++) tiles.push(r * plan.cols + c);
  const input = union(tiles.map((i) => plan.tiles[i].input));
  const core = union(tiles.map((i) => plan.tiles[i].core));
  return { tiles, input, core, requiredClassGb: need(input.width * input.height) };
}

/**
 * Groups the tiles of `plan` for a fleet whose live agents have the VRAM classes `fleetClassesGb`
 * (`need(pixels)` = the class a shard of that many input pixels needs). Rule:
 * - only agents that fit a single tile count; with fewer than two distinct classes among them, every
 *   tile is its own shard (today's plan);
 * - the block side k is the largest in 2..MAX_BLOCK_SIDE whose blocks all fit the biggest class and
 *   whose largest block does not fit the smallest (so blocks go to the big agents: the scheduler gives
 *   a shard to the smallest class that fits); none → every tile alone (so a model whose VRAM need
 *   does not grow with pixels never gets blocks);
 * - the big agents' share of those agents, times the tile rows, rounded to whole block rows, is cut
 *   into k × k blocks from the top (edge blocks smaller); the rest stay single tiles.
 * Blocks come first, then single tiles, each in row-major order. Deterministic.
 */
export function planTileBlocks(
  plan: TilePlan,
  fleetClassesGb: readonly number[],
  need: (pixels: number) => number,
): TileBlock[] {
  const singles = (from: number) =>
    plan.tiles.slice(from).map((t) => ({
      tiles: [t.index],
      input: { ...t.input },
      core: { ...t.core },
      requiredClassGb: need(t.input.width * t.input.height),
    }));
  const tileNeed = Math.max(...plan.tiles.map((t) => need(t.input.width * t.input.height)));
  const fitting = fleetClassesGb.filter((c) => c >= tileNeed);
  const big = Math.max(...fitting);
  const small = Math.min(...fitting);
  if (big === small) return singles(0);
  let k = 0;
  for (let side = Math.min(MAX_BLOCK_SIDE, plan.rows, plan.cols); side >= 2 && !k; side--) {
    let most = 0;
    for (let r = 0; r < plan.rows && most <= big; r += side)
      for (let c = 0; c < plan.cols && most <= big; c += side)
        most = Math.max(most, block(plan, r, c, side, need).requiredClassGb);
    if (most <= big && most > small) k = side;
  }
  if (!k) return singles(0);
  const share = fitting.filter((c) => c === big).length / fitting.length;
  const blockRows = Math.min(Math.floor(plan.rows / k), Math.round((share * plan.rows) / k));
  if (blockRows === 0) return singles(0);
  const blocks: TileBlock[] = [];
  for (let r = 0; r < blockRows * k; r += k)
    for (let c = 0; c < plan.cols; c += k) blocks.push(block(plan, r, c, k, need));
  return [...blocks, ...singles(blockRows * k * plan.cols)];
}
