import { describe, expect, it } from 'vitest';
import { absStats, dummyModel, dummySampleDeter } from './diffusers-test-fixtures.js';
import { DDPMScheduler, type DDPMSchedulerConfig } from './ddpm.js';
import { SchedulerConfigError, SchedulerStateError } from './errors.js';
import { createGenerator } from './generator.js';

// diffusers tests/schedulers/test_scheduler_ddpm.py: get_scheduler_config (1000 steps, linear 0.0001–0.02,
// fixed_small, clip_sample) and full_loop over every training timestep in reverse with torch.manual_seed(0) noise.
// Published: test_full_loop_no_noise sum 258.9606 / mean 0.3372; test_full_loop_with_v_prediction 202.0296 / 0.2631.
const CONFIG: Partial<DDPMSchedulerConfig> = {
  numTrainTimesteps: 1000,
  betaStart: 0.0001,
  betaEnd: 0.02,
  betaSchedule: 'linear',
  varianceType: 'fixed_small',
  clipSample: true,
};

function fullLoop(config: Partial<DDPMSchedulerConfig>) {
  const s = new DDPMScheduler({ ...CONFIG, ...config });
  const gen = createGenerator(0);
  let x = dummySampleDeter();
  for (let t = 999; t >= 0; t--) x = s.step(dummyModel(x, t), t, x, { generator: gen }).prevSample;
  return absStats(x);
}

describe('DDPMScheduler reproduces diffusers', () => {
  it.each([
    ['test_full_loop_no_noise', {}, 258.9606, 0.3372],
    ['test_full_loop_with_v_prediction', { predictionType: 'v_prediction' as const }, 202.0296, 0.2631],
  ])('%s', (_name, config, sum, mean) => {
    const r = fullLoop(config);
    expect(Math.abs(r.sum - sum)).toBeLessThan(1e-2);
    expect(Math.abs(r.mean - mean)).toBeLessThan(1e-3);
  });

  it('set_timesteps spacings as diffusers (leading with steps_offset, trailing, linspace); prev of the last is −1', () => {
    const s = new DDPMScheduler({ stepsOffset: 1 });
    s.setTimesteps(5);
    expect(Array.from(s.timesteps)).toEqual([801, 601, 401, 201, 1]);
    expect(s.previousTimestep(801)).toBe(601);
    expect(s.previousTimestep(1)).toBe(-1);
    const tr = new DDPMScheduler({ timestepSpacing: 'trailing' });
    tr.setTimesteps(4);
    expect(Array.from(tr.timesteps)).toEqual([999, 749, 499, 249]);
    const li = new DDPMScheduler({ timestepSpacing: 'linspace' });
    li.setTimesteps(3);
    expect(Array.from(li.timesteps)).toEqual([999, 500, 0]);
    expect(() => s.previousTimestep(500)).toThrow(SchedulerStateError);
  });

  it('v-prediction with x̂₀ = √ᾱ·x − √(1 − ᾱ)·v, and noise only while t > 0', () => {
    const s = new DDPMScheduler({
      predictionType: 'v_prediction',
      clipSample: false,
      betaSchedule: 'scaled_linear',
      betaStart: 0.00085,
      betaEnd: 0.018,
    });
    s.setTimesteps(10);
    const x = new Float32Array(16).fill(0.3);
    const v = new Float32Array(16).fill(-0.2);
    const t = s.timesteps[0];
    const r = s.step(v, t, x, { noise: new Float32Array(16) });
    const a = s.alphasCumprod[t];
    expect(r.predOriginalSample![0]).toBeCloseTo(Math.sqrt(a) * 0.3 + Math.sqrt(1 - a) * 0.2, 5);
    const withNoise = s.step(v, t, x, { noise: new Float32Array(16).fill(1) }).prevSample;
    expect(withNoise[0]).toBeGreaterThan(r.prevSample[0]);
    const s0 = new DDPMScheduler({ timestepSpacing: 'linspace' });
    s0.setTimesteps(3);
    expect(() => s0.step(v, 0, x)).not.toThrow(); // t = 0 draws nothing
    expect(() => s0.step(v, 500, x)).toThrow(/generator/);
    expect(() => new DDPMScheduler({ varianceType: 'learned' as never })).toThrow(SchedulerConfigError);
  });
});
