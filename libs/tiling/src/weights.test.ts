import { describe, expect, it } from 'vitest';
import {
  TilingError,
  axisSupport,
  axisWeight,
  axisWeights,
  planTiles,
  tileWeight,
  trustedRect,
  type TilePlan,
} from './index.js';

function lcg(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

/** Random plans, including hard seams (margin = overlap), overlapping bands and narrow edge tiles. */
function randomCases(seed: number, n: number): { plan: TilePlan; scale: number; margin: number }[] {
  const rand = lcg(seed);
  return Array.from({ length: n }, () => {
    const overlap = rand(9);
    const tile = overlap + 1 + rand(20);
    const plan = planTiles({ width: 1 + rand(70), height: 1 + rand(70), tile, overlap });
    return { plan, scale: 1 + rand(4), margin: rand(overlap + 1) };
  });
}

describe('axis weights', () => {
  it('sum to exactly 1 (to rounding), are in [0, 1], and are > 0 exactly on the support', () => {
    const bad: object[] = [];
    for (const { plan, scale, margin } of randomCases(1, 200)) {
      for (const axis of ['x', 'y'] as const) {
        const n = axis === 'x' ? plan.cols : plan.rows;
        const size = (axis === 'x' ? plan.width : plan.height) * scale;
        for (let o = 0; o < size; o++) {
          let sum = 0;
          for (let i = 0; i < n; i++) {
            const w = axisWeight(plan, axis, i, scale, margin, o);
            const [lo, hi] = axisSupport(plan, axis, i, scale, margin);
            if (w < 0 || w > 1 || w > 0 !== (o >= lo && o < hi)) bad.push({ axis, i, o, w, lo, hi });
            sum += w;
          }
          if (Math.abs(sum - 1) > 1e-12) bad.push({ axis, o, sum });
        }
      }
    }
    expect(bad).toEqual([]);
  });

  it('give the core owner weight 1 outside the bands, and hard 0/1 seams when overlap = margin', () => {
    const plan = planTiles({ width: 100, height: 10, tile: 32, overlap: 8 });
    const h = 8 - 3;
    for (let o = 0; o < 100 * 2; o++) {
      const u = (o + 0.5) / 2;
      const inBand = [32, 64, 96].some((b) => u > b - h && u < b + h);
      const owner = Math.min(3, Math.floor(o / 2 / 32));
      if (!inBand) expect(axisWeight(plan, 'x', owner, 2, 3, o)).toBe(1);
      const hard = axisWeight(plan, 'x', owner, 2, 8, o);
      expect(hard).toBe(1);
    }
  });

  it('cross-fade linearly over [b − (overlap − margin), b + (overlap − margin)]', () => {
    const plan = planTiles({ width: 64, height: 8, tile: 32, overlap: 8 });
    // h = 4 input px, scale 1: band [28, 36]; the centre of pixel 31 is 31.5 → right weight 3.5/8.
    expect(axisWeight(plan, 'x', 1, 1, 4, 31)).toBeCloseTo(3.5 / 8, 12);
    expect(axisWeight(plan, 'x', 0, 1, 4, 31)).toBeCloseTo(4.5 / 8, 12);
    expect(axisWeight(plan, 'x', 1, 1, 4, 27)).toBe(0);
    expect(axisWeight(plan, 'x', 0, 1, 4, 36)).toBe(0);
    const w = axisWeights(plan, 'x', 1, 1, 4);
    expect(w.offset).toBe(24);
    expect([w.lo, w.hi]).toEqual([28, 64]);
  });
});

describe('tileWeight', () => {
  it('sums to 1 at every output pixel and is > 0 only where the tile is trustworthy', () => {
    const bad: object[] = [];
    for (const { plan, scale, margin } of randomCases(2, 60)) {
      const W = plan.width * scale;
      const H = plan.height * scale;
      const trusted = plan.tiles.map((t) => trustedRect(plan, t, margin));
      for (let oy = 0; oy < H; oy++) {
        for (let ox = 0; ox < W; ox++) {
          let sum = 0;
          for (const t of plan.tiles) {
            const w = tileWeight(plan, t, scale, margin, ox, oy);
            const r = trusted[t.index];
            const ix = Math.floor(ox / scale);
            const iy = Math.floor(oy / scale);
            const inside = ix >= r.x && ix < r.x + r.width && iy >= r.y && iy < r.y + r.height;
            if (w < 0 || (w > 0 && !inside)) bad.push({ tile: t.index, ox, oy, w });
            sum += w;
          }
          if (Math.abs(sum - 1) > 1e-12) bad.push({ ox, oy, sum });
        }
      }
    }
    expect(bad).toEqual([]);
  });

  it('rejects margin > overlap and non-integer scales, naming the field', () => {
    const plan = planTiles({ width: 64, height: 64, tile: 32, overlap: 8 });
    for (const [scale, margin, field] of [
      [1, 9, 'margin'],
      [1.5, 2, 'scale'],
      [0, 2, 'scale'],
      [2, -1, 'margin'],
    ] as const) {
      try {
        tileWeight(plan, 0, scale, margin, 0, 0);
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(TilingError);
        expect((e as TilingError).field).toBe(field);
      }
    }
  });
});
