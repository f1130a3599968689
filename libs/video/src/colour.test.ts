import { describe, expect, it } from 'vitest';
import {
  ColourStatsAccumulator,
  applyColourLut,
  colourMatch,
  colourTransferLut,
  isIdentityLut,
  measureColourStats,
} from './colour.js';
import { ClipAssemblyError } from './errors.js';

/** Seeded PRNG (mulberry32) so the synthetic frames are the same on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A smooth colour field plus noise, w × h RGB8: enough structure for mean/std to mean something. */
function texture(w: number, h: number, seed: number): Uint8Array {
  const r = rng(seed);
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = (y * w + x) * 3;
      out[p] = 40 + 150 * (x / w) + 20 * r();
      out[p + 1] = 60 + 120 * (y / h) + 20 * r();
      out[p + 2] = 90 + 60 * Math.sin((x + y) / 9) + 20 * r();
    }
  }
  return out;
}

/** Per channel `v·gain + offset`, clamped: a colour drift. */
function drift(frame: Uint8Array, gain: number[], offset: number[]): Uint8Array {
  return frame.map((v, i) => Math.max(0, Math.min(255, Math.round(v * gain[i % 3] + offset[i % 3]))));
}

const meanAbsError = (a: Uint8Array[], b: Uint8Array[]) => {
  let s = 0;
  let n = 0;
  a.forEach((f, k) => f.forEach((v, i) => ((s += Math.abs(v - b[k][i])), n++)));
  return s / n;
};

describe('colour statistics', () => {
  it('are exact per-channel mean and population std', () => {
    const s = measureColourStats([Uint8Array.of(0, 10, 100, 2, 10, 200)]);
    expect(s.pixels).toBe(2);
    expect(s.mean).toEqual([1, 10, 150]);
    expect(s.std).toEqual([1, 0, 50]);
  });

  it('do not depend on frame order', () => {
    const frames = [1, 2, 3].map((k) => texture(16, 9, k));
    const a = new ColourStatsAccumulator();
    frames.forEach((f) => a.add(f));
    const b = new ColourStatsAccumulator();
    [...frames].reverse().forEach((f) => b.add(f));
    expect(a.stats()).toEqual(b.stats());
  });

  it('reject empty input and frames that are not RGB8', () => {
    expect(() => measureColourStats([])).toThrow(ClipAssemblyError);
    expect(() => measureColourStats([new Uint8Array(4)])).toThrow(/multiple of 3/);
  });
});

describe('colourMatch', () => {
  it('is the exact identity when the statistics are equal', () => {
    const frames = [texture(64, 36, 1), texture(64, 36, 2)];
    const s = measureColourStats(frames);
    expect(isIdentityLut(colourTransferLut(s, s))).toBe(true);
    for (const f of frames) expect(colourMatch(f, s, s)).toEqual(f);
  });

  it('keeps a constant clip constant', () => {
    const flat = new Uint8Array(32 * 3).map((_, i) => [10, 200, 30][i % 3]);
    const s = measureColourStats([flat]);
    // onto itself: unchanged
    expect(colourMatch(flat, s, s)).toEqual(flat);
    // onto a textured reference: still one colour (the reference's mean), never noise
    const ref = measureColourStats([texture(32, 18, 5)]);
    const out = colourMatch(flat, s, ref);
    const px = [out[0], out[1], out[2]];
    for (let p = 0; p < out.length; p += 3) expect([out[p], out[p + 1], out[p + 2]]).toEqual(px);
    expect(px).toEqual(ref.mean.map(Math.round));
  });

  it('pulls a colour-shifted batch back to the reference', () => {
    const reference = [1, 2, 3, 4].map((k) => texture(96, 54, k));
    // the "same" frames after a chained-SVD-style drift: warmer, brighter, lower blue contrast
    const drifted = reference.map((f) => drift(f, [1.08, 1.0, 0.85], [18, 6, -12]));
    const from = measureColourStats(drifted);
    const to = measureColourStats(reference);
    const fixed = drifted.map((f) => colourMatch(f, from, to));
    const before = meanAbsError(drifted, reference);
    const after = meanAbsError(fixed, reference);
    expect(before).toBeGreaterThan(10);
    expect(after).toBeLessThan(1.0);
    expect(after).toBeLessThan(before / 10);
    const back = measureColourStats(fixed);
    for (let c = 0; c < 3; c++) {
      expect(Math.abs(back.mean[c] - to.mean[c])).toBeLessThan(0.5);
      expect(Math.abs(back.std[c] - to.std[c])).toBeLessThan(0.5);
    }
  });

  it('clamps the contrast gain to maxGain', () => {
    const from = { mean: [128, 128, 128] as const, std: [10, 10, 10] as const, pixels: 1 };
    const to = { mean: [128, 128, 128] as const, std: [80, 5, 10] as const, pixels: 1 };
    const lut = colourTransferLut(from, to, { maxGain: 2 });
    expect(lut[138] - lut[128]).toBe(20); // gain 8 clamped to 2
    expect(lut[256 + 138] - lut[256 + 128]).toBe(5); // gain 0.5 allowed
    expect(() => colourTransferLut(from, to, { maxGain: 0.5 })).toThrow(/maxGain must be a finite number ≥ 1/);
  });

  it('applies a table in place when asked', () => {
    const f = texture(8, 8, 9);
    const s = measureColourStats([f]);
    const lut = colourTransferLut(s, { ...s, mean: [s.mean[0] + 10, s.mean[1], s.mean[2]] });
    const copy = applyColourLut(f, lut);
    expect(applyColourLut(f, lut, f)).toBe(f);
    expect(f).toEqual(copy);
  });
});
