import { describe, expect, it } from 'vitest';
import { absStats, dummyModel, dummySampleDeter, fullLoop } from './diffusers-test-fixtures.js';
import { DPMSolverMultistepScheduler, type DPMSolverMultistepSchedulerConfig } from './dpm-solver-multistep.js';
import { SchedulerConfigError } from './errors.js';

// diffusers tests/schedulers/test_scheduler_dpm_multi.py: get_scheduler_config + full_loop (10 steps, no input
// scaling, start sample not scaled). Those tests check only the mean for most cases; tolerances as diffusers.
const CONFIG: Partial<DPMSolverMultistepSchedulerConfig> = {
  numTrainTimesteps: 1000,
  betaStart: 0.0001,
  betaEnd: 0.02,
  betaSchedule: 'linear',
  solverOrder: 2,
  predictionType: 'epsilon',
  thresholding: false,
  sampleMaxValue: 1.0,
  algorithmType: 'dpmsolver++',
  solverType: 'midpoint',
  lowerOrderFinal: false,
  eulerAtFinal: false,
  lambdaMinClipped: -Infinity,
  finalSigmasType: 'sigma_min',
};
const run = (config: Partial<DPMSolverMultistepSchedulerConfig>, tStart?: number) =>
  fullLoop(new DPMSolverMultistepScheduler({ ...CONFIG, ...config }), { tStart, stepOptions: { batchSize: 4 } });

describe('DPMSolverMultistepScheduler reproduces diffusers', () => {
  it.each([
    ['test_full_loop_no_noise', {}, 0.3301],
    [
      'test_full_loop_no_noise_thres',
      { thresholding: true, dynamicThresholdingRatio: 0.87, sampleMaxValue: 0.5 },
      1.1364,
    ],
    ['test_full_loop_with_v_prediction', { predictionType: 'v_prediction' as const }, 0.2251],
    [
      'test_full_loop_with_karras_and_v_prediction',
      { predictionType: 'v_prediction' as const, useKarrasSigmas: true },
      0.2096,
    ],
    [
      'test_full_loop_with_lu_and_v_prediction',
      { predictionType: 'v_prediction' as const, useLuLambdas: true },
      0.1554,
    ],
  ])('%s', (_name, config, mean) => {
    expect(Math.abs(absStats(run(config)).mean - mean)).toBeLessThan(1e-3);
  });

  it('test_full_loop_with_noise (t_start 5)', () => {
    const r = absStats(run({}, 5));
    expect(Math.abs(r.sum - 318.4111)).toBeLessThan(1e-2);
    expect(Math.abs(r.mean - 0.4146)).toBeLessThan(1e-3);
  });

  it('test_switch: a scheduler built from the diffusers config JSON gives the same result', () => {
    const raw = {
      _class_name: 'DPMSolverMultistepScheduler',
      num_train_timesteps: 1000,
      beta_start: 0.0001,
      beta_end: 0.02,
      beta_schedule: 'linear',
      solver_order: 2,
      prediction_type: 'epsilon',
      thresholding: false,
      sample_max_value: 1.0,
      algorithm_type: 'dpmsolver++',
      solver_type: 'midpoint',
      lower_order_final: false,
      euler_at_final: false,
      final_sigmas_type: 'sigma_min',
      skip_prk_steps: true,
    };
    const s = DPMSolverMultistepScheduler.fromDiffusersConfig(raw);
    expect(s.config.solverOrder).toBe(2);
    expect(Math.abs(absStats(fullLoop(s)).mean - 0.3301)).toBeLessThan(1e-3);
  });

  it('test_solver_order_and_type: every deterministic algorithm/solver/order/prediction runs without NaN', () => {
    for (const algorithmType of ['dpmsolver', 'dpmsolver++'] as const)
      for (const solverType of ['midpoint', 'heun'] as const)
        for (const solverOrder of [1, 2, 3] as const)
          for (const predictionType of ['epsilon', 'sample'] as const) {
            const out = run({ algorithmType, solverType, solverOrder, predictionType });
            expect(out.some(Number.isNaN)).toBe(false);
          }
  });

  it('test_custom_timesteps: explicit timesteps reproduce the computed schedule', () => {
    for (const predictionType of ['epsilon', 'sample', 'v_prediction'] as const)
      for (const finalSigmasType of ['sigma_min', 'zero'] as const) {
        const config = { ...CONFIG, predictionType, finalSigmasType };
        const reference = new DPMSolverMultistepScheduler(config);
        reference.setTimesteps(10);
        const a = fullLoop(new DPMSolverMultistepScheduler(config));
        const custom = new DPMSolverMultistepScheduler(config);
        custom.setTimesteps(null, { timesteps: reference.timesteps });
        let x = dummySampleDeter();
        for (const t of custom.timesteps) x = custom.step(dummyModel(x, t), t, x).prevSample;
        let d = 0;
        for (let i = 0; i < x.length; i++) d += Math.abs(x[i] - a[i]);
        expect(d).toBeLessThan(1e-5);
      }
  });

  it('test_duplicated_timesteps: numInferenceSteps follows the (possibly deduplicated) schedule', () => {
    const s = new DPMSolverMultistepScheduler(CONFIG);
    s.setTimesteps(1000);
    expect(s.timesteps.length).toBe(s.numInferenceSteps);
    expect(s.sigmas.length).toBe(s.timesteps.length + 1);
  });
});

describe('DPMSolverMultistepScheduler behaviour', () => {
  it('timesteps are integers in diffusers order; the final σ follows finalSigmasType', () => {
    const s = new DPMSolverMultistepScheduler({ ...CONFIG, finalSigmasType: 'zero' });
    s.setTimesteps(10);
    expect(Array.from(s.timesteps)).toEqual([999, 899, 799, 699, 599, 500, 400, 300, 200, 100]);
    expect(s.sigmas[10]).toBe(0);
    const m = new DPMSolverMultistepScheduler(CONFIG);
    m.setTimesteps(10);
    expect(m.sigmas[10]).toBe(Math.fround(Math.sqrt((1 - m.alphasCumprod[0]) / m.alphasCumprod[0])));
  });

  it('first-order dpmsolver++ with ε-prediction equals DDIM (η = 0) on the same σ pair', () => {
    const s = new DPMSolverMultistepScheduler({ ...CONFIG, solverOrder: 1 });
    s.setTimesteps(10);
    const x = dummySampleDeter();
    const eps = x.map((v) => v * 0.5 - 0.1);
    const out = s.step(eps, s.timesteps[0], x).prevSample;
    const a = s.alphasCumprod[999];
    const aPrev = s.alphasCumprod[899];
    for (let k = 0; k < x.length; k += 17) {
      const x0 = (x[k] - Math.sqrt(1 - a) * eps[k]) / Math.sqrt(a);
      expect(out[k]).toBeCloseTo(Math.sqrt(aPrev) * x0 + Math.sqrt(1 - aPrev) * eps[k], 4);
    }
  });

  it("rejects algorithmType 'dpmsolver' with finalSigmasType 'zero', and unsupported variants", () => {
    expect(() => new DPMSolverMultistepScheduler({ algorithmType: 'dpmsolver', finalSigmasType: 'zero' })).toThrow(
      SchedulerConfigError,
    );
    expect(() => new DPMSolverMultistepScheduler({ algorithmType: 'sde-dpmsolver++' as never })).toThrow(
      SchedulerConfigError,
    );
    expect(() => new DPMSolverMultistepScheduler({ solverOrder: 4 as never })).toThrow(SchedulerConfigError);
  });
});
