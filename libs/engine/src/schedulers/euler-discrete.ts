import { pickDiffusersConfig } from './diffusers-config.js';
import { SchedulerConfigError, SchedulerStateError } from './errors.js';
import {
  f32,
  interpOnIndexGrid,
  logF32,
  npArange,
  npLinspace,
  roundHalfEven,
  sigmasFromAlphasCumprod,
  torchLinspaceF32,
} from './numeric.js';
import { alphasCumprod, type BetaSchedule } from './noise-schedule.js';
import { exponentialSigmas, karrasSigmas, sigmaToT } from './sigma-schedules.js';
import { assertSameLength, indexForTimestep } from './step-index.js';
import type {
  DiffusionScheduler,
  PredictionType,
  SchedulerStepOptions,
  SchedulerStepResult,
  TimestepSpacing,
} from './types.js';

/** EulerDiscreteScheduler config: diffusers' names camelCased, same defaults. */
export interface EulerDiscreteSchedulerConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  trainedBetas: readonly number[] | null;
  predictionType: PredictionType;
  /** How σ between training timesteps is found: `linear` = np.interp; `log_linear` = a log-σ ramp. */
  interpolationType: 'linear' | 'log_linear';
  useKarrasSigmas: boolean;
  useExponentialSigmas: boolean;
  /** σ range of Karras/exponential schedules; null = the training schedule's ends. */
  sigmaMin: number | null;
  sigmaMax: number | null;
  timestepSpacing: TimestepSpacing;
  /**
   * `continuous` (with v-prediction): timesteps are c_noise = 0.25·ln σ (EDM preconditioning, as SVD uses);
   * `discrete`: training-timestep indices.
   */
  timestepType: 'discrete' | 'continuous';
  stepsOffset: number;
  rescaleBetasZeroSnr: boolean;
  /** The σ after the last step: 0, or the smallest training σ. */
  finalSigmasType: 'zero' | 'sigma_min';
}

/** Step options Euler reads: Karras' stochastic "churn" (all off by default) and its noise source. */
export interface EulerDiscreteStepOptions extends SchedulerStepOptions {
  sChurn?: number;
  sTmin?: number;
  sTmax?: number;
  sNoise?: number;
}

const DEFAULTS: EulerDiscreteSchedulerConfig = {
  numTrainTimesteps: 1000,
  betaStart: 0.0001,
  betaEnd: 0.02,
  betaSchedule: 'linear',
  trainedBetas: null,
  predictionType: 'epsilon',
  interpolationType: 'linear',
  useKarrasSigmas: false,
  useExponentialSigmas: false,
  sigmaMin: null,
  sigmaMax: null,
  timestepSpacing: 'linspace',
  timestepType: 'discrete',
  stepsOffset: 0,
  rescaleBetasZeroSnr: false,
  finalSigmasType: 'zero',
};

/**
 * Euler (Karras et al. 2022, Algorithm 2) on a VP-trained model's σ = √((1−ᾱ)/ᾱ) schedule — diffusers'
 * `EulerDiscreteScheduler`. Deterministic unless `sChurn > 0`.
 *
 * Invariants: `sigmas.length === timesteps.length + 1` and `sigmas` ends with the final σ (0 or σ_min);
 * `scaleModelInput` divides by √(σ²+1); `step` is x + (x − x̂₀)/σ̂ · (σ_next − σ̂); all table and sample
 * arithmetic is float32 as in diffusers (see numeric.ts). `timesteps` is a Float32Array (diffusers: float32).
 */
export class EulerDiscreteScheduler implements DiffusionScheduler {
  readonly order = 1;
  readonly config: Readonly<EulerDiscreteSchedulerConfig>;
  /** ᾱ_t of the training schedule, float32. */
  readonly alphasCumprod: Float32Array;
  timesteps: Float32Array;
  sigmas: Float32Array;
  numInferenceSteps: number | null = null;
  private stepIdx: number | null = null;
  private beginIdx: number | null = null;
  /** σ of each training timestep (ascending t), float32, and its float32 log. */
  private readonly trainSigmas: Float32Array;
  private readonly logTrainSigmas: Float32Array;

  constructor(config: Partial<EulerDiscreteSchedulerConfig> = {}) {
    const c = { ...DEFAULTS, ...config };
    if (!['epsilon', 'v_prediction', 'sample'].includes(c.predictionType)) {
      throw new SchedulerConfigError('predictionType', c.predictionType);
    }
    if (!['linear', 'log_linear'].includes(c.interpolationType)) {
      throw new SchedulerConfigError('interpolationType', c.interpolationType);
    }
    if (!['linspace', 'leading', 'trailing'].includes(c.timestepSpacing)) {
      throw new SchedulerConfigError('timestepSpacing', c.timestepSpacing);
    }
    if (!['discrete', 'continuous'].includes(c.timestepType)) {
      throw new SchedulerConfigError('timestepType', c.timestepType);
    }
    if (!['zero', 'sigma_min'].includes(c.finalSigmasType)) {
      throw new SchedulerConfigError('finalSigmasType', c.finalSigmasType);
    }
    if (c.useKarrasSigmas && c.useExponentialSigmas) {
      throw new SchedulerConfigError('useExponentialSigmas', true, 'only one of useKarrasSigmas/useExponentialSigmas');
    }
    this.config = Object.freeze(c);
    this.alphasCumprod = alphasCumprod(c, true);
    this.trainSigmas = sigmasFromAlphasCumprod(this.alphasCumprod);
    this.logTrainSigmas = logF32(this.trainSigmas);

    // Before setTimesteps: every training timestep, descending, like diffusers' __init__.
    const n = c.numTrainTimesteps;
    const desc = this.trainSigmas.slice().reverse();
    this.timesteps = this.continuous()
      ? desc.map((s) => f32(0.25 * f32(Math.log(s))))
      : Float32Array.from(npLinspace(0, n - 1, n).reverse());
    this.sigmas = new Float32Array(n + 1);
    this.sigmas.set(desc);
  }

