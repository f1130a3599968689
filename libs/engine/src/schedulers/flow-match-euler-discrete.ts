import { pickDiffusersConfig } from './diffusers-config.js';
import { SchedulerConfigError, SchedulerStateError } from './errors.js';
import { f32, npLinspace } from './numeric.js';
import { assertSameLength, indexForTimestep } from './step-index.js';
import type { DiffusionScheduler, SchedulerStepOptions, SchedulerStepResult } from './types.js';

/** FlowMatchEulerDiscreteScheduler config: diffusers' names camelCased, same defaults. */
export interface FlowMatchEulerDiscreteSchedulerConfig {
  numTrainTimesteps: number;
  /** Static timestep shift s: σ' = s·σ / (1 + (s − 1)·σ) (SD3 uses 3.0). */
  shift: number;
  /** Resolution-dependent shift: `setTimesteps` then needs `mu` (see `calculateShift`). */
  useDynamicShifting: boolean;
  baseShift: number;
  maxShift: number;
  baseImageSeqLen: number;
  maxImageSeqLen: number;
  /** With dynamic shifting: `exponential` σ' = e^μ/(e^μ + 1/σ − 1), `linear` σ' = μ/(μ + 1/σ − 1). */
  timeShiftType: 'exponential' | 'linear';
  /** Stretch the shifted schedule so that its last σ equals this value; null = off. */
  shiftTerminal: number | null;
}

const DEFAULTS: FlowMatchEulerDiscreteSchedulerConfig = {
  numTrainTimesteps: 1000,
  shift: 1.0,
  useDynamicShifting: false,
  baseShift: 0.5,
  maxShift: 1.15,
  baseImageSeqLen: 256,
  maxImageSeqLen: 4096,
  timeShiftType: 'exponential',
  shiftTerminal: null,
};

/**
 * The μ of resolution-dependent shifting, as diffusers' Flux / SD3 pipelines compute it: a line through
 * (baseSeqLen, baseShift) and (maxSeqLen, maxShift) evaluated at `imageSeqLen` (latent tokens).
 */
export function calculateShift(
  imageSeqLen: number,
  baseSeqLen = 256,
  maxSeqLen = 4096,
  baseShift = 0.5,
  maxShift = 1.15,
): number {
  const m = (maxShift - baseShift) / (maxSeqLen - baseSeqLen);
  const b = baseShift - m * baseSeqLen;
  return imageSeqLen * m + b;
}

/**
 * Euler for rectified-flow / flow-matching models (SD3, Flux) — diffusers' `FlowMatchEulerDiscreteScheduler`.
 * The model predicts the velocity v = noise − x₀; x_σ = σ·noise + (1 − σ)·x₀; a step is x + (σ_next − σ)·v.
 *
 * Invariants: `sigmas` descends from ≤ 1 to a final 0 and has timesteps.length + 1 entries;
 * `timesteps` = σ·numTrainTimesteps in float32 (a Float32Array, as diffusers); lookups of a timestep accept
 * values within float32 rounding of an entry (so integer-valued timesteps resolve); `initNoiseSigma` is 1 and
 * `scaleModelInput` is the identity. Like diffusers, `setTimesteps` spreads σ between the *shifted* training
 * σ_max and σ_min and then applies the shift again (diffusers' behaviour, kept for equal schedules).
 */
export class FlowMatchEulerDiscreteScheduler implements DiffusionScheduler {
  readonly order = 1;
  readonly initNoiseSigma = 1;
  readonly config: Readonly<FlowMatchEulerDiscreteSchedulerConfig>;
  timesteps: Float32Array;
  sigmas: Float32Array;
  numInferenceSteps: number | null = null;
  /** Ends of the training σ table (after the static shift), as float32 values. */
  readonly sigmaMin: number;
  readonly sigmaMax: number;
  private stepIdx: number | null = null;
  private beginIdx: number | null = null;

  constructor(config: Partial<FlowMatchEulerDiscreteSchedulerConfig> = {}) {
    const c = { ...DEFAULTS, ...config };
    if (!Number.isInteger(c.numTrainTimesteps) || c.numTrainTimesteps < 1) {
      throw new SchedulerConfigError('numTrainTimesteps', c.numTrainTimesteps);
    }
    if (!(c.shift > 0)) throw new SchedulerConfigError('shift', c.shift);
    if (!['exponential', 'linear'].includes(c.timeShiftType)) {
      throw new SchedulerConfigError('timeShiftType', c.timeShiftType);
    }
    this.config = Object.freeze(c);
    const N = c.numTrainTimesteps;
    // diffusers: timesteps = linspace(1, N, N)[::-1] (float32); σ = t / N; static shift in float32.
    const t = Float32Array.from(npLinspace(1, N, N).reverse());
    let sigmas = t.map((v) => v / N);
    if (!c.useDynamicShifting) {
      const s = f32(c.shift);
      const sm1 = f32(c.shift - 1);
      sigmas = sigmas.map((v) => f32(s * v) / f32(1 + f32(sm1 * v)));
    }
    this.sigmas = sigmas;
    this.timesteps = sigmas.map((v) => v * N);
    this.sigmaMax = sigmas[0];
    this.sigmaMin = sigmas[sigmas.length - 1];
  }

