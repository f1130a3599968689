import { pickDiffusersConfig } from './diffusers-config.js';
import { SchedulerConfigError, SchedulerStateError } from './errors.js';
import { f32, interpOnIndexGrid, npArange, npLinspace, roundHalfEven, sigmasFromAlphasCumprod } from './numeric.js';
import { alphasCumprod, type BetaSchedule } from './noise-schedule.js';
import { assertSameLength, indexForTimestep } from './step-index.js';
import type {
  DiffusionScheduler,
  PredictionType,
  SchedulerStepOptions,
  SchedulerStepResult,
  TimestepSpacing,
} from './types.js';

/** EulerAncestralDiscreteScheduler config: diffusers' names camelCased, same defaults. */
export interface EulerAncestralDiscreteSchedulerConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  trainedBetas: readonly number[] | null;
  /** `epsilon` or `v_prediction` (diffusers does not implement `sample` here either). */
  predictionType: Exclude<PredictionType, 'sample'>;
  timestepSpacing: TimestepSpacing;
  stepsOffset: number;
  rescaleBetasZeroSnr: boolean;
}

const DEFAULTS: EulerAncestralDiscreteSchedulerConfig = {
  numTrainTimesteps: 1000,
  betaStart: 0.0001,
  betaEnd: 0.02,
  betaSchedule: 'linear',
  trainedBetas: null,
  predictionType: 'epsilon',
  timestepSpacing: 'linspace',
  stepsOffset: 0,
  rescaleBetasZeroSnr: false,
};

/**
 * Ancestral Euler (k-diffusion's `sample_euler_ancestral`) — diffusers' `EulerAncestralDiscreteScheduler`.
 * Each step goes deterministically from σ to σ_down and then adds fresh noise of std σ_up, where
 * σ_up = √(σ_next²(σ² − σ_next²)/σ²) and σ_down = √(σ_next² − σ_up²) (so σ_down² + σ_up² = σ_next²).
 *
 * Invariants: `step` needs `generator` (or `noise`) and draws exactly one `randn(sample.length)` per call,
 * the last step included (σ_up = 0 there), like diffusers, so a shared generator stays in step with a
 * diffusers run; float32 arithmetic throughout; `timesteps` is a Float32Array (diffusers: float32).
 */
export class EulerAncestralDiscreteScheduler implements DiffusionScheduler {
  readonly order = 1;
  readonly config: Readonly<EulerAncestralDiscreteSchedulerConfig>;
  /** ᾱ_t of the training schedule, float32. */
  readonly alphasCumprod: Float32Array;
  timesteps: Float32Array;
  sigmas: Float32Array;
  numInferenceSteps: number | null = null;
  private stepIdx: number | null = null;
  private beginIdx: number | null = null;
  private readonly trainSigmas: Float32Array;

  constructor(config: Partial<EulerAncestralDiscreteSchedulerConfig> = {}) {
    const c = { ...DEFAULTS, ...config };
    if (!['epsilon', 'v_prediction'].includes(c.predictionType)) {
      throw new SchedulerConfigError('predictionType', c.predictionType);
    }
    if (!['linspace', 'leading', 'trailing'].includes(c.timestepSpacing)) {
      throw new SchedulerConfigError('timestepSpacing', c.timestepSpacing);
    }
    this.config = Object.freeze(c);
    this.alphasCumprod = alphasCumprod(c, true);
    this.trainSigmas = sigmasFromAlphasCumprod(this.alphasCumprod);
    const n = c.numTrainTimesteps;
    this.timesteps = Float32Array.from(npLinspace(0, n - 1, n).reverse());
    this.sigmas = new Float32Array(n + 1);
    this.sigmas.set(this.trainSigmas.slice().reverse());
  }

  /** Builds the scheduler from a diffusers `scheduler_config.json` object (unknown keys ignored). */
  static fromDiffusersConfig(raw: Record<string, unknown>): EulerAncestralDiscreteScheduler {
    return new EulerAncestralDiscreteScheduler(pickDiffusersConfig(raw, DEFAULTS));
  }

  /** max σ for linspace/trailing spacing, else √(σ_max² + 1) (float32). */
  get initNoiseSigma(): number {
    let max = 0;
    for (const s of this.sigmas) if (s > max) max = s;
    if (this.config.timestepSpacing === 'linspace' || this.config.timestepSpacing === 'trailing') return max;
    return f32(Math.sqrt(f32(f32(max * max) + 1)));
  }

  get stepIndex(): number | null {
    return this.stepIdx;
  }

