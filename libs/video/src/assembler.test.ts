import { describe, expect, it } from 'vitest';
import { ClipAssembler, assembleClip } from './assembler.js';
import { planFrameBatches, type FrameBatch } from './plan.js';
import { ClipAssemblyError, VideoPlanError } from './errors.js';

const W = 48;
const H = 27;

/** Seeded PRNG (mulberry32). */
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

/** A textured W × H RGB8 image, 3·W wide, and a clip panning across it with wrap-around: every frame has the
 * same pixels in another order, hence identical colour statistics. */
function panClip(frames: number, seed = 1): Uint8Array[] {
  const r = rng(seed);
  const tex = new Uint8Array(W * H * 3).map((_, i) => 30 + ((i % 3) * 60 + (i % (W * 3)) * 0.5 + 80 * r()));
  return Array.from({ length: frames }, (_, k) => {
    const out = new Uint8Array(W * H * 3);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++)
        out.set(tex.subarray((y * W + ((x + k) % W)) * 3, (y * W + ((x + k) % W)) * 3 + 3), (y * W + x) * 3);
    }
    return out;
  });
}

/** Index of the first frame that differs, or -1 when both clips have the same bytes (fast, unlike toEqual). */
const firstDiff = (a: Uint8Array[], b: Uint8Array[]) =>
  a.length !== b.length ? Math.min(a.length, b.length) : a.findIndex((f, i) => !Buffer.from(f).equals(b[i]));

const cut = (clip: Uint8Array[], b: FrameBatch) => clip.slice(b.start, b.start + b.count);

/** Per channel `v·gain + offset`, clamped. */
const drift = (f: Uint8Array, gain: number[], offset: number[]) =>
  f.map((v, i) => Math.max(0, Math.min(255, Math.round(v * gain[i % 3] + offset[i % 3]))));

