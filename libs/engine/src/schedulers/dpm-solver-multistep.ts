import { pickDiffusersConfig } from './diffusers-config.js';
import {
  compileDPMSolverMultistepConfig,
  DPM_SOLVER_MULTISTEP_DEFAULTS,
  type DPMSolverMultistepSchedulerConfig,
} from './dpm-solver-multistep-config.js';
import { SchedulerStateError } from './errors.js';
import {
  f32,
  interpOnIndexGrid,
  logF32,
  npArange,
  npLinspace,
  roundHalfEven,
  sigmasFromAlphasCumprod,
} from './numeric.js';
import { alphasCumprod } from './noise-schedule.js';
import { exponentialSigmas, karrasSigmas, luSigmas, sigmaToT } from './sigma-schedules.js';
import { assertSameLength, indexForTimestep } from './step-index.js';
import { dynamicThreshold } from './threshold.js';
import type { DiffusionScheduler, SchedulerStepOptions, SchedulerStepResult } from './types.js';

export type { DPMSolverMultistepSchedulerConfig } from './dpm-solver-multistep-config.js';

/** α_t = 1/√(σ²+1), σ_t = σ·α_t and λ = ln α_t − ln σ_t, float32 as diffusers' `_sigma_to_alpha_sigma_t`. */
function alphaSigmaLambda(sigma: number): { alpha: number; sigmaT: number; lambda: number } {
  const alpha = f32(1 / f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
  const sigmaT = f32(sigma * alpha);
  return { alpha, sigmaT, lambda: f32(f32(Math.log(alpha)) - f32(Math.log(sigmaT))) };
}

/**
 * Multistep DPM-Solver / DPM-Solver++ (Lu et al. 2022) — diffusers' `DPMSolverMultistepScheduler`
 * (deterministic variants; the SDE variants and learned-variance outputs are not implemented).
 *
 * Invariants: `timesteps` is an Int32Array (diffusers: int64); `sigmas` has one more entry than `timesteps`
 * (the final σ); the solver keeps the last `solverOrder` converted model outputs and climbs from order 1 to
 * `solverOrder` over the first steps; step arithmetic is float32 with α, σ, λ derived from the σ table as
 * diffusers does; `initNoiseSigma` is 1 and `scaleModelInput` is the identity.
 */
export class DPMSolverMultistepScheduler implements DiffusionScheduler {
  readonly order = 1;
  readonly initNoiseSigma = 1;
  readonly config: Readonly<DPMSolverMultistepSchedulerConfig>;
  /** ᾱ_t of the training schedule, float32. */
  readonly alphasCumprod: Float32Array;
  timesteps: Int32Array;
  sigmas: Float32Array;
  numInferenceSteps: number | null = null;
  private modelOutputs: (Float32Array | null)[];
  private lowerOrderNums = 0;
  private stepIdx: number | null = null;
  private beginIdx: number | null = null;
  private readonly trainSigmas: Float32Array;
  private readonly logTrainSigmas: Float32Array;

  constructor(config: Partial<DPMSolverMultistepSchedulerConfig> = {}) {
    const c = compileDPMSolverMultistepConfig(config);
    this.config = c;
    this.alphasCumprod = alphasCumprod(c, true);
    this.trainSigmas = sigmasFromAlphasCumprod(this.alphasCumprod);
    this.logTrainSigmas = logF32(this.trainSigmas);
    const n = c.numTrainTimesteps;
    this.timesteps = Int32Array.from({ length: n }, (_, i) => n - 1 - i);
    this.sigmas = this.trainSigmas.slice();
    this.modelOutputs = new Array(c.solverOrder).fill(null);
  }

  /** Builds the scheduler from a diffusers `scheduler_config.json` object (unknown keys ignored). */
  static fromDiffusersConfig(raw: Record<string, unknown>): DPMSolverMultistepScheduler {
    return new DPMSolverMultistepScheduler(pickDiffusersConfig(raw, DPM_SOLVER_MULTISTEP_DEFAULTS));
  }

  get stepIndex(): number | null {
    return this.stepIdx;
  }

  setBeginIndex(beginIndex = 0): void {
    this.beginIdx = beginIndex;
  }

  /**
   * Sets the inference schedule (or explicit integer `timesteps`) and resets the solver's history.
   * Karras/Lu timesteps are rounded to integers, so the schedule may contain duplicates at high step counts.
   */
  setTimesteps(numInferenceSteps: number | null, custom: { timesteps?: ArrayLike<number> } = {}): void {
    const c = this.config;
    if ((numInferenceSteps === null) === !custom.timesteps) {
      throw new SchedulerStateError('pass exactly one of numInferenceSteps or custom timesteps');
    }
    if (custom.timesteps && (c.useKarrasSigmas || c.useLuLambdas || c.useExponentialSigmas)) {
      throw new SchedulerStateError('custom timesteps cannot be used with Karras/Lu/exponential sigmas');
    }
    let timesteps: number[];
    const n = numInferenceSteps ?? custom.timesteps!.length;
    if (!Number.isInteger(n) || n < 1) throw new SchedulerStateError(`numInferenceSteps must be ≥ 1, got ${n}`);
    if (custom.timesteps) {
      timesteps = Array.from(custom.timesteps, Math.trunc);
    } else {
      const N = c.numTrainTimesteps;
      // λ is decreasing in t; count the timesteps (from the end) whose λ is below lambdaMinClipped.
      let clipped = 0;
      for (let t = N - 1; t >= 0; t--) {
        const a = this.alphasCumprod[t];
        const lambda = f32(f32(Math.log(f32(Math.sqrt(a)))) - f32(Math.log(f32(Math.sqrt(f32(1 - a))))));
        if (lambda < c.lambdaMinClipped) clipped++;
        else break;
      }
      const lastTimestep = N - clipped;
      if (c.timestepSpacing === 'linspace') {
        timesteps = npLinspace(0, lastTimestep - 1, n + 1)
          .map(roundHalfEven)
          .reverse()
          .slice(0, n);
      } else if (c.timestepSpacing === 'leading') {
        const ratio = Math.floor(lastTimestep / (n + 1));
        timesteps = Array.from({ length: n }, (_, i) => (n - i) * ratio + c.stepsOffset);
      } else {
        timesteps = npArange(lastTimestep, 0, -N / n).map((t) => roundHalfEven(t) - 1);
      }
    }

    let sigmas: number[];
    const train = this.trainSigmas;
    const sigmaMin = train[0];
    const sigmaMax = train[train.length - 1];
    const toT = (s: number) => sigmaToT(s, this.logTrainSigmas);
    const rounded = c.betaSchedule !== 'squaredcos_cap_v2';
    if (c.useKarrasSigmas) {
      sigmas = karrasSigmas(sigmaMin, sigmaMax, n);
      timesteps = sigmas.map((s) => (rounded ? roundHalfEven(toT(s)) : toT(s)));
    } else if (c.useLuLambdas) {
      sigmas = luSigmas(this.logTrainSigmas[0], this.logTrainSigmas[train.length - 1], n);
      timesteps = sigmas.map((s) => (rounded ? roundHalfEven(toT(s)) : toT(s)));
    } else if (c.useExponentialSigmas) {
      sigmas = exponentialSigmas(sigmaMin, sigmaMax, n);
      timesteps = sigmas.map(toT);
    } else {
      sigmas = timesteps.map((t) => interpOnIndexGrid(t, train));
    }
    const last = c.finalSigmasType === 'sigma_min' ? train[0] : 0;
    this.sigmas = Float32Array.from([...sigmas, last]);
    // diffusers: torch.from_numpy(timesteps).to(int64) — truncation toward zero.
    this.timesteps = Int32Array.from(timesteps, Math.trunc);
    this.numInferenceSteps = this.timesteps.length;
    this.modelOutputs = new Array(c.solverOrder).fill(null);
    this.lowerOrderNums = 0;
    this.stepIdx = null;
    this.beginIdx = null;
  }

  /** The identity: DPM-Solver needs no input scaling. */
  scaleModelInput(sample: Float32Array, _timestep?: number): Float32Array {
    return sample;
  }

  /**
   * One multistep update: converts the model output to x̂₀ (dpmsolver++) or ε̂ (dpmsolver), then uses the
   * first-, second- or third-order formula depending on history, `lowerOrderFinal`, `eulerAtFinal` and
   * `finalSigmasType` exactly as diffusers decides. Reads `batchSize` (thresholding) only.
   */
  step(
    modelOutput: Float32Array,
    timestep: number,
    sample: Float32Array,
    options: SchedulerStepOptions = {},
  ): SchedulerStepResult {
    assertSameLength('DPMSolverMultistepScheduler.step', modelOutput, sample);
    if (this.numInferenceSteps === null) throw new SchedulerStateError('call setTimesteps before step');
    const c = this.config;
    if (this.stepIdx === null) this.stepIdx = this.beginIdx ?? indexForTimestep(timestep, this.timesteps, 'last');
    const i = this.stepIdx;
    const n = this.timesteps.length;
    if (i >= n) throw new SchedulerStateError('step called after the last timestep');
    const lowerOrderFinal =
      i === n - 1 && (c.eulerAtFinal || (c.lowerOrderFinal && n < 15) || c.finalSigmasType === 'zero');
    const lowerOrderSecond = i === n - 2 && c.lowerOrderFinal && n < 15;

    const converted = this.convertModelOutput(modelOutput, sample, options.batchSize ?? 1);
    for (let k = 0; k < c.solverOrder - 1; k++) this.modelOutputs[k] = this.modelOutputs[k + 1];
    this.modelOutputs[c.solverOrder - 1] = converted;

    let prev: Float32Array;
    if (c.solverOrder === 1 || this.lowerOrderNums < 1 || lowerOrderFinal) {
      prev = this.firstOrderUpdate(converted, sample);
    } else if (c.solverOrder === 2 || this.lowerOrderNums < 2 || lowerOrderSecond) {
      prev = this.secondOrderUpdate(sample);
    } else {
      prev = this.thirdOrderUpdate(sample);
    }
    if (this.lowerOrderNums < c.solverOrder) this.lowerOrderNums++;
    this.stepIdx = i + 1;
    return { prevSample: prev };
  }

  /** α_t·x + σ_t·noise with α_t, σ_t from the σ of `timestep` (float32). */
  addNoise(originalSamples: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    assertSameLength('DPMSolverMultistepScheduler.addNoise', originalSamples, noise);
    const idx =
      this.beginIdx === null ? indexForTimestep(timestep, this.timesteps, 'last') : (this.stepIdx ?? this.beginIdx);
    const { alpha, sigmaT } = alphaSigmaLambda(this.sigmas[idx]);
    return originalSamples.map((x, k) => f32(f32(alpha * x) + f32(sigmaT * noise[k])));
  }

  private convertModelOutput(m: Float32Array, x: Float32Array, batchSize: number): Float32Array {
    const c = this.config;
    const { alpha, sigmaT } = alphaSigmaLambda(this.sigmas[this.stepIdx!]);
    const len = m.length;
    if (c.algorithmType === 'dpmsolver++') {
      let x0: Float32Array;
      if (c.predictionType === 'epsilon') x0 = m.map((v, k) => f32(x[k] - f32(sigmaT * v)) / alpha);
      else if (c.predictionType === 'sample') x0 = m.slice();
      else x0 = m.map((v, k) => f32(alpha * x[k]) - f32(sigmaT * v));
      if (c.thresholding) x0 = dynamicThreshold(x0, batchSize, c.dynamicThresholdingRatio, c.sampleMaxValue);
      return x0;
    }
    let eps: Float32Array;
    if (c.predictionType === 'epsilon') eps = m.slice();
    else if (c.predictionType === 'sample') eps = m.map((v, k) => f32(x[k] - f32(alpha * v)) / sigmaT);
    else eps = m.map((v, k) => f32(alpha * v) + f32(sigmaT * x[k]));
    if (c.thresholding) {
      let x0: Float32Array = new Float32Array(len);
      for (let k = 0; k < len; k++) x0[k] = f32(x[k] - f32(sigmaT * eps[k])) / alpha;
      x0 = dynamicThreshold(x0, batchSize, c.dynamicThresholdingRatio, c.sampleMaxValue);
      for (let k = 0; k < len; k++) eps[k] = f32(x[k] - f32(alpha * x0[k])) / sigmaT;
    }
    return eps;
  }

  private firstOrderUpdate(m: Float32Array, x: Float32Array): Float32Array {
    const i = this.stepIdx!;
    const t = alphaSigmaLambda(this.sigmas[i + 1]);
    const s = alphaSigmaLambda(this.sigmas[i]);
    const h = f32(t.lambda - s.lambda);
    let cx: number;
    let cm: number;
    if (this.config.algorithmType === 'dpmsolver++') {
      cx = f32(t.sigmaT / s.sigmaT);
      cm = f32(t.alpha * f32(f32(Math.exp(-h)) - 1));
    } else {
      cx = f32(t.alpha / s.alpha);
      cm = f32(t.sigmaT * f32(f32(Math.exp(h)) - 1));
    }
    return x.map((v, k) => f32(cx * v) - f32(cm * m[k]));
  }

  private secondOrderUpdate(x: Float32Array): Float32Array {
    const i = this.stepIdx!;
    const t = alphaSigmaLambda(this.sigmas[i + 1]);
    const s0 = alphaSigmaLambda(this.sigmas[i]);
    const s1 = alphaSigmaLambda(this.sigmas[i - 1]);
    const m0 = this.modelOutputs[this.modelOutputs.length - 1]!;
    const m1 = this.modelOutputs[this.modelOutputs.length - 2]!;
    const h = f32(t.lambda - s0.lambda);
    const h0 = f32(s0.lambda - s1.lambda);
    const r0 = f32(h0 / h);
    const invR0 = f32(1 / r0);
    const plus = this.config.algorithmType === 'dpmsolver++';
    const midpoint = this.config.solverType === 'midpoint';
    // x_t = cx·x − c0·D0 − c1·D1 (dpmsolver++ heun adds its D1 term; written with the sign folded into c1).
    let cx: number;
    let c0: number;
    let c1: number;
    if (plus) {
      const em1 = f32(f32(Math.exp(-h)) - 1);
      cx = f32(t.sigmaT / s0.sigmaT);
      c0 = f32(t.alpha * em1);
      c1 = midpoint ? f32(0.5 * c0) : -f32(t.alpha * f32(f32(em1 / h) + 1));
    } else {
      const ep1 = f32(f32(Math.exp(h)) - 1);
      cx = f32(t.alpha / s0.alpha);
      c0 = f32(t.sigmaT * ep1);
      c1 = midpoint ? f32(0.5 * c0) : f32(t.sigmaT * f32(f32(ep1 / h) - 1));
    }
    return x.map((v, k) => {
      const d1 = f32(invR0 * f32(m0[k] - m1[k]));
      return f32(f32(f32(cx * v) - f32(c0 * m0[k])) - f32(c1 * d1));
    });
  }

  private thirdOrderUpdate(x: Float32Array): Float32Array {
    const i = this.stepIdx!;
    const t = alphaSigmaLambda(this.sigmas[i + 1]);
    const s0 = alphaSigmaLambda(this.sigmas[i]);
    const s1 = alphaSigmaLambda(this.sigmas[i - 1]);
    const s2 = alphaSigmaLambda(this.sigmas[i - 2]);
    const len = this.modelOutputs.length;
    const m0 = this.modelOutputs[len - 1]!;
    const m1 = this.modelOutputs[len - 2]!;
    const m2 = this.modelOutputs[len - 3]!;
    const h = f32(t.lambda - s0.lambda);
    const h0 = f32(s0.lambda - s1.lambda);
    const h1 = f32(s1.lambda - s2.lambda);
    const r0 = f32(h0 / h);
    const r1 = f32(h1 / h);
    const invR0 = f32(1 / r0);
    const invR1 = f32(1 / r1);
    const w = f32(r0 / f32(r0 + r1));
    const invSum = f32(1 / f32(r0 + r1));
    const h2 = f32(h * h);
    let cx: number;
    let c0: number;
    let c1: number;
    let c2: number;
    if (this.config.algorithmType === 'dpmsolver++') {
      const em1 = f32(f32(Math.exp(-h)) - 1);
      cx = f32(t.sigmaT / s0.sigmaT);
      c0 = -f32(t.alpha * em1);
      c1 = f32(t.alpha * f32(f32(em1 / h) + 1));
      c2 = -f32(t.alpha * f32(f32(f32(em1 + h) / h2) - 0.5));
    } else {
      const ep1 = f32(f32(Math.exp(h)) - 1);
      cx = f32(t.alpha / s0.alpha);
      c0 = -f32(t.sigmaT * ep1);
      c1 = -f32(t.sigmaT * f32(f32(ep1 / h) - 1));
      c2 = -f32(t.sigmaT * f32(f32(f32(ep1 - h) / h2) - 0.5));
    }
    return x.map((v, k) => {
      const d10 = f32(invR0 * f32(m0[k] - m1[k]));
      const d11 = f32(invR1 * f32(m1[k] - m2[k]));
      const d1 = f32(d10 + f32(w * f32(d10 - d11)));
      const d2 = f32(invSum * f32(d10 - d11));
      return f32(f32(f32(f32(cx * v) + f32(c0 * m0[k])) + f32(c1 * d1)) + f32(c2 * d2));
    });
  }
}