  /** Builds the scheduler from a diffusers `scheduler_config.json` object (unknown keys ignored). */
  static fromDiffusersConfig(raw: Record<string, unknown>): FlowMatchEulerDiscreteScheduler {
    return new FlowMatchEulerDiscreteScheduler(pickDiffusersConfig(raw, DEFAULTS));
  }

  get stepIndex(): number | null {
    return this.stepIdx;
  }

  setBeginIndex(beginIndex = 0): void {
    this.beginIdx = beginIndex;
  }

  /**
   * `numInferenceSteps` σ evenly spaced in [σ_min, σ_max] (or explicit `sigmas`, without the final 0), shifted
   * statically or by `mu` when `useDynamicShifting`, then a final σ = 0 appended. float64 math, float32 result.
   */
  setTimesteps(numInferenceSteps: number | null, opts: { sigmas?: ArrayLike<number>; mu?: number } = {}): void {
    const c = this.config;
    const N = c.numTrainTimesteps;
    if (c.useDynamicShifting && opts.mu === undefined) {
      throw new SchedulerStateError('useDynamicShifting needs mu (see calculateShift)');
    }
    let sigmas: number[];
    if (opts.sigmas) {
      sigmas = Array.from(Float32Array.from(opts.sigmas));
    } else {
      const n = numInferenceSteps;
      if (n === null || !Number.isInteger(n) || n < 1) {
        throw new SchedulerStateError(`numInferenceSteps must be ≥ 1, got ${n}`);
      }
      sigmas = npLinspace(this.sigmaMax * N, this.sigmaMin * N, n).map((t) => t / N);
    }
    if (c.useDynamicShifting) {
      const mu = opts.mu!;
      sigmas =
        c.timeShiftType === 'exponential'
          ? sigmas.map((s) => Math.exp(mu) / (Math.exp(mu) + (1 / s - 1)))
          : sigmas.map((s) => mu / (mu + (1 / s - 1)));
    } else {
      sigmas = sigmas.map((s) => (c.shift * s) / (1 + (c.shift - 1) * s));
    }
    if (c.shiftTerminal !== null) {
      const oneMinus = sigmas.map((s) => 1 - s);
      const scale = oneMinus[oneMinus.length - 1] / (1 - c.shiftTerminal);
      sigmas = oneMinus.map((z) => 1 - z / scale);
    }
    const s32 = Float32Array.from(sigmas);
    this.numInferenceSteps = s32.length;
    this.timesteps = s32.map((s) => s * N);
    this.sigmas = new Float32Array(s32.length + 1);
    this.sigmas.set(s32);
    this.stepIdx = null;
    this.beginIdx = null;
  }

  /**
   * diffusers' `index_for_timestep`: the schedule position of `timestep`, tolerating float32 rounding
   * (e.g. 254 finds 254.00001); the second of two equal entries; throws SchedulerStateError when absent.
   */
  indexForTimestep(timestep: number): number {
    return indexForTimestep(timestep, this.timesteps, 'throw', true);
  }

  /** The identity (flow-matching models take x_σ as is). */
  scaleModelInput(sample: Float32Array, _timestep?: number): Float32Array {
    return sample;
  }

  /** x + (σ_next − σ)·v, float32. Deterministic: the stochastic options are not read. */
  step(
    modelOutput: Float32Array,
    timestep: number,
    sample: Float32Array,
    _options?: SchedulerStepOptions,
  ): SchedulerStepResult {
    assertSameLength('FlowMatchEulerDiscreteScheduler.step', modelOutput, sample);
    if (this.stepIdx === null) this.stepIdx = this.beginIdx ?? this.indexForTimestep(timestep);
    const i = this.stepIdx;
    if (i + 1 >= this.sigmas.length) throw new SchedulerStateError('step called after the last timestep');
    const dt = f32(this.sigmas[i + 1] - this.sigmas[i]);
    const prev = sample.map((x, k) => f32(x + f32(dt * modelOutput[k])));
    this.stepIdx = i + 1;
    return { prevSample: prev };
  }

  /** diffusers' `scale_noise` (the flow-matching forward process): σ·noise + (1 − σ)·x at `timestep`, float32. */
  addNoise(originalSamples: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    assertSameLength('FlowMatchEulerDiscreteScheduler.addNoise', originalSamples, noise);
    const idx = this.beginIdx === null ? this.indexForTimestep(timestep) : (this.stepIdx ?? this.beginIdx);
    const sigma = this.sigmas[idx];
    const oneMinus = f32(1 - sigma);
    return originalSamples.map((x, k) => f32(f32(sigma * noise[k]) + f32(oneMinus * x)));
  }
}
