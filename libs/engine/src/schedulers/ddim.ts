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

/** DDIMScheduler config: diffusers' names camelCased, same defaults. */
export interface DDIMSchedulerConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  trainedBetas: readonly number[] | null;
  /** Clip the predicted x₀ to ±clipSampleRange (pixel-space models; SD configs turn it off). */
  clipSample: boolean;
  /** ᾱ used after the last step: 1 (true) or ᾱ₀ (false). */
  setAlphaToOne: boolean;
  stepsOffset: number;
  predictionType: PredictionType;
  /** Dynamic thresholding of x̂₀ (Imagen); takes precedence over clipSample. */
  thresholding: boolean;
  dynamicThresholdingRatio: number;
  clipSampleRange: number;
  sampleMaxValue: number;
  timestepSpacing: TimestepSpacing;
  rescaleBetasZeroSnr: boolean;
}

/** Step options DDIM reads: η, its noise source, and whether ε is recomputed from the clipped x̂₀. */
export interface DDIMStepOptions extends SchedulerStepOptions {
  useClippedModelOutput?: boolean;
}

const DEFAULTS: DDIMSchedulerConfig = {
  numTrainTimesteps: 1000,
  betaStart: 0.0001,
  betaEnd: 0.02,
  betaSchedule: 'linear',
  trainedBetas: null,
  clipSample: true,
  setAlphaToOne: true,
  stepsOffset: 0,
  predictionType: 'epsilon',
  thresholding: false,
  dynamicThresholdingRatio: 0.995,
  clipSampleRange: 1.0,
  sampleMaxValue: 1.0,
  timestepSpacing: 'leading',
  rescaleBetasZeroSnr: false,
};

/**
 * DDIM (Song et al. 2020) — diffusers' `DDIMScheduler`. With ε̂ and x̂₀ from the model output:
 * x_prev = √ᾱ_prev·x̂₀ + √(1 − ᾱ_prev − σ_t²)·ε̂ + σ_t·z, σ_t = η·√((1−ᾱ_prev)/(1−ᾱ_t)·(1 − ᾱ_t/ᾱ_prev)).
 *
 * Invariants: `timesteps` is an Int32Array (diffusers: int64); the previous timestep is always
 * t − N // numInferenceSteps (diffusers' rule, whatever the spacing); ᾱ lookups and all arithmetic are
 * float32; η > 0 needs `generator` or `noise`; `initNoiseSigma` is 1 and `scaleModelInput` is the identity.
 */
export class DDIMScheduler implements DiffusionScheduler {
  readonly order = 1;
  readonly initNoiseSigma = 1;
  readonly config: Readonly<DDIMSchedulerConfig>;
  /** ᾱ_t of the training schedule, float32. */
  readonly alphasCumprod: Float32Array;
  /** ᾱ after the last step: 1 with setAlphaToOne, else ᾱ₀. */
  readonly finalAlphaCumprod: number;
  timesteps: Int32Array;
  numInferenceSteps: number | null = null;

  constructor(config: Partial<DDIMSchedulerConfig> = {}) {
    const c = { ...DEFAULTS, ...config };
    if (!['epsilon', 'v_prediction', 'sample'].includes(c.predictionType)) {
      throw new SchedulerConfigError('predictionType', c.predictionType);
    }
    if (!['linspace', 'leading', 'trailing'].includes(c.timestepSpacing)) {
      throw new SchedulerConfigError('timestepSpacing', c.timestepSpacing);
    }
    this.config = Object.freeze(c);
    this.alphasCumprod = alphasCumprod(c, false);
    this.finalAlphaCumprod = c.setAlphaToOne ? 1 : this.alphasCumprod[0];
    const n = c.numTrainTimesteps;
    this.timesteps = Int32Array.from({ length: n }, (_, i) => n - 1 - i);
  }

