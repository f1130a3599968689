import { describe, expect, it } from 'vitest';
import { MAX_TILES, TilingError, planTiles } from './index.js';

function errorOf(fn: () => unknown): TilingError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TilingError);
    return e as TilingError;
  }
  throw new Error('expected a TilingError');
}

describe('planTiles', () => {
  it('cuts sides that are not multiples of the tile into smaller edge tiles', () => {
    const plan = planTiles({ width: 1000, height: 600, tile: 256, overlap: 16 });
    expect(plan.cols).toBe(4);
    expect(plan.rows).toBe(3);
    expect(plan.tiles).toHaveLength(12);
    expect(plan.tiles[3].core).toEqual({ x: 768, y: 0, width: 232, height: 256 });
    expect(plan.tiles[11].core).toEqual({ x: 768, y: 512, width: 232, height: 88 });
    plan.tiles.forEach((t, i) => {
      expect(t.index).toBe(i);
      expect(t.index).toBe(t.row * plan.cols + t.col);
    });
  });

  it('grows inputs by the overlap and clamps them at the image border', () => {
    const plan = planTiles({ width: 1000, height: 600, tile: 256, overlap: 16 });
    expect(plan.tiles[0].input).toEqual({ x: 0, y: 0, width: 272, height: 272 });
    expect(plan.tiles[5].input).toEqual({ x: 240, y: 240, width: 288, height: 288 });
    expect(plan.tiles[11].input).toEqual({ x: 752, y: 496, width: 248, height: 104 });
  });

  it('clamps an input to the border when the edge tile is narrower than the overlap', () => {
    const plan = planTiles({ width: 1030, height: 40, tile: 512, overlap: 16 });
    expect(plan.tiles[2].core).toEqual({ x: 1024, y: 0, width: 6, height: 40 });
    expect(plan.tiles[1].input).toEqual({ x: 496, y: 0, width: 534, height: 40 });
    expect(plan.tiles[2].input).toEqual({ x: 1008, y: 0, width: 22, height: 40 });
  });

  it('gives a single tile when the tile covers the image', () => {
    const plan = planTiles({ width: 300, height: 200, tile: 512, overlap: 16 });
    expect(plan.tiles).toEqual([
      {
        index: 0,
        row: 0,
        col: 0,
        core: { x: 0, y: 0, width: 300, height: 200 },
        input: { x: 0, y: 0, width: 300, height: 200 },
      },
    ]);
  });

  it('makes every pixel owned by exactly one core, for random plans', () => {
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let k = 0; k < 40; k++) {
      const width = 1 + rand(150);
      const height = 1 + rand(150);
      const overlap = rand(12);
      const tile = overlap + 1 + rand(40);
      const plan = planTiles({ width, height, tile, overlap });
      const owners = new Uint8Array(width * height);
      for (const t of plan.tiles) {
        const { core, input } = t;
        expect(input).toEqual({
          x: Math.max(0, core.x - overlap),
          y: Math.max(0, core.y - overlap),
          width: Math.min(width, core.x + core.width + overlap) - Math.max(0, core.x - overlap),
          height: Math.min(height, core.y + core.height + overlap) - Math.max(0, core.y - overlap),
        });
        for (let y = core.y; y < core.y + core.height; y++)
          for (let x = core.x; x < core.x + core.width; x++) owners[y * width + x]++;
      }
      expect(owners.every((n) => n === 1)).toBe(true);
    }
  });

  it('names the offending field and states the limit', () => {
    let e = errorOf(() => planTiles({ width: 100, height: 100, tile: 16, overlap: 16 }));
    expect(e.field).toBe('tile');
    expect(e.message).toBe('tile 16 must be larger than overlap 16');
    expect(e.name).toBe('TilingError');
    e = errorOf(() => planTiles({ width: 0, height: 100, tile: 64, overlap: 8 }));
    expect(e.field).toBe('width');
    expect(e.message).toMatch(/width must be a positive integer, got 0/);
    e = errorOf(() => planTiles({ width: 10, height: 1.5, tile: 64, overlap: 8 }));
    expect(e.field).toBe('height');
    e = errorOf(() => planTiles({ width: 10, height: 10, tile: 64, overlap: -1 }));
    expect(e.field).toBe('overlap');
    expect(e.message).toMatch(/overlap must be an integer ≥ 0, got -1/);
    e = errorOf(() => planTiles({ width: 10, height: 10, tile: 0, overlap: 0 }));
    expect(e.field).toBe('tile');
    e = errorOf(() => planTiles({ width: 100_000, height: 100_000, tile: 1, overlap: 0 }));
    expect(e.field).toBe('tile');
    expect(e.message).toContain(String(MAX_TILES));
  });
});
