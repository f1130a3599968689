import type { NoiseGenerator } from './generator.js';

/** What the denoiser predicts (diffusers' `prediction_type`). */
export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';

/** How inference timesteps are spread over the training range (Lin et al. 2023, Table 2). */
export type TimestepSpacing = 'linspace' | 'leading' | 'trailing';

/** Options of one `step` call; each scheduler documents which ones it reads. */
export interface SchedulerStepOptions {
  /** DDIM's η (0 = deterministic DDIM, 1 = DDPM-like); ignored by the other schedulers. */
  eta?: number;
  /** Noise source for stochastic steps (ancestral Euler, DDIM with η > 0, Euler with sChurn > 0). */
  generator?: NoiseGenerator;
  /** Explicit noise instead of drawing from `generator` (diffusers' `variance_noise`); same length as the sample. */
  noise?: Float32Array;
  /**
   * Number of batch items the flat sample holds; only dynamic thresholding uses it (it thresholds each item
   * separately). Default 1.
   */
  batchSize?: number;
}

/** The result of one `step`: the less noisy sample, and (where diffusers returns it) the predicted x₀. */
export interface SchedulerStepResult {
  prevSample: Float32Array;
  predOriginalSample?: Float32Array;
}

/**
 * The contract every scheduler in this folder keeps (diffusers' `SchedulerMixin` loop, camelCased):
 *
 * ```ts
 * scheduler.setTimesteps(steps);
 * let x = noise.map((v) => v * scheduler.initNoiseSigma);
 * for (const t of scheduler.timesteps) {
 *   const eps = model(scheduler.scaleModelInput(x, t), t);
 *   x = scheduler.step(eps, t, x, { generator }).prevSample;
 * }
 * ```
 *
 * Samples are flat float32 arrays in the model's layout (the scheduler is elementwise, except thresholding,
 * which needs `batchSize`). `step` and `scaleModelInput` must be called with the values of `timesteps` in
 * order; the scheduler keeps a step counter, as diffusers does.
 */
export interface DiffusionScheduler {
  /** Model evaluations per step (1 for every scheduler here). */
  readonly order: number;
  /**
   * The inference timesteps, in the dtype diffusers gives them: `Float32Array` where diffusers holds a
   * float32 tensor (Euler, Euler-ancestral, flow matching), `Int32Array` where it holds int64 (DDIM, DPM-Solver).
   */
  readonly timesteps: Float32Array | Int32Array;
  /** Noise level σ per timestep plus the final one (length = timesteps.length + 1), float32. */
  readonly sigmas: Float32Array;
  /** Standard deviation of the initial noise: multiply unit Gaussian noise by it before the first step. */
  readonly initNoiseSigma: number;
  setTimesteps(numInferenceSteps: number): void;
  scaleModelInput(sample: Float32Array, timestep: number): Float32Array;
  step(
    modelOutput: Float32Array,
    timestep: number,
    sample: Float32Array,
    options?: SchedulerStepOptions,
  ): SchedulerStepResult;
  addNoise(originalSamples: Float32Array, noise: Float32Array, timestep: number): Float32Array;
}