function shuffled(n: number, seed: number): number[] {
  const r = rng(seed);
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

const meanAbsError = (a: Uint8Array[], b: Uint8Array[]) => {
  let s = 0;
  let n = 0;
  a.forEach((f, k) => f.forEach((v, i) => ((s += Math.abs(v - b[k][i])), n++)));
  return s / n;
};

describe('ClipAssembler', () => {
  const plan = planFrameBatches({ totalFrames: 60, framesPerBatch: 25, overlap: 4, mode: 'chained' });
  const base = { width: W, height: H, totalFrames: 60, batches: plan, overlap: 4 };

  it('reassembles consistent batches into the original clip, byte for byte, with and without colour matching', () => {
    const clip = panClip(60);
    for (const colourMatch of [false, true]) {
      const { frames } = assembleClip({ ...base, colourMatch }, (b) => cut(clip, plan[b]));
      expect(firstDiff(frames, clip)).toBe(-1);
    }
  });

  it('cross-fades the overlap with weights (i + 1) / (overlap + 1) on the later batch', () => {
    const flat = (v: number, n: number) => Array.from({ length: n }, () => new Uint8Array(W * H * 3).fill(v));
    const { frames } = assembleClip({ ...base, colourMatch: false }, (b) => flat([0, 250, 0][b], plan[b].count));
    expect(frames.map((f) => f[0])).toEqual([
      ...new Array(19).fill(0),
      50,
      100,
      150,
      200, // frames 19..22: batch 1 fades in
      ...new Array(15).fill(250),
      200,
      150,
      100,
      50, // frames 38..41: batch 2 fades in
      ...new Array(18).fill(0),
    ]);
    for (const f of frames) expect(f.every((v) => v === f[0])).toBe(true);
  });

  it('emits frames strictly in order, as soon as they are determined', () => {
    const clip = panClip(60);
    const seen: number[] = [];
    const asm = new ClipAssembler({ ...base, colourMatch: true, onFrame: (i) => seen.push(i) });
    expect(asm.push(2, cut(clip, plan[2]))).toBe(0); // nothing before batch 0
    expect(asm.push(0, cut(clip, plan[0]))).toBe(19); // frames 0..18; 19..22 need batch 1
    expect(asm.heldFrames).toBe(4 + 22);
    expect(asm.push(1, cut(clip, plan[1]))).toBe(41);
    expect(asm.done).toBe(true);
    expect(asm.heldFrames).toBe(0);
    expect(seen).toEqual(Array.from({ length: 60 }, (_, i) => i));
  });

  it('passes frames that need no change through without a copy', () => {
    const clip = panClip(60);
    const { frames } = assembleClip({ ...base, colourMatch: false }, (b) => cut(clip, plan[b]));
    expect(frames[0]).toBe(clip[0]);
    expect(frames[30]).toBe(clip[30]);
    expect(frames[20]).not.toBe(clip[20]); // blended
  });

  it('gives identical bytes for every push order (drifted batches, colour matching on)', () => {
    const clip = panClip(60, 3);
    const batches = plan.map((b) =>
      cut(clip, b).map((f) => drift(f, [1 + 0.05 * b.index, 1, 1 - 0.04 * b.index], [8 * b.index, -5 * b.index, 0])),
    );
    const reference = assembleClip({ ...base, colourMatch: true }, (b) => batches[b]).frames;
    for (let seed = 1; seed <= 12; seed++) {
      const order = shuffled(plan.length, seed);
      const { frames } = assembleClip({ ...base, colourMatch: true }, (b) => batches[b], order);
      expect(firstDiff(frames, reference)).toBe(-1);
    }
  });

  it('pulls chained batches whose colours drift further each batch back to the first batch', () => {
    const long = planFrameBatches({ totalFrames: 120, framesPerBatch: 25, overlap: 4, mode: 'chained' });
    const clip = panClip(120, 7);
    // chained SVD drift: every batch inherits the previous tint and adds its own
    const batches = long.map((b) =>
      cut(clip, b).map((f) =>
        drift(f, [1.06 ** b.index, 1, 0.95 ** b.index], [6 * b.index, 3 * b.index, -4 * b.index]),
      ),
    );
    const opts = { width: W, height: H, totalFrames: 120, batches: long, overlap: 4 };
    const raw = assembleClip({ ...opts, colourMatch: false }, (b) => batches[b]).frames;
    const matched = assembleClip({ ...opts, colourMatch: true }, (b) => batches[b]).frames;
    const before = meanAbsError(raw, clip);
    const after = meanAbsError(matched, clip);
    expect(before).toBeGreaterThan(15);
    expect(after).toBeLessThan(2);
    // batch 0 is the reference and is left alone
    expect(firstDiff(matched.slice(0, long[1].start), batches[0].slice(0, long[1].start))).toBe(-1);
  });

  it('holds about one batch plus one overlap when batches arrive in plan order', () => {
    const clip = panClip(60);
    const inOrder = assembleClip({ ...base, colourMatch: true }, (b) => cut(clip, plan[b]));
    // batch 0 (23) → 4 left; + batch 1 (23) = 27 → 4 left; + batch 2 (22) = 26
    expect(inOrder.peakHeldFrames).toBe(27);
    const reversed = assembleClip({ ...base, colourMatch: true }, (b) => cut(clip, plan[b]), [2, 1, 0]);
    expect(reversed.peakHeldFrames).toBe(68); // every pushed frame: nothing is due before batch 0
  });

  it('rejects bad options and bad pushes, naming the field', () => {
    expect(() => new ClipAssembler({ ...base, width: 0, colourMatch: false, onFrame: () => {} })).toThrow(
      ClipAssemblyError,
    );
    expect(() => new ClipAssembler({ ...base, totalFrames: 61, colourMatch: false, onFrame: () => {} })).toThrow(
      VideoPlanError,
    );
    expect(() => new ClipAssembler({ ...base, colourMatch: true, maxGain: 0, onFrame: () => {} })).toThrow(/maxGain/);
    const asm = new ClipAssembler({ ...base, colourMatch: false, onFrame: () => {} });
    const frames = panClip(23);
    const fail = (fn: () => unknown, field: string, text: RegExp) => {
      try {
        fn();
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(ClipAssemblyError);
        expect((e as ClipAssemblyError).field).toBe(field);
        expect((e as Error).message).toMatch(text);
      }
    };
    fail(() => asm.push(3, frames), 'batch_index', /\[0, 3\)/);
    fail(() => asm.push(0, frames.slice(1)), 'frames', /must have 23 frames, got 22/);
    fail(
      () => asm.push(0, [...frames.slice(1), new Uint8Array(5)]),
      'frames',
      /frame 22 of batch 0 must be .* 3888 bytes, got 5/,
    );
    asm.push(0, frames);
    fail(() => asm.push(0, frames), 'batch_index', /already pushed/);
  });
});