  /** Builds the scheduler from a diffusers `scheduler_config.json` object (unknown keys ignored). */
  static fromDiffusersConfig(raw: Record<string, unknown>): EulerDiscreteScheduler {
    return new EulerDiscreteScheduler(pickDiffusersConfig(raw, DEFAULTS));
  }

  /** max σ for linspace/trailing spacing, else √(σ_max² + 1) (float32), as diffusers' property. */
  get initNoiseSigma(): number {
    let max = 0;
    for (const s of this.sigmas) if (s > max) max = s;
    if (this.config.timestepSpacing === 'linspace' || this.config.timestepSpacing === 'trailing') return max;
    return f32(Math.sqrt(f32(f32(max * max) + 1)));
  }

  /** The index of the next step (null before the first `scaleModelInput`/`step`). */
  get stepIndex(): number | null {
    return this.stepIdx;
  }

  /** Start the step counter at `beginIndex` instead of looking the first timestep up (img2img). */
  setBeginIndex(beginIndex = 0): void {
    this.beginIdx = beginIndex;
  }

  /**
   * Sets the inference schedule: `numInferenceSteps` spread by `timestepSpacing`, or explicit `timesteps`
   * (training-timestep values), or explicit `sigmas` (which must include the final σ). Resets the step counter.
   */
  setTimesteps(
    numInferenceSteps: number | null,
    custom: { timesteps?: ArrayLike<number>; sigmas?: ArrayLike<number> } = {},
  ): void {
    const c = this.config;
    if (custom.timesteps && custom.sigmas) throw new SchedulerStateError('pass only one of timesteps or sigmas');
    if (numInferenceSteps !== null && (custom.timesteps || custom.sigmas)) {
      throw new SchedulerStateError('pass numInferenceSteps or custom timesteps/sigmas, not both');
    }
    if (custom.timesteps && (c.useKarrasSigmas || c.useExponentialSigmas || this.continuous())) {
      throw new SchedulerStateError(
        'custom timesteps cannot be used with Karras/exponential sigmas or continuous timesteps',
      );
    }
    const n = numInferenceSteps ?? (custom.timesteps ? custom.timesteps.length : (custom.sigmas?.length ?? 1) - 1);
    if (!Number.isInteger(n) || n < 1) throw new SchedulerStateError(`numInferenceSteps must be ≥ 1, got ${n}`);
    this.numInferenceSteps = n;

    let timesteps: ArrayLike<number>;
    let sigmas: Float32Array;
    if (custom.sigmas) {
      sigmas = Float32Array.from(custom.sigmas);
      timesteps = Array.from(sigmas.subarray(0, sigmas.length - 1), (s) => sigmaToT(s, this.logTrainSigmas));
    } else {
      timesteps = custom.timesteps ? Float32Array.from(custom.timesteps) : this.spacedTimesteps(n);
      let s: ArrayLike<number>;
      if (c.interpolationType === 'linear') {
        s = Array.from(timesteps, (t) => interpOnIndexGrid(t, this.trainSigmas));
      } else {
        // diffusers: torch.linspace(log σ_last, log σ_first, n + 1).exp() in float32 (n + 1 values, as diffusers).
        const ramp = torchLinspaceF32(
          Math.log(this.trainSigmas[this.trainSigmas.length - 1]),
          Math.log(this.trainSigmas[0]),
          n + 1,
        );
        s = ramp.map((v) => Math.exp(v));
      }
      if (c.useKarrasSigmas || c.useExponentialSigmas) {
        const sigmaMin = c.sigmaMin ?? s[s.length - 1];
        const sigmaMax = c.sigmaMax ?? s[0];
        s = c.useKarrasSigmas ? karrasSigmas(sigmaMin, sigmaMax, n) : exponentialSigmas(sigmaMin, sigmaMax, n);
        timesteps = Array.from(s, (sigma) => sigmaToT(sigma, this.logTrainSigmas));
      }
      const last = c.finalSigmasType === 'sigma_min' ? this.trainSigmas[0] : 0;
      sigmas = new Float32Array(s.length + 1);
      sigmas.set(Array.from(s));
      sigmas[s.length] = last;
    }
    this.sigmas = sigmas;
    this.timesteps = this.continuous()
      ? sigmas.subarray(0, sigmas.length - 1).map((sigma) => f32(0.25 * f32(Math.log(sigma))))
      : Float32Array.from(timesteps);
    this.stepIdx = null;
    this.beginIdx = null;
  }

