/**
 * Tile size by VRAM class (issue 16 part 3): on a farm of 24 GB and 8 GB agents, big agents get k × k
 * blocks of tiles that only they fit; the blended bytes are the same as with one shard per tile.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadHardwareTable, requiredClassFor } from '@tessera/hardware';
import { blobKeys } from '@tessera/protocol';
import { planTiles } from '@tessera/tiling';
import { createUpscaleAssembler, cropTileOutput } from './assembler.js';
import type { BlobInfo, BlobStore } from './blobs.js';
import { compileCoordinatorOptions } from './options.js';
import { planUpscale } from './planner.js';
import { planTileBlocks } from './tile-blocks.js';

/** The bundled table with the ×2 upscaler needing 1,500 GB per megapixel: a 64² tile needs 8 GB, a 3 × 3 block 24 GB. */
function table() {
  const t = loadHardwareTable();
  const row = t.models.get('esrgan-slim-x2')!;
  (row.upscaler as { vramGbPerMegapixel: number }).vramGbPerMegapixel = 1500;
  return { t, row };
}

const W = 150;
const H = 101;
const input = new Uint8Array(W * H * 3);
let seed = 3;
for (let i = 0; i < input.length; i++) input[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;

/** Nearest neighbour ×2 of a crop of the input: exact wherever it is computed, like a real model's trusted area. */
function nn(r: { x: number; y: number; width: number; height: number }): Uint8Array {
  const w = r.width * 2;
  const out = new Uint8Array(w * r.height * 2 * 3);
  for (let y = 0; y < r.height * 2; y++)
    for (let x = 0; x < w; x++) {
      const s = ((r.y + (y >> 1)) * W + r.x + (x >> 1)) * 3;
      out.set(input.subarray(s, s + 3), (y * w + x) * 3);
    }
  return out;
}

async function assemble(fleet: number[] | undefined) {
  const { t } = table();
  const { job, shards } = planUpscale(
    {
      jobId: 'jblocks',
      name: '',
      model: 'esrgan-slim-x2',
      seed: 1,
      priority: 0,
      maxAttempts: 3,
      width: W,
      height: H,
      tile: 40,
      overlap: 12,
      agents: 2,
      nowMs: 0,
      fleetClassesGb: fleet,
    },
    t,
    compileCoordinatorOptions(),
  );
  const store = new Map<string, Uint8Array>();
  for (const s of shards) {
    s.outputKey = blobKeys.shardOutput(job.id, s.index, 1);
    store.set(s.outputKey, nn(s.input));
  }
  const blobs = {
    get: async (k: string) => store.get(k) ?? null,
    put: async (k: string, d: Uint8Array): Promise<BlobInfo> => {
      store.set(k, d);
      return { size: d.length, sha256: createHash('sha256').update(d).digest('hex') };
    },
  } as unknown as BlobStore;
  const [png] = await createUpscaleAssembler(blobs)(job, shards);
  return { shards, png: store.get(png.key)! };
}

describe('tile blocks by VRAM class', () => {
  it('groups the top rows into blocks that only the 24 GB class fits, and covers every tile once', () => {
    const { t, row } = table();
    const plan = planTiles({ width: W, height: H, tile: 40, overlap: 12 });
    const need = (pixels: number) => requiredClassFor(t, row, { pixels });
    const groups = planTileBlocks(plan, [24, 8], need);
    const blocks = groups.filter((g) => g.tiles.length > 1);
    expect(blocks.length).toBeGreaterThan(0);
    // Edge blocks may be small enough for 8 GB; the largest is not.
    expect(Math.max(...blocks.map((b) => b.requiredClassGb))).toBeGreaterThan(8);
    expect(Math.max(...blocks.map((b) => b.requiredClassGb))).toBeLessThanOrEqual(24);
    for (const g of groups.filter((x) => x.tiles.length === 1)) expect(g.requiredClassGb).toBeLessThanOrEqual(8);
    expect(groups.flatMap((g) => g.tiles).sort((a, b) => a - b)).toEqual(plan.tiles.map((x) => x.index));
    expect(groups.length).toBeLessThan(plan.tiles.length);
  });

  it('keeps one shard per tile for one class, or when the model needs no more VRAM for more pixels', () => {
    const { t, row } = table();
    const plan = planTiles({ width: W, height: H, tile: 40, overlap: 12 });
    const need = (pixels: number) => requiredClassFor(t, row, { pixels });
    expect(planTileBlocks(plan, [24, 24], need)).toHaveLength(plan.tiles.length);
    expect(planTileBlocks(plan, [24, 8], () => 0)).toHaveLength(plan.tiles.length);
  });

  it('assembles the same PNG bytes from blocks as from single tiles', async () => {
    const mixed = await assemble([24, 8]);
    const plain = await assemble(undefined);
    expect(mixed.shards.some((s) => (s.tiles?.length ?? 1) > 1)).toBe(true);
    expect(mixed.shards.length).toBeLessThan(plain.shards.length);
    expect(Buffer.from(mixed.png).equals(Buffer.from(plain.png))).toBe(true);
  });

  it('cuts a tile output out of a block output', () => {
    const block = { x: 2, y: 1, width: 5, height: 4 };
    const data = nn(block);
    const tile = { x: 4, y: 2, width: 2, height: 3 };
    expect(Buffer.from(cropTileOutput(data, block, tile, 2)).equals(Buffer.from(nn(tile)))).toBe(true);
  });
});
