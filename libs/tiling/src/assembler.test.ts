import { describe, expect, it } from 'vitest';
import {
  BandAssembler,
  TilingError,
  assembleAll,
  peakHeldBytes,
  planTiles,
  tileOutputBytes,
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

function shuffled(n: number, rand: (n: number) => number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rand(i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/**
 * A tile output that equals `full` wherever the tile is trustworthy and is garbage elsewhere, the way a
 * model with receptive-field radius `margin` behaves on a crop.
 */
function exactTile(
  plan: TilePlan,
  full: Uint8Array,
  i: number,
  scale: number,
  margin: number,
  rand: (n: number) => number,
) {
  const ch = 3;
  const t = plan.tiles[i];
  const W = plan.width * scale;
  const tw = t.input.width * scale;
  const th = t.input.height * scale;
  const trust = trustedRect(plan, t, margin);
  const out = new Uint8Array(tw * th * ch);
  for (let y = 0; y < th; y++) {
    for (let x = 0; x < tw; x++) {
      const ix = t.input.x + Math.floor(x / scale);
      const iy = t.input.y + Math.floor(y / scale);
      const trusted = ix >= trust.x && ix < trust.x + trust.width && iy >= trust.y && iy < trust.y + trust.height;
      const gx = t.input.x * scale + x;
      const gy = t.input.y * scale + y;
      for (let k = 0; k < ch; k++) out[(y * tw + x) * ch + k] = trusted ? full[(gy * W + gx) * ch + k] : rand(256);
    }
  }
  return out;
}

function randomBytes(n: number, rand: (n: number) => number): Uint8Array {
  const a = new Uint8Array(n);
  for (let i = 0; i < n; i++) a[i] = rand(256);
  return a;
}

describe('BandAssembler', () => {
  it('reconstructs the full image exactly when tiles are exact where trustworthy (scale 4, garbage elsewhere)', () => {
    const rand = lcg(42);
    const cases = [
      { width: 70, height: 45, tile: 24, overlap: 6, margin: 3 },
      { width: 50, height: 50, tile: 16, overlap: 5, margin: 5 }, // hard seams
      { width: 40, height: 33, tile: 9, overlap: 8, margin: 1 }, // bands overlap (tile < 2h)
      { width: 66, height: 35, tile: 32, overlap: 8, margin: 2 }, // 2-px edge tiles narrower than the band
      { width: 30, height: 20, tile: 64, overlap: 8, margin: 4 }, // single tile
    ];
    for (const { width, height, tile, overlap, margin } of cases) {
      const scale = 4;
      const plan = planTiles({ width, height, tile, overlap });
      const full = randomBytes(width * scale * height * scale * 3, rand);
      const tiles = plan.tiles.map((t) => exactTile(plan, full, t.index, scale, margin, rand));
      const out = assembleAll(plan, { scale, margin, chunkRows: 7 }, (i) => tiles[i], shuffled(tiles.length, rand));
      expect(Buffer.from(out).equals(Buffer.from(full))).toBe(true);
    }
  });

  it('gives identical bytes for any push order', () => {
    const rand = lcg(9);
    for (let k = 0; k < 6; k++) {
      const overlap = 2 + rand(6);
      const plan = planTiles({ width: 20 + rand(50), height: 20 + rand(50), tile: overlap + 4 + rand(12), overlap });
      const opts = { scale: 1 + rand(3), margin: rand(overlap + 1) };
      const tiles = plan.tiles.map((_, i) => randomBytes(tileOutputBytes(plan, i, opts.scale), rand));
      const first = assembleAll(plan, opts, (i) => tiles[i]);
      for (let r = 0; r < 4; r++) {
        const again = assembleAll(
          plan,
          { ...opts, chunkRows: 1 + rand(9) },
          (i) => tiles[i],
          shuffled(tiles.length, rand),
        );
        expect(Buffer.from(again).equals(Buffer.from(first))).toBe(true);
      }
    }
  });

  it('streams rows top to bottom as soon as they are complete, and frees tiles it no longer needs', () => {
    const plan = planTiles({ width: 64, height: 64, tile: 16, overlap: 4 });
    const opts = { scale: 2, margin: 2, channels: 1 };
    const chunks: [number, number][] = [];
    const asm = new BandAssembler(plan, {
      ...opts,
      chunkRows: 5,
      onRows: (y0, rows) => chunks.push([y0, rows.length / (64 * 2)]),
    });
    const zero = (i: number) => new Uint8Array(tileOutputBytes(plan, i, 2, 1));
    // Push the last tile row first: nothing can be emitted yet.
    for (let i = 12; i < 16; i++) expect(asm.push(i, zero(i))).toBe(0);
    for (let i = 0; i < 4; i++) asm.push(i, zero(i));
    // Row 0 alone covers output rows [0, (16 − 2)·2) = [0, 28).
    expect(asm.nextRow).toBe(28);
    for (let i = 4; i < 8; i++) asm.push(i, zero(i));
    expect(asm.nextRow).toBe(60);
    const heldAfterRow1 = asm.heldBytes;
    const row0Bytes = [0, 1, 2, 3].reduce((s, i) => s + tileOutputBytes(plan, i, 2, 1), 0);
    for (let i = 8; i < 12; i++) asm.push(i, zero(i));
    expect(asm.done).toBe(true);
    expect(asm.heldBytes).toBe(0);
    expect(heldAfterRow1).toBeGreaterThan(0);
    expect(asm.peakHeldBytes).toBeGreaterThan(row0Bytes);
    let y = 0;
    for (const [y0, n] of chunks) {
      expect(y0).toBe(y);
      expect(n).toBeGreaterThan(0);
      expect(n).toBeLessThanOrEqual(5);
      y += n;
    }
    expect(y).toBe(128);
  });

  it('rejects unknown or repeated tiles and wrong byte lengths', () => {
    const plan = planTiles({ width: 32, height: 32, tile: 16, overlap: 4 });
    const asm = new BandAssembler(plan, { scale: 1, margin: 0, onRows: () => {} });
    const data = new Uint8Array(tileOutputBytes(plan, 0, 1));
    const fieldOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(TilingError);
        return (e as TilingError).field;
      }
      return undefined;
    };
    expect(fieldOf(() => asm.push(4, data))).toBe('tileIndex');
    expect(fieldOf(() => asm.push(0, data.subarray(1)))).toBe('data');
    asm.push(0, data);
    expect(fieldOf(() => asm.push(0, data))).toBe('tileIndex');
    expect(fieldOf(() => new BandAssembler(plan, { scale: 1, margin: 5, onRows: () => {} }))).toBe('margin');
    expect(fieldOf(() => new BandAssembler(plan, { scale: 1, margin: 1, channels: 0, onRows: () => {} }))).toBe(
      'channels',
    );
  });

  it('predicts its own peak with peakHeldBytes', () => {
    const rand = lcg(5);
    const plan = planTiles({ width: 61, height: 77, tile: 12, overlap: 5 });
    const opts = { scale: 2, margin: 1 };
    for (const order of [undefined, shuffled(plan.tiles.length, rand)]) {
      const asm = new BandAssembler(plan, { ...opts, onRows: () => {} });
      for (const i of order ?? plan.tiles.map((t) => t.index)) asm.push(i, new Uint8Array(tileOutputBytes(plan, i, 2)));
      expect(asm.peakHeldBytes).toBe(peakHeldBytes(plan, opts, order));
    }
  });

  it('holds about one tile row for a gigapixel output (8192² → 32768² RGB at ×4, tile 512)', () => {
    const plan = planTiles({ width: 8192, height: 8192, tile: 512, overlap: 16 });
    const opts = { scale: 4, margin: 10 };
    const peak = peakHeldBytes(plan, opts);
    const rowOutWidth = (8192 + 2 * 16 * 15) * 4; // 16 inputs, 15 internal boundaries
    const oneInteriorRow = rowOutWidth * (512 + 32) * 4 * 3;
    // The row above keeps only what the seam below it still needs: the tile's rows from where the next
    // row's weights start (overlap − margin above the boundary) to its bottom (overlap below it).
    const seamStrip = rowOutWidth * (16 + (16 - 10)) * 4 * 3;
    expect(peak).toBe(oneInteriorRow + seamStrip); // 235,600,896 bytes ≈ 236 MB (two whole rows: 453 MB)
    const fullOutput = 32768 * 32768 * 3; // 3.2 GB
    expect(peak / fullOutput).toBeLessThan(0.08);
    const asm = new BandAssembler(planTiles({ width: 8192, height: 64, tile: 512, overlap: 16 }), {
      ...opts,
      onRows: () => {},
    });
    expect(asm.accumulatorBytes).toBeLessThanOrEqual(8 * 1024 * 1024);
  });
});
