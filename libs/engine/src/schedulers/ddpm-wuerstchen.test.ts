import { describe, expect, it } from 'vitest';
import { dummyModel, dummySampleDeter } from './diffusers-test-fixtures.js';
import { DDPMWuerstchenScheduler } from './ddpm-wuerstchen.js';
import { torchLinspaceF32 } from './numeric.js';
import { SchedulerConfigError, SchedulerStateError } from './errors.js';
import { createGenerator } from './generator.js';

// diffusers ships no published full-loop sums for DDPMWuerstchenScheduler (tests/schedulers has no file for it), so
// the expectations are computed here in float64 straight from its formulas in
// diffusers/src/diffusers/schedulers/scheduling_ddpm_wuerstchen.py (v0.31): `_alpha_cumprod`, `set_timesteps`
// (torch.linspace(1.0, 0.0, n + 1)), `previous_timestep` and `step` (posterior mean + std·noise unless prev_t = 0).

/** ᾱ(t) in float64 (diffusers' `_alpha_cumprod`). */
function refAlphaCumprod(t: number, s = 0.008, scaler = 1): number {
  if (scaler > 1) t = 1 - (1 - t) ** scaler;
  else if (scaler < 1) t = t ** scaler;
  const init = Math.cos((s / (1 + s)) * Math.PI * 0.5) ** 2;
  const a = Math.cos(((t + s) / (1 + s)) * Math.PI * 0.5) ** 2 / init;
  return Math.min(Math.max(a, 0.0001), 0.9999);
}

/** One diffusers `step` in float64. */
function refStep(eps: ArrayLike<number>, t: number, prevT: number, x: ArrayLike<number>, z: ArrayLike<number>) {
  const ac = refAlphaCumprod(t);
  const acPrev = refAlphaCumprod(prevT);
  const alpha = ac / acPrev;
  const std = Math.sqrt(((1 - alpha) * (1 - acPrev)) / (1 - ac));
  return Array.from(x, (v, i) => {
    const mu = Math.sqrt(1 / alpha) * (v - ((1 - alpha) * eps[i]) / Math.sqrt(1 - ac));
    return mu + (prevT !== 0 ? std * z[i] : 0);
  });
}