  /** x / √(σ² + 1), float32, σ of the current step (initialises the step counter from `timestep`). */
  scaleModelInput(sample: Float32Array, timestep: number): Float32Array {
    const sigma = this.sigmas[this.initStepIndex(timestep)];
    const denom = f32(Math.sqrt(f32(f32(sigma * sigma) + 1)));
    return sample.map((x) => x / denom);
  }

  /**
   * One Euler step from σ to σ_next. With `sChurn > 0` (and σ in [sTmin, sTmax]) noise from `generator`
   * (or `noise`) first raises σ to σ̂ = σ(1 + γ), γ = min(sChurn/(len(σ)−1), √2 − 1); diffusers always
   * draws that noise, this draws it only when γ > 0 (the result is the same).
   */
  step(
    modelOutput: Float32Array,
    timestep: number,
    sample: Float32Array,
    options: EulerDiscreteStepOptions = {},
  ): SchedulerStepResult {
    const len = assertSameLength('EulerDiscreteScheduler.step', modelOutput, sample);
    const i = this.initStepIndex(timestep);
    if (i + 1 >= this.sigmas.length) throw new SchedulerStateError('step called after the last timestep');
    const { sChurn = 0, sTmin = 0, sTmax = Infinity, sNoise = 1 } = options;
    const sigma = this.sigmas[i];
    const gamma = sTmin <= sigma && sigma <= sTmax ? Math.min(sChurn / (this.sigmas.length - 1), Math.SQRT2 - 1) : 0;
    const sigmaHat = f32(sigma * f32(gamma + 1));
    let x = sample;
    if (gamma > 0) {
      const noise = options.noise ?? options.generator?.randn(len);
      if (!noise) throw new SchedulerStateError('sChurn > 0 needs a generator or noise');
      const scale = f32(Math.sqrt(f32(f32(sigmaHat * sigmaHat) - f32(sigma * sigma))));
      const sN = f32(sNoise);
      x = sample.map((v, k) => f32(v + f32(f32(noise[k] * sN) * scale)));
    }
    const x0 = new Float32Array(len);
    const pt = this.config.predictionType;
    if (pt === 'epsilon') {
      for (let k = 0; k < len; k++) x0[k] = f32(x[k] - f32(sigmaHat * modelOutput[k]));
    } else if (pt === 'v_prediction') {
      const s2p1 = f32(f32(sigma * sigma) + 1);
      const cOut = f32(-sigma / f32(Math.sqrt(s2p1)));
      for (let k = 0; k < len; k++) x0[k] = f32(f32(modelOutput[k] * cOut) + f32(x[k] / s2p1));
    } else {
      x0.set(modelOutput);
    }
    const dt = f32(this.sigmas[i + 1] - sigmaHat);
    const prev = new Float32Array(len);
    for (let k = 0; k < len; k++) {
      const derivative = f32(f32(x[k] - x0[k]) / sigmaHat);
      prev[k] = f32(x[k] + f32(derivative * dt));
    }
    this.stepIdx = i + 1;
    return { prevSample: prev, predOriginalSample: x0 };
  }

  /** x + σ·noise at `timestep` (float32); the forward process in Euler's VE parameterisation. */
  addNoise(originalSamples: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    assertSameLength('EulerDiscreteScheduler.addNoise', originalSamples, noise);
    const sigma = this.sigmas[this.noiseIndex(timestep)];
    return originalSamples.map((x, k) => f32(x + f32(noise[k] * sigma)));
  }

  private continuous(): boolean {
    return this.config.timestepType === 'continuous' && this.config.predictionType === 'v_prediction';
  }

  private spacedTimesteps(n: number): Float32Array {
    const { numTrainTimesteps: N, timestepSpacing, stepsOffset } = this.config;
    if (timestepSpacing === 'linspace') return Float32Array.from(npLinspace(0, N - 1, n).reverse());
    if (timestepSpacing === 'leading') {
      const ratio = Math.floor(N / n);
      const ts = new Float32Array(n);
      for (let i = 0; i < n; i++) ts[i] = f32(roundHalfEven((n - 1 - i) * ratio) + stepsOffset);
      return ts;
    }
    return Float32Array.from(npArange(N, 0, -N / n), (t) => f32(roundHalfEven(t) - 1));
  }

  private initStepIndex(timestep: number): number {
    if (this.stepIdx === null) {
      this.stepIdx = this.beginIdx ?? indexForTimestep(timestep, this.timesteps);
    }
    return this.stepIdx;
  }

  /** diffusers' add_noise index rule: look up (no begin index), else the current step, else the begin index. */
  private noiseIndex(timestep: number): number {
    if (this.beginIdx === null) return indexForTimestep(timestep, this.timesteps);
    return this.stepIdx ?? this.beginIdx;
  }
}
