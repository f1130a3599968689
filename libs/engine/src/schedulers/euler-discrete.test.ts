import { describe, expect, it } from 'vitest';
import { absStats, dummySampleDeter, fullLoop } from './diffusers-test-fixtures.js';
import { EulerDiscreteScheduler, type EulerDiscreteSchedulerConfig } from './euler-discrete.js';
import { SchedulerConfigError, SchedulerStateError } from './errors.js';
import { createGenerator } from './generator.js';

// diffusers tests/schedulers/test_scheduler_euler.py: get_scheduler_config + full_loop (10 steps, the start sample
// times init_noise_sigma, scale_model_input before the model). Tolerances as diffusers: 1e-2 on sum, 1e-3 on mean.
const CONFIG: Partial<EulerDiscreteSchedulerConfig> = {
  numTrainTimesteps: 1100,
  betaStart: 0.0001,
  betaEnd: 0.02,
  betaSchedule: 'linear',
};
const loop = (config: Partial<EulerDiscreteSchedulerConfig>, tStart?: number) =>
  absStats(
    fullLoop(new EulerDiscreteScheduler({ ...CONFIG, ...config }), {
      scaleByInitNoiseSigma: true,
      scaleInput: true,
      tStart,
    }),
  );

describe('EulerDiscreteScheduler reproduces diffusers', () => {
  it.each([
    ['test_full_loop_no_noise / _device', {}, 10.0807, 0.0131],
    ['test_full_loop_with_v_prediction', { predictionType: 'v_prediction' as const }, 0.0002, 2.2676e-6],
    ['test_full_loop_device_karras_sigmas', { useKarrasSigmas: true }, 124.52299499511719, 0.16213932633399963],
  ])('%s', (_name, config, sum, mean) => {
    const r = loop(config);
    expect(Math.abs(r.sum - sum)).toBeLessThan(1e-2);
    expect(Math.abs(r.mean - mean)).toBeLessThan(1e-3);
  });

  it('test_full_loop_with_noise (add_noise at timesteps[8], two steps)', () => {
    const r = loop({}, 8);
    expect(Math.abs(r.sum - 57062.9297)).toBeLessThan(1e-2);
    expect(Math.abs(r.mean - 74.3007)).toBeLessThan(1e-3);
  });

  it('test_custom_timesteps / test_custom_sigmas: an explicit schedule reproduces the computed one', () => {
    for (const predictionType of ['epsilon', 'sample', 'v_prediction'] as const) {
      for (const interpolationType of ['linear', 'log_linear'] as const) {
        for (const finalSigmasType of ['sigma_min', 'zero'] as const) {
          const config = { ...CONFIG, predictionType, interpolationType, finalSigmasType };
          const reference = new EulerDiscreteScheduler(config);
          reference.setTimesteps(10);
          const baseline = fullLoop(new EulerDiscreteScheduler(config), {
            scaleByInitNoiseSigma: true,
            scaleInput: true,
          });
          const viaTimesteps = new EulerDiscreteScheduler(config);
          const viaSigmas = new EulerDiscreteScheduler(config);
          const run = (s: EulerDiscreteScheduler, custom: { timesteps?: Float32Array; sigmas?: Float32Array }) => {
            s.setTimesteps(null, custom);
            let x = dummySampleDeter().map((v) => v * s.initNoiseSigma);
            for (const t of s.timesteps) {
              const input = s.scaleModelInput(x, t);
              x = s.step(
                input.map((v) => Math.fround(v * Math.fround(t)) / Math.fround(t + 1)),
                t,
                input,
              ).prevSample;
            }
            return x;
          };
          const a = run(viaTimesteps, { timesteps: reference.timesteps });
          expect(absDiff(a, baseline)).toBeLessThan(1e-5);
          if (interpolationType === 'linear') {
            const b = run(viaSigmas, { sigmas: reference.sigmas });
            expect(absDiff(b, baseline)).toBeLessThan(1e-5);
          }
        }
      }
    }
  });
});

