import { pickDiffusersConfig } from './diffusers-config.js';
import { SchedulerConfigError, SchedulerStateError } from './errors.js';
import { f32 } from './numeric.js';
import { alphasCumprod, noiseLevels, spacedTimesteps, type BetaSchedule } from './noise-schedule.js';
import { assertSameLength } from './step-index.js';
import { dynamicThreshold } from './threshold.js';
import type {
  DiffusionScheduler,
  PredictionType,
  SchedulerStepOptions,
  SchedulerStepResult,
  TimestepSpacing,
} from './types.js';

/** The posterior variances this scheduler implements (diffusers' `variance_type`; the learned ones need 2C outputs). */
export type DDPMVarianceType = 'fixed_small' | 'fixed_small_log' | 'fixed_large';

/** DDPMScheduler config: diffusers' names camelCased, same defaults. */
export interface DDPMSchedulerConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  trainedBetas: readonly number[] | null;
  varianceType: DDPMVarianceType;
  /** Clip x̂₀ to ±clipSampleRange (diffusers' default true; latent models turn it off). */
  clipSample: boolean;
  predictionType: PredictionType;
  thresholding: boolean;
  dynamicThresholdingRatio: number;
  clipSampleRange: number;
  sampleMaxValue: number;
  timestepSpacing: TimestepSpacing;
  stepsOffset: number;
  rescaleBetasZeroSnr: boolean;
}

const DEFAULTS: DDPMSchedulerConfig = {
  numTrainTimesteps: 1000,
  betaStart: 0.0001,
  betaEnd: 0.02,
  betaSchedule: 'linear',
  trainedBetas: null,
  varianceType: 'fixed_small',
  clipSample: true,
  predictionType: 'epsilon',
  thresholding: false,
  dynamicThresholdingRatio: 0.995,
  clipSampleRange: 1.0,
  sampleMaxValue: 1.0,
  timestepSpacing: 'leading',
  stepsOffset: 0,
  rescaleBetasZeroSnr: false,
};

/**
 * DDPM ancestral sampling (Ho et al. 2020) — diffusers' `DDPMScheduler` (schedulers/scheduling_ddpm.py), with ε, x₀
 * or v prediction (Hunyuan-DiT: v). From x̂₀ the step takes the posterior mean
 *   μ = √ᾱ_prev·β_t/(1 − ᾱ_t)·x̂₀ + √α_t·(1 − ᾱ_prev)/(1 − ᾱ_t)·x_t,   α_t = ᾱ_t/ᾱ_prev, β_t = 1 − α_t,
 * and adds √σ²·z for t > 0 (σ² = max((1 − ᾱ_prev)/(1 − ᾱ_t)·β_t, 1e-20) for fixed_small). The previous timestep is
 * the next entry of `timesteps` after setTimesteps (−1 after the last: ᾱ_prev = 1), or t − 1 before it (diffusers'
 * `previous_timestep`). As diffusers, noise is drawn on every step with t > 0.
 *
 * Invariants: `timesteps` is an Int32Array (diffusers: int64); arithmetic is float32 as torch's; `initNoiseSigma` is
 * 1 and `scaleModelInput` is the identity; a stochastic step needs `generator` or `noise`.
 */
export class DDPMScheduler implements DiffusionScheduler {
  readonly order = 1;
  readonly initNoiseSigma = 1;
  readonly config: Readonly<DDPMSchedulerConfig>;
  /** ᾱ_t of the training schedule, float32. */
  readonly alphasCumprod: Float32Array;
  timesteps: Int32Array;
  numInferenceSteps: number | null = null;

  constructor(config: Partial<DDPMSchedulerConfig> = {}) {
    const c = { ...DEFAULTS, ...config };
    if (!['epsilon', 'v_prediction', 'sample'].includes(c.predictionType)) {
      throw new SchedulerConfigError('predictionType', c.predictionType);
    }
    if (!['linspace', 'leading', 'trailing'].includes(c.timestepSpacing)) {
      throw new SchedulerConfigError('timestepSpacing', c.timestepSpacing);
    }
    if (!['fixed_small', 'fixed_small_log', 'fixed_large'].includes(c.varianceType)) {
      throw new SchedulerConfigError(
        'varianceType',
        c.varianceType,
        'implemented: fixed_small, fixed_small_log, fixed_large',
      );
    }
    this.config = Object.freeze(c);
    this.alphasCumprod = alphasCumprod(c, false);
    const n = c.numTrainTimesteps;
    this.timesteps = Int32Array.from({ length: n }, (_, i) => n - 1 - i);
  }

  /** From a diffusers `scheduler_config.json` object (unknown keys ignored). */
  static fromDiffusersConfig(raw: Record<string, unknown>): DDPMScheduler {
    return new DDPMScheduler(pickDiffusersConfig(raw, DEFAULTS));
  }

