import { describe, expect, it } from 'vitest';
import { alphasCumprod, makeBetas, rescaleZeroTerminalSnr } from './noise-schedule.js';
import { cumprodF32, interpOnIndexGrid, npArange, npLinspace, roundHalfEven, torchLinspaceF32 } from './numeric.js';
import { karrasSigmas, sigmaToT } from './sigma-schedules.js';
import { dynamicThreshold } from './threshold.js';

describe('NumPy / torch numerics', () => {
  it('np.round rounds half to even', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 499.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, 500, 2, 3]);
  });

  it('np.linspace ends exactly at stop; np.arange can overshoot the obvious count as NumPy does', () => {
    const y = npLinspace(0, 999, 11);
    expect(y[10]).toBe(999);
    expect(y[5]).toBe(5 * (999 / 10));
    expect(npArange(1000, 0, -100).length).toBe(10);
    expect(npArange(1000, 0, -1000 / 3)).toHaveLength(Math.ceil(1000 / (1000 / 3)));
  });

  it('torch.linspace in float32 hits both ends and is symmetric in construction', () => {
    const b = torchLinspaceF32(0.0001, 0.02, 1000);
    expect(b[0]).toBe(Math.fround(0.0001));
    expect(b[999]).toBe(Math.fround(0.02));
    expect(b.length).toBe(1000);
  });

  it('cumprod accumulates in double and rounds each partial product to float32', () => {
    const a = Float32Array.from([0.9999, 0.9998, 0.9997]);
    const out = cumprodF32(a);
    expect(out[2]).toBe(Math.fround(a[0] * a[1] * a[2]));
  });

  it('np.interp on the index grid: exact at grid points, linear between, clamped outside', () => {
    const fp = [1, 3, 7];
    expect([-1, 0, 0.5, 1, 1.25, 2, 5].map((x) => interpOnIndexGrid(x, fp))).toEqual([1, 1, 2, 3, 4, 7, 7]);
  });

  it('beta schedules: linear ends, scaled_linear squares, cosine caps at 0.999', () => {
    const base = {
      numTrainTimesteps: 1000,
      betaStart: 0.00085,
      betaEnd: 0.012,
      trainedBetas: null,
      rescaleBetasZeroSnr: false,
    };
    const scaled = makeBetas({ ...base, betaSchedule: 'scaled_linear' });
    expect(scaled[0]).toBeCloseTo(0.00085, 9);
    expect(scaled[999]).toBeCloseTo(0.012, 8);
    const cos = makeBetas({ ...base, betaSchedule: 'squaredcos_cap_v2' });
    expect(Math.max(...cos)).toBeLessThanOrEqual(Math.fround(0.999));
    expect(cos[999]).toBe(Math.fround(0.999));
  });

  it('zero-terminal-SNR rescale makes the last ᾱ 0 and keeps the first', () => {
    const base = {
      numTrainTimesteps: 1000,
      betaStart: 0.00085,
      betaEnd: 0.012,
      betaSchedule: 'scaled_linear' as const,
      trainedBetas: null,
    };
    const plain = alphasCumprod({ ...base, rescaleBetasZeroSnr: false }, false);
    const rescaled = rescaleZeroTerminalSnr(makeBetas({ ...base, rescaleBetasZeroSnr: false }));
    expect(rescaled[999]).toBe(1);
    const ac = alphasCumprod({ ...base, rescaleBetasZeroSnr: true }, false);
    expect(ac[999]).toBe(0);
    expect(ac[0]).toBeCloseTo(plain[0], 6);
    expect(alphasCumprod({ ...base, rescaleBetasZeroSnr: true }, true)[999]).toBe(2 ** -24);
  });

  it('Karras sigmas run from σmax to σmin; sigmaToT inverts the training table', () => {
    const s = karrasSigmas(0.1, 10, 5);
    expect(s[0]).toBeCloseTo(10, 12);
    expect(s[4]).toBeCloseTo(0.1, 12);
    const logSigmas = Float32Array.from([0, 1, 2, 3].map((t) => Math.log(1 + t)));
    expect(sigmaToT(2, logSigmas)).toBeCloseTo(1, 6);
    expect(sigmaToT(Math.exp((Math.log(2) + Math.log(3)) / 2), logSigmas)).toBeCloseTo(1.5, 6);
    expect(sigmaToT(0.5, logSigmas)).toBe(0);
    expect(sigmaToT(100, logSigmas)).toBe(3);
  });

  it('dynamic thresholding: per-item quantile, clamp(min 1, max sampleMaxValue), divide', () => {
    // Item 0: |x| = 0..9 → 0.9-quantile = 8.1 → s = min(max(8.1, 1), 4) = 4. Item 1: all small → s = 1.
    const x = Float32Array.from([...Array.from({ length: 10 }, (_, i) => (i % 2 ? -i : i)), ...Array(10).fill(0.5)]);
    const out = dynamicThreshold(x, 2, 0.9, 4);
    expect(Array.from(out.subarray(0, 10))).toEqual([0, -0.25, 0.5, -0.75, 1, -1, 1, -1, 1, -1]);
    expect(Array.from(out.subarray(10))).toEqual(Array(10).fill(0.5));
    // sampleMaxValue < 1: torch.clamp(min=1, max=0.5) gives 0.5 everywhere.
    expect(Array.from(dynamicThreshold(Float32Array.from([0.1, 0.2]), 1, 0.5, 0.5))).toEqual(
      [0.2, 0.4].map(Math.fround),
    );
    expect(() => dynamicThreshold(new Float32Array(5), 2, 0.9, 1)).toThrow(RangeError);
  });
});