describe('EulerDiscreteScheduler: SVD configuration (continuous v-prediction timesteps)', () => {
  // stabilityai/stable-video-diffusion-img2vid(-xt) scheduler_config.json, as diffusers reads it.
  const SVD_CONFIG = {
    _class_name: 'EulerDiscreteScheduler',
    beta_end: 0.012,
    beta_schedule: 'scaled_linear',
    beta_start: 0.00085,
    clip_sample: false,
    interpolation_type: 'linear',
    num_train_timesteps: 1000,
    prediction_type: 'v_prediction',
    set_alpha_to_one: false,
    sigma_max: 700.0,
    sigma_min: 0.002,
    skip_prk_steps: true,
    steps_offset: 1,
    timestep_spacing: 'leading',
    timestep_type: 'continuous',
    trained_betas: null,
    use_karras_sigmas: true,
  };

  it('σ are Karras(0.002, 700, ρ=7), timesteps are 0.25·ln σ, initNoiseSigma is √(700² + 1)', () => {
    const s = EulerDiscreteScheduler.fromDiffusersConfig(SVD_CONFIG);
    s.setTimesteps(25);
    // Reference from the formulas in float64 (numpy): σ_i = (700^(1/7) + i/24·(0.002^(1/7) − 700^(1/7)))^7:
    // σ_0 = 700, σ_1 = 545.729246, σ_12 = 15.5899678, σ_23 = 0.00788249565, σ_24 = 0.002;
    // 0.25·ln σ: 1.63777008, 1.57553074, 0.6866569, -1.21077768, -1.55365202; √(700² + 1) = 700.0007142853499.
    const rho = 7;
    const lo = 0.002 ** (1 / rho);
    const hi = 700 ** (1 / rho);
    const expected = Array.from({ length: 25 }, (_, i) => (hi + (i / 24) * (lo - hi)) ** rho);
    expect(s.sigmas).toHaveLength(26);
    expect(s.sigmas[25]).toBe(0);
    expected.forEach((sigma, i) => {
      expect(s.sigmas[i]).toBeCloseTo(sigma, Math.max(0, 6 - Math.ceil(Math.log10(sigma + 1))));
      expect(Math.abs(s.timesteps[i] - 0.25 * Math.log(sigma))).toBeLessThan(1e-6);
    });
    expect(s.timesteps[0]).toBeCloseTo(1.63777008, 6);
    expect(s.timesteps[24]).toBeCloseTo(-1.55365202, 6);
    expect(s.initNoiseSigma).toBeCloseTo(700.0007142853499, 3);
  });

  it('denoises a v-prediction step with c_skip = 1/(σ²+1), c_out = −σ/√(σ²+1)', () => {
    const s = EulerDiscreteScheduler.fromDiffusersConfig(SVD_CONFIG);
    s.setTimesteps(4);
    const x = Float32Array.from([1, -2, 3]);
    const v = Float32Array.from([0.5, 0.25, -1]);
    const t = s.timesteps[0];
    const sigma = s.sigmas[0];
    const { prevSample, predOriginalSample } = s.step(v, t, x);
    for (let k = 0; k < 3; k++) {
      const x0 = (v[k] * -sigma) / Math.sqrt(sigma * sigma + 1) + x[k] / (sigma * sigma + 1);
      expect(predOriginalSample![k]).toBeCloseTo(x0, 4);
      expect(prevSample[k]).toBeCloseTo(x[k] + ((x[k] - x0) / sigma) * (s.sigmas[1] - sigma), 2);
    }
  });
});

describe('EulerDiscreteScheduler behaviour', () => {
  it('scaleModelInput divides by √(σ² + 1) of the current step', () => {
    const s = new EulerDiscreteScheduler(CONFIG);
    s.setTimesteps(10);
    const sigma = s.sigmas[0];
    const out = s.scaleModelInput(Float32Array.from([2]), s.timesteps[0]);
    expect(out[0]).toBeCloseTo(2 / Math.sqrt(sigma * sigma + 1), 6);
  });

  it('timestep spacings match diffusers: leading with stepsOffset, trailing', () => {
    const leading = new EulerDiscreteScheduler({ timestepSpacing: 'leading', stepsOffset: 1 });
    leading.setTimesteps(5);
    expect(Array.from(leading.timesteps)).toEqual([801, 601, 401, 201, 1]);
    const trailing = new EulerDiscreteScheduler({ timestepSpacing: 'trailing' });
    trailing.setTimesteps(5);
    expect(Array.from(trailing.timesteps)).toEqual([999, 799, 599, 399, 199]);
    expect(trailing.initNoiseSigma).toBe(Math.max(...trailing.sigmas));
    expect(leading.initNoiseSigma).toBeCloseTo(Math.sqrt(Math.max(...leading.sigmas) ** 2 + 1), 4);
  });

  it('sChurn > 0 needs noise and is reproducible with a seeded generator', () => {
    const run = (seed: number) => {
      const s = new EulerDiscreteScheduler(CONFIG);
      s.setTimesteps(10);
      const x = dummySampleDeter();
      return s.step(x, s.timesteps[0], x, { sChurn: 1, generator: createGenerator(seed) }).prevSample;
    };
    expect(Array.from(run(3))).toEqual(Array.from(run(3)));
    expect(Array.from(run(3))).not.toEqual(Array.from(run(4)));
    const s = new EulerDiscreteScheduler(CONFIG);
    s.setTimesteps(10);
    expect(() => s.step(new Float32Array(4), s.timesteps[0], new Float32Array(4), { sChurn: 1 })).toThrow(
      SchedulerStateError,
    );
  });

  it('rejects unknown config values and timesteps not in the schedule', () => {
    expect(() => new EulerDiscreteScheduler({ timestepSpacing: 'weird' as never })).toThrow(SchedulerConfigError);
    const s = new EulerDiscreteScheduler(CONFIG);
    s.setTimesteps(10);
    expect(() => s.scaleModelInput(new Float32Array(1), 123.456)).toThrow(SchedulerStateError);
  });
});

function absDiff(a: Float32Array, b: Float32Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d += Math.abs(a[i] - b[i]);
  return d;
}
