import { describe, expect, it } from 'vitest';
import { DDIMScheduler, type DDIMSchedulerConfig } from './ddim.js';
import { absStats, dummyModel, dummySampleDeter, fullLoop } from './diffusers-test-fixtures.js';
import { SchedulerStateError } from './errors.js';
import { createGenerator } from './generator.js';

// diffusers tests/schedulers/test_scheduler_ddim.py: get_scheduler_config + full_loop (10 steps, eta 0, no
// input scaling). Tolerances as diffusers.
const CONFIG: Partial<DDIMSchedulerConfig> = {
  numTrainTimesteps: 1000,
  betaStart: 0.0001,
  betaEnd: 0.02,
  betaSchedule: 'linear',
  clipSample: true,
};

describe('DDIMScheduler reproduces diffusers', () => {
  it.each([
    ['test_full_loop_no_noise', {}, undefined, 172.0067, 0.223967],
    ['test_full_loop_with_v_prediction', { predictionType: 'v_prediction' as const }, undefined, 52.5302, 0.0684],
    ['test_full_loop_with_set_alpha_to_one', { setAlphaToOne: true, betaStart: 0.01 }, undefined, 149.8295, 0.1951],
    ['test_full_loop_with_no_set_alpha_to_one', { setAlphaToOne: false, betaStart: 0.01 }, undefined, 149.0784, 0.1941],
    ['test_full_loop_with_noise (t_start 8)', {}, 8, 354.5418, 0.4616],
  ])('%s', (_name, config, tStart, sum, mean) => {
    const r = absStats(fullLoop(new DDIMScheduler({ ...CONFIG, ...config }), { tStart }));
    expect(Math.abs(r.sum - sum)).toBeLessThan(1e-2);
    expect(Math.abs(r.mean - mean)).toBeLessThan(1e-3);
  });

  it('test_variance: _get_variance values', () => {
    const s = new DDIMScheduler(CONFIG);
    const cases: [number, number, number][] = [
      [0, 0, 0],
      [420, 400, 0.14771],
      [980, 960, 0.3246],
      [487, 486, 0.00979],
      [999, 998, 0.02],
    ];
    for (const [t, prev, v] of cases) expect(Math.abs(s.getVariance(t, prev) - v)).toBeLessThan(1e-5);
  });

  it('test_steps_offset: leading spacing with stepsOffset 1 gives [801, 601, 401, 201, 1]', () => {
    const s = new DDIMScheduler({ ...CONFIG, stepsOffset: 1 });
    s.setTimesteps(5);
    expect(s.timesteps).toBeInstanceOf(Int32Array);
    expect(Array.from(s.timesteps)).toEqual([801, 601, 401, 201, 1]);
  });

  it('linspace and trailing spacings', () => {
    const lin = new DDIMScheduler({ ...CONFIG, timestepSpacing: 'linspace' });
    lin.setTimesteps(10);
    expect(Array.from(lin.timesteps)).toEqual([999, 888, 777, 666, 555, 444, 333, 222, 111, 0]);
    const tr = new DDIMScheduler({ ...CONFIG, timestepSpacing: 'trailing' });
    tr.setTimesteps(10);
    expect(Array.from(tr.timesteps)).toEqual([999, 899, 799, 699, 599, 499, 399, 299, 199, 99]);
  });
});

describe('DDIMScheduler with η > 0 (diffusers seeds torch here, so: invariants and reproducibility)', () => {
  const stepWith = (eta: number, opts: { seed?: number; noise?: Float32Array } = {}) => {
    const s = new DDIMScheduler(CONFIG);
    s.setTimesteps(10);
    const x = dummySampleDeter();
    const generator = opts.seed === undefined ? undefined : createGenerator(opts.seed);
    return { s, out: s.step(dummyModel(x, 500), 500, x, { eta, generator, noise: opts.noise }).prevSample, x };
  };

  it('adds σ_t·z on top of the η-dependent deterministic part, σ_t = η·√variance', () => {
    const z = createGenerator(11).randn(768);
    const { s, out } = stepWith(1, { noise: z });
    const zero = stepWith(1, { noise: new Float32Array(768) }).out;
    const std = Math.sqrt(s.getVariance(500, 400));
    for (let k = 0; k < 768; k += 13) expect(out[k] - zero[k]).toBeCloseTo(std * z[k], 4);
    // Drawing from a generator equals passing the same draw explicitly.
    expect(Array.from(stepWith(1, { seed: 11 }).out)).toEqual(Array.from(out));
  });

  it('η = 0 ignores the generator; η > 0 is reproducible per seed and needs a noise source', () => {
    expect(Array.from(stepWith(0, { seed: 1 }).out)).toEqual(Array.from(stepWith(0).out));
    expect(Array.from(stepWith(0.5, { seed: 1 }).out)).toEqual(Array.from(stepWith(0.5, { seed: 1 }).out));
    expect(Array.from(stepWith(0.5, { seed: 1 }).out)).not.toEqual(Array.from(stepWith(0.5, { seed: 2 }).out));
    expect(() => stepWith(0.5)).toThrow(SchedulerStateError);
  });

  it('addNoise is √ᾱ·x + √(1−ᾱ)·noise and the identity scaling holds', () => {
    const s = new DDIMScheduler(CONFIG);
    const x = Float32Array.from([1, 2]);
    const n = Float32Array.from([0.5, -1]);
    const a = s.alphasCumprod[250];
    const out = s.addNoise(x, n, 250);
    expect(out[1]).toBeCloseTo(Math.sqrt(a) * 2 - Math.sqrt(1 - a), 6);
    expect(s.scaleModelInput(x, 250)).toBe(x);
    expect(s.initNoiseSigma).toBe(1);
  });
});
