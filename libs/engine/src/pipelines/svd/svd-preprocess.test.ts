import { describe, expect, it } from 'vitest';
import { testImage } from '../../../test-support/svd.js';
import {
  clipPixelValues,
  framesToRgb,
  gaussianKernel,
  resizeRgbLanczos,
  resizeWithAntialiasing,
  rgbToChw,
  type ChwImage,
} from './svd-preprocess.js';

/** Largest |data[i] − expected(i)|. */
function maxDeviation(data: Float32Array, expected: (i: number) => number): number {
  let m = 0;
  for (let i = 0; i < data.length; i++) m = Math.max(m, Math.abs(data[i] - expected(i)));
  return m;
}

const constant = (w: number, h: number, v: number): ChwImage => ({
  channels: 3,
  width: w,
  height: h,
  data: new Float32Array(3 * w * h).fill(v),
});

describe('CLIP preprocessing (diffusers _resize_with_antialiasing)', () => {
  it('Gaussian taps are normalised and symmetric', () => {
    const k = gaussianKernel(7, 1.79);
    expect(k.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    for (let i = 0; i < 3; i++) expect(k[i]).toBeCloseTo(k[6 - i], 15);
    expect(k[3]).toBeGreaterThan(k[2]);
    // σ = 0.001 (no downscale): all weight on the centre tap
    expect(Array.from(gaussianKernel(3, 0.001))).toEqual([0, 1, 0]);
  });

  it('keeps a constant image constant at any size', () => {
    for (const [w, h] of [
      [1024, 576],
      [64, 64],
      [300, 100],
    ]) {
      const out = resizeWithAntialiasing(constant(w, h, 0.37), 224, 224);
      expect([out.width, out.height, out.data.length]).toEqual([224, 224, 3 * 224 * 224]);
      expect(maxDeviation(out.data, () => 0.37)).toBeLessThan(1e-5);
    }
  });

  it('is the identity at the same size and interpolates a linear ramp exactly inside the image', () => {
    const img = rgbToChw(testImage(224, 224, 1), 2 / 255, -1);
    const same = resizeWithAntialiasing(img, 224, 224);
    expect(maxDeviation(same.data, (i) => img.data[i])).toBeLessThan(1e-5);

    // a horizontal ramp upsampled 9 → 17 (align_corners: source x = dst/2): bicubic reproduces linear data
    const ramp: ChwImage = { channels: 1, width: 9, height: 2, data: new Float32Array(18) };
    for (let y = 0; y < 2; y++) for (let x = 0; x < 9; x++) ramp.data[y * 9 + x] = x;
    const up = resizeWithAntialiasing(ramp, 2, 17);
    for (let x = 2; x < 15; x++) expect(up.data[x]).toBeCloseTo(x / 2, 5);
  });

  it('blurs before downscaling (antialiasing): a fine checkerboard becomes nearly flat grey', () => {
    const w = 1024;
    const h = 576;
    const board: ChwImage = { channels: 1, width: w, height: h, data: new Float32Array(w * h) };
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) board.data[y * w + x] = (x + y) % 2 === 0 ? 1 : -1;
    const out = resizeWithAntialiasing(board, 224, 224);
    let max = 0;
    for (const v of out.data) max = Math.max(max, Math.abs(v));
    expect(max).toBeLessThan(0.35);
  });

  it('normalises with CLIP mean/std after mapping back to [0, 1]', () => {
    const img = { width: 32, height: 16, data: new Uint8Array(32 * 16 * 3).fill(255) };
    const mean = [0.48145466, 0.4578275, 0.40821073];
    const std = [0.26862954, 0.26130258, 0.27577711];
    const px = clipPixelValues(img, mean, std);
    expect(px).toHaveLength(3 * 224 * 224);
    for (let c = 0; c < 3; c++) expect(px[c * 224 * 224 + 1000]).toBeCloseTo((1 - mean[c]) / std[c], 4);
  });
});

describe('conditioning image resize (Lanczos-3, Pillow-style)', () => {
  it('returns the image itself at the target size', () => {
    const img = testImage(64, 48);
    expect(resizeRgbLanczos(img, 64, 48)).toBe(img);
  });

  it('keeps flat colours flat and preserves the mean of a detailed image when downscaling', () => {
    const flat = { width: 90, height: 50, data: new Uint8Array(90 * 50 * 3).fill(123) };
    const out = resizeRgbLanczos(flat, 64, 32);
    expect([out.width, out.height]).toEqual([64, 32]);
    expect(out.data.every((v) => v === 123)).toBe(true);

    const img = testImage(256, 256, 2);
    const small = resizeRgbLanczos(img, 64, 64);
    const mean = (d: Uint8Array): number => d.reduce((a, b) => a + b, 0) / d.length;
    expect(Math.abs(mean(small.data) - mean(img.data))).toBeLessThan(1.5);
  });

  it('upscales without overshooting a step edge by more than Lanczos ringing allows', () => {
    const img = { width: 8, height: 1, data: new Uint8Array(24) };
    for (let x = 4; x < 8; x++) img.data.fill(200, x * 3, x * 3 + 3);
    const up = resizeRgbLanczos(img, 32, 1);
    expect(up.data[0]).toBe(0);
    expect(up.data[31 * 3]).toBe(200);
    const peak = Math.max(...up.data);
    expect(peak).toBeGreaterThan(200); // Lanczos rings (a bilinear or box filter would not)
    expect(peak).toBeLessThan(235);
  });
});

describe('frame postprocessing', () => {
  it('maps [−1, 1] to [0, 255] with clamping and rounding (toRgb8)', () => {
    // 2 frames of 1×2 pixels, planar [2,3,1,2]
    const sample = Float32Array.from([-1, 1, 0, 0.5, -2, 2, /* frame 1 */ 0.002, -0.002, 1, 1, 1, 1]);
    const [a, b] = framesToRgb(sample, 2, 1, 2);
    expect(Array.from(a.data)).toEqual([0, 128, 0, 255, 191, 255]);
    expect(Array.from(b.data)).toEqual([128, 255, 255, 127, 255, 255]);
  });
});
