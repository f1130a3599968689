import { describe, expect, it } from 'vitest';
import { SchedulerStateError } from './errors.js';
import { calculateShift, FlowMatchEulerDiscreteScheduler } from './flow-match-euler-discrete.js';
import { createGenerator } from './generator.js';

// diffusers has no full-loop expectations for this scheduler; its tests (test_scheduler_flow_match_euler*.py)
// check index_for_timestep and scale_noise, mirrored first. The schedule is checked against its formula.

describe('FlowMatchEulerDiscreteScheduler: diffusers index tests', () => {
  it('index_for_timestep handles float precision (an integer timestep finds 254.00001-like entries)', () => {
    const s = new FlowMatchEulerDiscreteScheduler();
    const ts = s.timesteps;
    const index = ts.findIndex((t) => t !== Math.round(t));
    expect(index).toBeGreaterThanOrEqual(0);
    expect(s.indexForTimestep(Math.round(ts[index]))).toBe(index);
  });

  it('index_for_timestep matches exact values to their own index', () => {
    const s = new FlowMatchEulerDiscreteScheduler();
    for (const i of [0, Math.floor(s.timesteps.length / 2), s.timesteps.length - 1]) {
      expect(s.indexForTimestep(s.timesteps[i])).toBe(i);
    }
  });

  it('index_for_timestep rejects a timestep halfway between two entries', () => {
    const s = new FlowMatchEulerDiscreteScheduler();
    expect(() => s.indexForTimestep((s.timesteps[0] + s.timesteps[1]) / 2)).toThrow(SchedulerStateError);
  });

  it('scale_noise with integer timesteps (training path) works: σ·noise + (1 − σ)·x', () => {
    const s = new FlowMatchEulerDiscreteScheduler();
    const x = createGenerator(0).randn(32);
    const n = createGenerator(1).randn(32);
    for (const t of [254, 500]) {
      const out = s.addNoise(x, n, t);
      const sigma = s.sigmas[s.indexForTimestep(t)];
      expect(out.every(Number.isFinite)).toBe(true);
      for (let k = 0; k < 32; k++) expect(out[k]).toBeCloseTo(sigma * n[k] + (1 - sigma) * x[k], 5);
    }
  });
});

describe('FlowMatchEulerDiscreteScheduler schedule', () => {
  it('shift 3, 10 steps: σ spread between the shifted training ends, then shifted again, then 0', () => {
    // numpy reference (float64, then float32): σ_max = 1, σ_min = f32(3·0.001/(1 + 2·0.001)) = 0.0029940121;
    // σ = shift(linspace(1000·σ_max, 1000·σ_min, 10)/1000) = [1, 0.9601293, 0.913349, 0.8576923, 0.79036826,
    //   0.7072785, 0.60215056, 0.46487603, 0.27804878, 0.00892857]; timesteps = 1000·σ.
    const s = new FlowMatchEulerDiscreteScheduler({ shift: 3 });
    s.setTimesteps(10);
    const sigmaMin = Math.fround((3 * 0.001) / (1 + 2 * 0.001));
    const expected = Array.from({ length: 10 }, (_, i) => {
      const u = (1000 + (i * (1000 * sigmaMin - 1000)) / 9) / 1000;
      return (3 * u) / (1 + 2 * u);
    });
    expect(s.sigmas).toHaveLength(11);
    expect(s.sigmas[10]).toBe(0);
    expected.forEach((sigma, i) => {
      expect(s.sigmas[i]).toBeCloseTo(sigma, 6);
      expect(s.timesteps[i]).toBeCloseTo(sigma * 1000, 3);
    });
    expect(s.sigmas[1]).toBeCloseTo(0.9601293, 6);
    expect(s.sigmas[9]).toBeCloseTo(0.00892857, 7);
  });

  it('dynamic shifting uses μ (exponential: e^μ/(e^μ + 1/σ − 1)); calculateShift is the pipelines’ line', () => {
    expect(calculateShift(256)).toBeCloseTo(0.5, 12);
    expect(calculateShift(4096)).toBeCloseTo(1.15, 12);
    const s = new FlowMatchEulerDiscreteScheduler({ useDynamicShifting: true });
    expect(() => s.setTimesteps(4)).toThrow(SchedulerStateError);
    const mu = calculateShift(1024);
    s.setTimesteps(4, { mu });
    const base = (1000 + (1 * (1 - 1000)) / 3) / 1000;
    expect(s.sigmas[1]).toBeCloseTo(Math.exp(mu) / (Math.exp(mu) + (1 / base - 1)), 6);
  });

  it('Euler on a straight flow is exact: v = noise − x₀ takes σ = 1 noise to x₀', () => {
    const s = new FlowMatchEulerDiscreteScheduler({ shift: 3 });
    s.setTimesteps(8);
    const x0 = createGenerator(2).randn(64);
    const noise = createGenerator(3).randn(64);
    const v = noise.map((n, k) => n - x0[k]);
    let x = s.addNoise(x0, noise, s.timesteps[0]);
    for (const t of s.timesteps) x = s.step(v, t, s.scaleModelInput(x, t)).prevSample;
    for (let k = 0; k < 64; k++) expect(x[k]).toBeCloseTo(x0[k], 5);
    expect(s.initNoiseSigma).toBe(1);
  });

  it('shiftTerminal stretches the schedule so that the last σ equals it', () => {
    const s = new FlowMatchEulerDiscreteScheduler({ shift: 3, shiftTerminal: 0.02 });
    s.setTimesteps(10);
    expect(s.sigmas[9]).toBeCloseTo(0.02, 6);
    expect(s.sigmas[0]).toBeCloseTo(1, 6);
  });
});
