import { describe, expect, it } from 'vitest';
import { createGenerator } from './generator.js';

const round4 = (xs: Float32Array) => Array.from(xs, (x) => Math.round(x * 1e4) / 1e4);

describe('createGenerator (torch-compatible CPU generator)', () => {
  it('is MT19937: the 10000th output for seed 5489 is 4123659995 (the C++ standard check value)', () => {
    const g = createGenerator(5489);
    let last = 0;
    for (let i = 0; i < 10000; i++) last = g.nextUint32();
    expect(last).toBe(4123659995);
  });

  it('randn(16) equals torch.manual_seed(0); torch.randn(4, 4) (the n >= 16 normal_fill path)', () => {
    // Published torch output, e.g. kornia's CenterCrop docstring: torch.manual_seed(0); torch.randn(1, 1, 4, 4).
    expect(round4(createGenerator(0).randn(16))).toEqual([
      -1.1258, -1.1524, -0.2506, -0.4339, 0.8487, 0.692, -0.316, -2.1152, 0.3223, -1.2633, 0.35, 0.3081, 0.1198, 1.2377,
      1.1168, -0.2473,
    ]);
  });

  it('randn(6) equals torch.manual_seed(0); torch.randn(2, 3) (the n < 16 serial path)', () => {
    expect(round4(createGenerator(0).randn(6))).toEqual([1.541, -0.2934, -2.1788, 0.5684, -1.0845, -1.3986]);
  });

  it('recomputes the last 16 values from fresh uniforms when n % 16 != 0, like ATen', () => {
    const a = createGenerator(7).randn(20);
    const b = createGenerator(7).randn(16);
    expect(Array.from(a.subarray(0, 4))).toEqual(Array.from(b.subarray(0, 4)));
    expect(Array.from(a.subarray(4, 16))).not.toEqual(Array.from(b.subarray(4, 16)));
  });

  it('is reproducible, seed-sensitive, and uses only the low 32 bits of the seed (as torch does)', () => {
    const x = createGenerator(1234).randn(1000);
    expect(Array.from(createGenerator(1234).randn(1000))).toEqual(Array.from(x));
    expect(Array.from(createGenerator(1235).randn(1000))).not.toEqual(Array.from(x));
    expect(Array.from(createGenerator(2 ** 32 + 1234).randn(1000))).toEqual(Array.from(x));
    expect(Array.from(createGenerator(2n ** 40n + 1234n).randn(1000))).toEqual(Array.from(x));
    expect(() => createGenerator(-1)).toThrow(RangeError);
    expect(() => createGenerator(1.5)).toThrow(RangeError);
  });

  it('draws standard normal noise (mean ≈ 0, variance ≈ 1, ~4.6% beyond 2σ)', () => {
    const x = createGenerator(42).randn(200_000);
    let sum = 0;
    let sq = 0;
    let tails = 0;
    for (const v of x) {
      sum += v;
      sq += v * v;
      if (Math.abs(v) > 2) tails++;
    }
    const mean = sum / x.length;
    expect(Math.abs(mean)).toBeLessThan(0.01);
    expect(Math.abs(sq / x.length - mean * mean - 1)).toBeLessThan(0.015);
    expect(Math.abs(tails / x.length - 0.0455)).toBeLessThan(0.003);
  });

  it('advances: consecutive draws continue the stream', () => {
    const g = createGenerator(3);
    const first = g.randn(32);
    const second = g.randn(32);
    expect(Array.from(first)).not.toEqual(Array.from(second));
    expect(Array.from(createGenerator(3).randn(32))).toEqual(Array.from(first));
  });
});