describe('DDPMWuerstchenScheduler reproduces diffusers', () => {
  it('timesteps are torch.linspace(1, 0, n + 1) and ᾱ follows the clamped cosine schedule', () => {
    const s = new DDPMWuerstchenScheduler();
    s.setTimesteps(4);
    expect(Array.from(s.timesteps)).toEqual([1, 0.75, 0.5, 0.25, 0]);
    s.setTimesteps(20);
    expect(s.timesteps.length).toBe(21);
    expect(s.timesteps[0]).toBe(1);
    expect(s.timesteps[20]).toBe(0);
    expect(torchLinspaceF32(1, 0, 11)[3]).toBeCloseTo(0.7, 6);
    // Clamps at both ends: ᾱ(1) = cos²(π/2)/… = 0 → 1e-4; ᾱ(0) = 1 → 0.9999.
    expect(s.alphaCumprod(1)).toBeCloseTo(0.0001, 7);
    expect(s.alphaCumprod(0)).toBeCloseTo(0.9999, 6);
    for (const t of [0.1, 0.25, 0.5, 0.75, 0.9]) expect(s.alphaCumprod(t)).toBeCloseTo(refAlphaCumprod(t), 6);
    // scaler warps t before the cosine.
    const warped = new DDPMWuerstchenScheduler({ scaler: 2 });
    expect(warped.alphaCumprod(0.5)).toBeCloseTo(refAlphaCumprod(0.5, 0.008, 2), 6);
    expect(new DDPMWuerstchenScheduler({ scaler: 0.5 }).alphaCumprod(0.5)).toBeCloseTo(
      refAlphaCumprod(0.5, 0.008, 0.5),
      6,
    );
  });

  it('a 10-step full loop (dummy sample, dummy model, seeded noise) matches the float64 formulas', () => {
    const s = DDPMWuerstchenScheduler.fromDiffusersConfig({
      _class_name: 'DDPMWuerstchenScheduler',
      s: 0.008,
      scaler: 1,
    });
    s.setTimesteps(10);
    const gen = createGenerator(0);
    const refGen = createGenerator(0);
    let x = dummySampleDeter();
    let ref = Array.from(x);
    const ts = Array.from(s.timesteps);
    for (let i = 0; i < ts.length - 1; i++) {
      const t = ts[i];
      x = s.step(dummyModel(s.scaleModelInput(x), t), t, x, { generator: gen }).prevSample;
      ref = refStep(
        ref.map((v) => (v * t) / (t + 1)),
        t,
        ts[i + 1],
        ref,
        refGen.randn(ref.length),
      );
    }
    const sum = x.reduce((a, v) => a + Math.abs(v), 0);
    const refSum = ref.reduce((a, v) => a + Math.abs(v), 0);
    expect(Number.isFinite(sum) && sum > 0).toBe(true);
    expect(Math.abs(sum - refSum) / refSum).toBeLessThan(1e-4);
    expect(Math.abs(sum / x.length - refSum / ref.length)).toBeLessThan(1e-3);
    let maxErr = 0;
    for (let i = 0; i < x.length; i++) maxErr = Math.max(maxErr, Math.abs(x[i] - ref[i]));
    expect(maxErr).toBeLessThan(1e-3);
  });

  it('draws noise on every step, the last included (multiplied by 0 into t = 0), as diffusers', () => {
    const s = new DDPMWuerstchenScheduler();
    s.setTimesteps(2);
    const x = new Float32Array(32).fill(0.5);
    const eps = new Float32Array(32).fill(0.1);
    const a = s.step(eps, s.timesteps[1], x, { noise: new Float32Array(32).fill(3) }).prevSample;
    const b = s.step(eps, s.timesteps[1], x, { noise: new Float32Array(32).fill(-3) }).prevSample;
    expect(Array.from(a)).toEqual(Array.from(b)); // into t = 0: no noise term
    const c = s.step(eps, s.timesteps[0], x, { noise: new Float32Array(32).fill(3) }).prevSample;
    const d = s.step(eps, s.timesteps[0], x, { noise: new Float32Array(32).fill(-3) }).prevSample;
    expect(c[0]).not.toBe(d[0]);
    const g = createGenerator(7);
    s.step(eps, s.timesteps[1], x, { generator: g });
    const after = g.randn(16);
    expect(Array.from(after)).not.toEqual(Array.from(createGenerator(7).randn(16)));
  });

  it('addNoise mixes √ᾱ·x₀ + √(1 − ᾱ)·noise; bad config and misuse are named', () => {
    const s = new DDPMWuerstchenScheduler();
    const out = s.addNoise(new Float32Array([1, 2]), new Float32Array([0.5, -1]), 0.5);
    const a = refAlphaCumprod(0.5);
    expect(out[0]).toBeCloseTo(Math.sqrt(a) + Math.sqrt(1 - a) * 0.5, 5);
    expect(out[1]).toBeCloseTo(2 * Math.sqrt(a) - Math.sqrt(1 - a), 5);
    expect(() => new DDPMWuerstchenScheduler({ scaler: 0 })).toThrow(SchedulerConfigError);
    expect(() => s.step(new Float32Array(2), 1, new Float32Array(2), { generator: createGenerator(0) })).toThrow(
      SchedulerStateError,
    );
    s.setTimesteps(3);
    expect(() => s.step(new Float32Array(2), 0, new Float32Array(2), { generator: createGenerator(0) })).toThrow(
      /last of the schedule/,
    );
    expect(() => s.step(new Float32Array(2), 1, new Float32Array(2))).toThrow(/generator/);
  });
});