  setBeginIndex(beginIndex = 0): void {
    this.beginIdx = beginIndex;
  }

  /** Spreads `numInferenceSteps` timesteps by `timestepSpacing`; σ by np.interp of the training σ, then 0. */
  setTimesteps(numInferenceSteps: number): void {
    const { numTrainTimesteps: N, timestepSpacing, stepsOffset } = this.config;
    const n = numInferenceSteps;
    if (!Number.isInteger(n) || n < 1) throw new SchedulerStateError(`numInferenceSteps must be ≥ 1, got ${n}`);
    this.numInferenceSteps = n;
    let ts: Float32Array;
    if (timestepSpacing === 'linspace') {
      ts = Float32Array.from(npLinspace(0, N - 1, n).reverse());
    } else if (timestepSpacing === 'leading') {
      const ratio = Math.floor(N / n);
      ts = new Float32Array(n);
      for (let i = 0; i < n; i++) ts[i] = roundHalfEven((n - 1 - i) * ratio) + stepsOffset;
    } else {
      ts = Float32Array.from(npArange(N, 0, -N / n), (t) => roundHalfEven(t) - 1);
    }
    const sigmas = new Float32Array(ts.length + 1);
    for (let i = 0; i < ts.length; i++) sigmas[i] = interpOnIndexGrid(ts[i], this.trainSigmas);
    this.sigmas = sigmas;
    this.timesteps = ts;
    this.stepIdx = null;
    this.beginIdx = null;
  }

  /** x / √(σ² + 1), float32. */
  scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    const sigma = this.sigmas[this.initStepIndex(timestep)];
    const denom = f32(Math.sqrt(f32(f32(sigma * sigma) + 1)));
    return sample.map((x) => x / denom);
  }

  /** One ancestral step; needs `generator` or `noise` (see class comment). */
  step(
    modelOutput: Float32Array,
    timestep: number,
    sample: Float32Array,
    options: SchedulerStepOptions = {},
  ): SchedulerStepResult {
    const len = assertSameLength('EulerAncestralDiscreteScheduler.step', modelOutput, sample);
    const i = this.initStepIndex(timestep);
    if (i + 1 >= this.sigmas.length) throw new SchedulerStateError('step called after the last timestep');
    const sigma = this.sigmas[i];
    const x0 = new Float32Array(len);
    if (this.config.predictionType === 'epsilon') {
      for (let k = 0; k < len; k++) x0[k] = f32(sample[k] - f32(sigma * modelOutput[k]));
    } else {
      const s2p1 = f32(f32(sigma * sigma) + 1);
      const cOut = f32(-sigma / f32(Math.sqrt(s2p1)));
      for (let k = 0; k < len; k++) x0[k] = f32(f32(modelOutput[k] * cOut) + f32(sample[k] / s2p1));
    }
    const sigmaTo = this.sigmas[i + 1];
    const from2 = f32(sigma * sigma);
    const to2 = f32(sigmaTo * sigmaTo);
    const sigmaUp = f32(Math.sqrt(f32(f32(to2 * f32(from2 - to2)) / from2)));
    const sigmaDown = f32(Math.sqrt(f32(to2 - f32(sigmaUp * sigmaUp))));
    const dt = f32(sigmaDown - sigma);
    const noise = options.noise ?? options.generator?.randn(len);
    if (!noise) throw new SchedulerStateError('EulerAncestralDiscreteScheduler.step needs a generator or noise');
    assertSameLength('EulerAncestralDiscreteScheduler.step noise', noise, sample);
    const prev = new Float32Array(len);
    for (let k = 0; k < len; k++) {
      const derivative = f32(f32(sample[k] - x0[k]) / sigma);
      const deterministic = f32(sample[k] + f32(derivative * dt));
      prev[k] = f32(deterministic + f32(noise[k] * sigmaUp));
    }
    this.stepIdx = i + 1;
    return { prevSample: prev, predOriginalSample: x0 };
  }

  /** x + σ·noise at `timestep` (float32). */
  addNoise(originalSamples: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    assertSameLength('EulerAncestralDiscreteScheduler.addNoise', originalSamples, noise);
    const idx = this.beginIdx === null ? indexForTimestep(timestep, this.timesteps) : (this.stepIdx ?? this.beginIdx);
    const sigma = this.sigmas[idx];
    return originalSamples.map((x, k) => f32(x + f32(noise[k] * sigma)));
  }

  private initStepIndex(timestep: number): number {
    if (this.stepIdx === null) this.stepIdx = this.beginIdx ?? indexForTimestep(timestep, this.timesteps);
    return this.stepIdx;
  }
}