  /** √((1 − ᾱ_t)/ᾱ_t) at each inference timestep, then 0 (noise-schedule.ts `noiseLevels`). */
  get sigmas(): Float32Array {
    return noiseLevels(this.timesteps, this.alphasCumprod);
  }

  /** Spreads `numInferenceSteps` integer timesteps by `timestepSpacing` (noise-schedule.ts `spacedTimesteps`). */
  setTimesteps(numInferenceSteps: number): void {
    const { numTrainTimesteps: N, timestepSpacing, stepsOffset } = this.config;
    this.timesteps = spacedTimesteps(N, numInferenceSteps, timestepSpacing, stepsOffset);
    this.numInferenceSteps = numInferenceSteps;
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  /** diffusers' `previous_timestep`. */
  previousTimestep(t: number): number {
    if (this.numInferenceSteps === null) return t - 1;
    const i = this.timesteps.indexOf(t);
    if (i < 0) throw new SchedulerStateError(`timestep ${t} is not in the schedule`);
    return i === this.timesteps.length - 1 ? -1 : this.timesteps[i + 1];
  }

  /** σ² of diffusers' `_get_variance` for the configured type (float32). */
  getVariance(t: number): number {
    const prevT = this.previousTimestep(t);
    const aT = this.alphasCumprod[t];
    const aPrev = prevT >= 0 ? this.alphasCumprod[prevT] : 1;
    const betaT = f32(1 - f32(aT / aPrev));
    const v = Math.max(f32(f32(f32(1 - aPrev) / f32(1 - aT)) * betaT), f32(1e-20));
    if (this.config.varianceType === 'fixed_small') return v;
    if (this.config.varianceType === 'fixed_small_log') return f32(Math.exp(f32(0.5 * f32(Math.log(v)))));
    return betaT;
  }

  step(
    modelOutput: Float32Array,
    timestep: number,
    sample: Float32Array,
    options: SchedulerStepOptions = {},
  ): SchedulerStepResult {
    const len = assertSameLength('DDPMScheduler.step', modelOutput, sample);
    const c = this.config;
    const t = timestep;
    if (!Number.isInteger(t) || t < 0 || t >= c.numTrainTimesteps) {
      throw new SchedulerStateError(`timestep ${t} is not a training timestep`);
    }
    const prevT = this.previousTimestep(t);
    const aT = this.alphasCumprod[t];
    const aPrev = prevT >= 0 ? this.alphasCumprod[prevT] : 1;
    const bT = f32(1 - aT);
    const bPrev = f32(1 - aPrev);
    const curAlpha = f32(aT / aPrev);
    const curBeta = f32(1 - curAlpha);
    const sqrtA = f32(Math.sqrt(aT));
    const sqrtB = f32(Math.sqrt(bT));

    let x0: Float32Array = new Float32Array(len);
    if (c.predictionType === 'epsilon') {
      for (let k = 0; k < len; k++) x0[k] = f32(f32(sample[k] - f32(sqrtB * modelOutput[k])) / sqrtA);
    } else if (c.predictionType === 'sample') {
      x0 = Float32Array.from(modelOutput);
    } else {
      for (let k = 0; k < len; k++) x0[k] = f32(f32(sqrtA * sample[k]) - f32(sqrtB * modelOutput[k]));
    }
    if (c.thresholding) {
      x0 = dynamicThreshold(x0, options.batchSize ?? 1, c.dynamicThresholdingRatio, c.sampleMaxValue);
    } else if (c.clipSample) {
      const r = f32(c.clipSampleRange);
      x0 = x0.map((v) => (v < -r ? -r : v > r ? r : v));
    }
    const x0Coeff = f32(f32(f32(Math.sqrt(aPrev)) * curBeta) / bT);
    const xtCoeff = f32(f32(f32(Math.sqrt(curAlpha)) * bPrev) / bT);
    const prev = new Float32Array(len);
    for (let k = 0; k < len; k++) prev[k] = f32(f32(x0Coeff * x0[k]) + f32(xtCoeff * sample[k]));
    if (t > 0) {
      const noise = options.noise ?? options.generator?.randn(len);
      if (!noise) throw new SchedulerStateError('DDPMScheduler.step needs a generator or noise for t > 0');
      assertSameLength('DDPMScheduler.step noise', noise, sample);
      const v = this.getVariance(t);
      const std = c.varianceType === 'fixed_small_log' ? v : f32(Math.sqrt(v));
      for (let k = 0; k < len; k++) prev[k] = f32(prev[k] + f32(std * noise[k]));
    }
    return { prevSample: prev, predOriginalSample: x0 };
  }

  /** √ᾱ_t·x₀ + √(1 − ᾱ_t)·noise (float32). */
  addNoise(originalSamples: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    assertSameLength('DDPMScheduler.addNoise', originalSamples, noise);
    const a = this.alphasCumprod[timestep];
    const sa = f32(Math.sqrt(a));
    const sb = f32(Math.sqrt(f32(1 - a)));
    return originalSamples.map((x, i) => f32(f32(sa * x) + f32(sb * noise[i])));
  }
}