  /** Builds the scheduler from a diffusers `scheduler_config.json` object (unknown keys ignored). */
  static fromDiffusersConfig(raw: Record<string, unknown>): DDIMScheduler {
    return new DDIMScheduler(pickDiffusersConfig(raw, DEFAULTS));
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

  /** The identity: DDIM needs no input scaling. */
  scaleModelInput(sample: Float32Array, _timestep?: number): Float32Array {
    return sample;
  }

  /** diffusers' `_get_variance`: (1−ᾱ_prev)/(1−ᾱ_t)·(1 − ᾱ_t/ᾱ_prev), float32; ᾱ_prev = final ᾱ when prev < 0. */
  getVariance(timestep: number, prevTimestep: number): number {
    const aT = this.alphasCumprod[timestep];
    const aPrev = prevTimestep >= 0 ? this.alphasCumprod[prevTimestep] : this.finalAlphaCumprod;
    const bT = f32(1 - aT);
    const bPrev = f32(1 - aPrev);
    return f32(f32(bPrev / bT) * f32(1 - f32(aT / aPrev)));
  }

  /** One DDIM step from integer `timestep` (see class comment); returns x_prev and the (clipped) x̂₀. */
  step(
    modelOutput: Float32Array,
    timestep: number,
    sample: Float32Array,
    options: DDIMStepOptions = {},
  ): SchedulerStepResult {
    const len = assertSameLength('DDIMScheduler.step', modelOutput, sample);
    if (this.numInferenceSteps === null) throw new SchedulerStateError('call setTimesteps before step');
    const c = this.config;
    const t = timestep;
    if (!Number.isInteger(t) || t < 0 || t >= c.numTrainTimesteps) {
      throw new SchedulerStateError(`timestep ${t} is not a training timestep`);
    }
    const eta = options.eta ?? 0;
    const prevT = t - Math.floor(c.numTrainTimesteps / this.numInferenceSteps);
    const aT = this.alphasCumprod[t];
    const aPrev = prevT >= 0 ? this.alphasCumprod[prevT] : this.finalAlphaCumprod;
    const sqrtA = f32(Math.sqrt(aT));
    const sqrtB = f32(Math.sqrt(f32(1 - aT)));

    let x0: Float32Array = new Float32Array(len);
    let eps: Float32Array = new Float32Array(len);
    if (c.predictionType === 'epsilon') {
      for (let k = 0; k < len; k++) x0[k] = f32(f32(sample[k] - f32(sqrtB * modelOutput[k])) / sqrtA);
      eps = modelOutput;
    } else if (c.predictionType === 'sample') {
      x0 = modelOutput;
      for (let k = 0; k < len; k++) eps[k] = f32(f32(sample[k] - f32(sqrtA * x0[k])) / sqrtB);
    } else {
      for (let k = 0; k < len; k++) {
        x0[k] = f32(f32(sqrtA * sample[k]) - f32(sqrtB * modelOutput[k]));
        eps[k] = f32(f32(sqrtA * modelOutput[k]) + f32(sqrtB * sample[k]));
      }
    }
    if (c.thresholding) {
      x0 = dynamicThreshold(x0, options.batchSize ?? 1, c.dynamicThresholdingRatio, c.sampleMaxValue);
    } else if (c.clipSample) {
      const r = f32(c.clipSampleRange);
      x0 = x0.map((v) => (v < -r ? -r : v > r ? r : v));
    }
    const variance = this.getVariance(t, prevT);
    const std = f32(f32(eta) * f32(Math.sqrt(variance)));
    if (options.useClippedModelOutput) {
      eps = new Float32Array(len);
      for (let k = 0; k < len; k++) eps[k] = f32(f32(sample[k] - f32(sqrtA * x0[k])) / sqrtB);
    }
    const dirCoef = f32(Math.sqrt(f32(f32(1 - aPrev) - f32(std * std))));
    const sqrtAPrev = f32(Math.sqrt(aPrev));
    const prev = new Float32Array(len);
    for (let k = 0; k < len; k++) prev[k] = f32(f32(sqrtAPrev * x0[k]) + f32(dirCoef * eps[k]));
    if (eta > 0) {
      const noise = options.noise ?? options.generator?.randn(len);
      if (!noise) throw new SchedulerStateError('DDIMScheduler.step with eta > 0 needs a generator or noise');
      assertSameLength('DDIMScheduler.step noise', noise, sample);
      for (let k = 0; k < len; k++) prev[k] = f32(prev[k] + f32(std * noise[k]));
    }
    return { prevSample: prev, predOriginalSample: x0 };
  }

  /** √ᾱ_t·x + √(1 − ᾱ_t)·noise at integer `timestep` (float32): the DDPM forward process. */
  addNoise(originalSamples: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    assertSameLength('DDIMScheduler.addNoise', originalSamples, noise);
    const a = this.alphasCumprod[timestep];
    if (a === undefined) throw new SchedulerStateError(`timestep ${timestep} is not a training timestep`);
    const sa = f32(Math.sqrt(a));
    const sb = f32(Math.sqrt(f32(1 - a)));
    return originalSamples.map((x, k) => f32(f32(sa * x) + f32(sb * noise[k])));
  }
}
