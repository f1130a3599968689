import { describe, expect, it } from 'vitest';
import { absStats, dummySampleDeter, fullLoop } from './diffusers-test-fixtures.js';
import { EulerAncestralDiscreteScheduler } from './euler-ancestral-discrete.js';
import { SchedulerStateError } from './errors.js';
import { createGenerator } from './generator.js';

// diffusers tests/schedulers/test_scheduler_euler_ancestral.py. Those tests seed torch.manual_seed(0); because
// createGenerator reproduces torch's CPU generator, the same numbers come out here.
const CONFIG = { numTrainTimesteps: 1100, betaStart: 0.0001, betaEnd: 0.02, betaSchedule: 'linear' as const };

describe('EulerAncestralDiscreteScheduler reproduces diffusers (torch.manual_seed(0) noise)', () => {
  it.each([
    ['test_full_loop_no_noise / _device', 'epsilon' as const, undefined, 152.3192, 0.1983],
    ['test_full_loop_with_v_prediction', 'v_prediction' as const, undefined, 108.4439, 0.1412],
    ['test_full_loop_with_noise', 'epsilon' as const, 8, 56163.0508, 73.129],
  ])('%s', (_name, predictionType, tStart, sum, mean) => {
    const s = new EulerAncestralDiscreteScheduler({ ...CONFIG, predictionType });
    const r = absStats(
      fullLoop(s, {
        scaleByInitNoiseSigma: true,
        scaleInput: true,
        tStart,
        stepOptions: { generator: createGenerator(0) },
      }),
    );
    expect(Math.abs(r.sum - sum)).toBeLessThan(1e-2);
    expect(Math.abs(r.mean - mean)).toBeLessThan(1e-3);
  });
});

describe('EulerAncestralDiscreteScheduler invariants', () => {
  it('σ_down² + σ_up² = σ_next²: with zero noise the step lands where Euler to σ_down would', () => {
    const s = new EulerAncestralDiscreteScheduler(CONFIG);
    s.setTimesteps(10);
    const x = dummySampleDeter();
    const eps = x.map((v) => v * 0.3);
    const [sigma, next] = [s.sigmas[0], s.sigmas[1]];
    const up = Math.sqrt((next ** 2 * (sigma ** 2 - next ** 2)) / sigma ** 2);
    const down = Math.sqrt(next ** 2 - up ** 2);
    expect(down ** 2 + up ** 2).toBeCloseTo(next ** 2, 4);
    const out = s.step(eps, s.timesteps[0], x, { noise: new Float32Array(x.length) }).prevSample;
    for (let k = 0; k < x.length; k += 97) expect(out[k]).toBeCloseTo(x[k] + eps[k] * (down - sigma), 3);
  });

  it('adds exactly σ_up · noise: two noises differ by σ_up times their difference', () => {
    const mk = () => {
      const s = new EulerAncestralDiscreteScheduler(CONFIG);
      s.setTimesteps(10);
      return s;
    };
    const x = dummySampleDeter();
    const n1 = createGenerator(1).randn(x.length);
    const n2 = createGenerator(2).randn(x.length);
    const a = mk().step(x, 1099, x, { noise: n1 }).prevSample;
    const b = mk().step(x, 1099, x, { noise: n2 }).prevSample;
    const s = mk();
    const up = Math.sqrt((s.sigmas[1] ** 2 * (s.sigmas[0] ** 2 - s.sigmas[1] ** 2)) / s.sigmas[0] ** 2);
    for (let k = 0; k < x.length; k += 31) expect(a[k] - b[k]).toBeCloseTo(up * (n1[k] - n2[k]), 3);
  });

  it('is reproducible per seed, draws one randn per step (last step included), and needs a noise source', () => {
    const run = (seed: number) =>
      fullLoop(new EulerAncestralDiscreteScheduler(CONFIG), {
        scaleInput: true,
        stepOptions: { generator: createGenerator(seed) },
      });
    expect(Array.from(run(5))).toEqual(Array.from(run(5)));
    expect(Array.from(run(5))).not.toEqual(Array.from(run(6)));

    const g = createGenerator(9);
    fullLoop(new EulerAncestralDiscreteScheduler(CONFIG), { steps: 10, stepOptions: { generator: g } });
    const reference = createGenerator(9);
    for (let i = 0; i < 10; i++) reference.randn(768);
    expect(g.nextUint32()).toBe(reference.nextUint32());

    const s = new EulerAncestralDiscreteScheduler(CONFIG);
    s.setTimesteps(10);
    expect(() => s.step(new Float32Array(2), s.timesteps[0], new Float32Array(2))).toThrow(SchedulerStateError);
  });
});
