import { describe, expect, it } from 'vitest';
import { TilingError, chooseTileSize, fleetTilingAgents, overheadFloor, planTiles } from './index.js';

const count = (w: number, h: number, t: number) => Math.ceil(w / t) * Math.ceil(h / t);

describe('chooseTileSize', () => {
  it('gives one tile to one agent on a small image', () => {
    for (const [width, height] of [
      [300, 200],
      [512, 512],
      [64, 500],
      [10, 10],
    ]) {
      const tile = chooseTileSize({ width, height, overlap: 16, agents: 1 });
      expect(planTiles({ width, height, tile, overlap: 16 }).tiles).toHaveLength(1);
    }
  });

  it('uses the largest tile for one agent on a large image (least overlap paid)', () => {
    expect(chooseTileSize({ width: 4096, height: 4096, overlap: 16, agents: 1 })).toBe(512);
    expect(chooseTileSize({ width: 4096, height: 4096, overlap: 16, agents: 1, maxTile: 256 })).toBe(256);
  });

  it('keeps every agent busy: ≥ 2 tiles per agent on large images', () => {
    for (const agents of [2, 4, 8, 16, 32]) {
      const tile = chooseTileSize({ width: 4096, height: 4096, overlap: 16, agents });
      expect(count(4096, 4096, tile)).toBeGreaterThanOrEqual(2 * agents);
    }
    const tile = chooseTileSize({ width: 300, height: 200, overlap: 8, agents: 2 });
    expect(count(300, 200, tile)).toBeGreaterThanOrEqual(2);
  });

  it('stays within bounds, aligned, above the overlap and above the overhead floor', () => {
    for (const overlap of [0, 4, 12, 16, 24, 40]) {
      for (const agents of [1, 3, 8, 64, 1000]) {
        for (const [w, h] of [
          [100, 100],
          [1920, 1080],
          [8192, 8192],
        ]) {
          const t = chooseTileSize({ width: w, height: h, overlap, agents });
          expect(t % 8).toBe(0);
          expect(t).toBeLessThanOrEqual(512);
          expect(t).toBeGreaterThan(overlap);
          expect(t).toBeGreaterThanOrEqual(Math.min(504, Math.max(64, overheadFloor(overlap, 1.5))));
          const overhead = ((t + 2 * overlap) / t) ** 2;
          if (overheadFloor(overlap, 1.5) <= 512) expect(overhead).toBeLessThanOrEqual(1.5);
        }
      }
    }
  });

  it('never picks tiles so small that overhead dominates (128 px with 24 px context is 1.9× its area)', () => {
    const t = chooseTileSize({ width: 8192, height: 8192, overlap: 24, agents: 10_000 });
    expect(t).toBeGreaterThan(128);
    expect(((128 + 48) / 128) ** 2).toBeCloseTo(1.89, 2);
  });

  it('is monotonic: more agents → no larger tile and no fewer tiles; more overlap → no smaller tile', () => {
    for (let w = 100; w <= 6000; w += 731) {
      for (let h = 100; h <= 6000; h += 977) {
        for (const overlap of [0, 16]) {
          let prevTile = Infinity;
          let prevCount = 0;
          for (let agents = 1; agents <= 40; agents++) {
            const t = chooseTileSize({ width: w, height: h, overlap, agents });
            expect(t).toBeLessThanOrEqual(prevTile);
            expect(count(w, h, t)).toBeGreaterThanOrEqual(prevCount);
            prevTile = t;
            prevCount = count(w, h, t);
          }
        }
        for (const agents of [1, 4, 32]) {
          let prev = 0;
          for (let overlap = 0; overlap <= 64; overlap += 8) {
            const t = chooseTileSize({ width: w, height: h, overlap, agents });
            expect(t).toBeGreaterThanOrEqual(prev);
            prev = t;
          }
        }
      }
    }
  });

  it('rejects bad input naming the field', () => {
    const bad = (input: Parameters<typeof chooseTileSize>[0], field: string) => {
      expect(() => chooseTileSize(input)).toThrow(TilingError);
      try {
        chooseTileSize(input);
      } catch (e) {
        expect((e as TilingError).field).toBe(field);
      }
    };
    bad({ width: 100, height: 100, overlap: 16, agents: 0 }, 'agents');
    bad({ width: 100, height: 100, overlap: 16, agents: 1, minTile: 8, maxTile: 16 }, 'maxTile');
    bad({ width: 100, height: 100, overlap: 16, agents: 1, minTile: 600 }, 'minTile');
    bad({ width: -1, height: 100, overlap: 16, agents: 1 }, 'width');
    bad({ width: 100, height: 100, overlap: 16, agents: 1, maxOverhead: 1 }, 'maxOverhead');
  });
});

describe('fleetTilingAgents', () => {
  it('counts equal agents as themselves and an empty fleet as one', () => {
    expect(fleetTilingAgents([1, 1, 1])).toBe(3);
    expect(fleetTilingAgents([])).toBe(1);
  });

  it('asks for enough shards that the slowest useful agent gets one', () => {
    // 2 + 1 + 0.5 over 0.5: seven slow-agent shares.
    expect(fleetTilingAgents([2, 1, 0.5])).toBe(7);
    // An agent 20× slower is not useful and does not multiply the shards.
    expect(fleetTilingAgents([1, 1, 0.05])).toBe(2);
    // Capped at 4 × the useful agents.
    expect(fleetTilingAgents([10, 1])).toBe(8);
  });

  it('gives more, smaller tiles to a mixed fleet than to as many equal agents', () => {
    const equal = chooseTileSize({ width: 2048, height: 2048, overlap: 16, agents: fleetTilingAgents([1, 1, 1]) });
    const mixed = chooseTileSize({ width: 2048, height: 2048, overlap: 16, agents: fleetTilingAgents([2, 1, 0.4]) });
    expect(mixed).toBeLessThan(equal);
  });
});
