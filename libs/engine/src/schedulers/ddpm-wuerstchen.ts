import { pickDiffusersConfig } from './diffusers-config.js';
import { SchedulerConfigError, SchedulerStateError } from './errors.js';
import { f32, torchLinspaceF32 } from './numeric.js';
import { assertSameLength } from './step-index.js';
import type { DiffusionScheduler, SchedulerStepOptions, SchedulerStepResult } from './types.js';

/** DDPMWuerstchenScheduler config: diffusers' names, same defaults (Stable Cascade ships s 0.008, scaler 1.0). */
export interface DDPMWuerstchenSchedulerConfig {
  /** Offset of the cosine schedule (Nichol & Dhariwal 2021). */
  s: number;
  /** Warps t before the cosine: t' = 1 − (1 − t)^scaler when > 1, t^scaler when < 1. */
  scaler: number;
}

const DEFAULTS: DDPMWuerstchenSchedulerConfig = { s: 0.008, scaler: 1.0 };

/**
 * Würstchen / Stable Cascade's DDPM sampler on continuous time — diffusers' `DDPMWuerstchenScheduler`
 * (schedulers/scheduling_ddpm_wuerstchen.py). Time runs from t = 1 (noise) to t = 0; ᾱ(t) is the cosine schedule
 * cos²((t + s)/(1 + s)·π/2) / cos²(s/(1 + s)·π/2) clamped to [1e-4, 0.9999]. The model predicts ε; a step
 * from t to the next timestep t' is the DDPM posterior mean
 *   μ = (x − (1 − α)·ε / √(1 − ᾱ_t)) / √α,  α = ᾱ_t / ᾱ_t',
 * plus √((1 − α)(1 − ᾱ_t')/(1 − ᾱ_t))·z with fresh noise z, except into t' = 0. As diffusers, the noise is drawn on
 * every step (also the last, where it is multiplied by 0), so the generator advances identically.
 *
 * Invariants: `timesteps` = torch.linspace(1, 0, steps + 1) in float32 (the pipelines run all but the last);
 * `initNoiseSigma` = 1, `scaleModelInput` is the identity; `sigmas` holds √((1 − ᾱ)/ᾱ) per timestep for callers
 * that display a noise level. float32 arithmetic wherever torch holds float32.
 */
export class DDPMWuerstchenScheduler implements DiffusionScheduler {
  readonly order = 1;
  readonly initNoiseSigma = 1;
  readonly config: Readonly<DDPMWuerstchenSchedulerConfig>;
  timesteps: Float32Array = new Float32Array(0);
  sigmas: Float32Array = new Float32Array(0);
  private readonly initAlphaCumprod: number;

  constructor(config: Partial<DDPMWuerstchenSchedulerConfig> = {}) {
    const c = { ...DEFAULTS, ...config };
    if (!(Number.isFinite(c.s) && c.s >= 0)) throw new SchedulerConfigError('s', c.s);
    if (!(Number.isFinite(c.scaler) && c.scaler > 0)) throw new SchedulerConfigError('scaler', c.scaler);
    this.config = Object.freeze(c);
    const s = f32(c.s);
    this.initAlphaCumprod = f32(f32(Math.cos(f32(f32(f32(s / f32(1 + s)) * f32(Math.PI)) * 0.5))) ** 2);
  }

  /** From a diffusers `scheduler_config.json` object (unknown keys ignored). */
  static fromDiffusersConfig(raw: Record<string, unknown>): DDPMWuerstchenScheduler {
    return new DDPMWuerstchenScheduler(pickDiffusersConfig(raw, DEFAULTS));
  }

  /** ᾱ(t) of diffusers' `_alpha_cumprod`, float32, clamped to [1e-4, 0.9999]. */
  alphaCumprod(t: number): number {
    const { scaler } = this.config;
    const s = f32(this.config.s);
    let x = f32(t);
    if (scaler > 1) x = f32(1 - f32(f32(1 - x) ** scaler));
    else if (scaler < 1) x = f32(x ** scaler);
    const angle = f32(f32(f32(f32(x + s) / f32(1 + s)) * f32(Math.PI)) * 0.5);
    const a = f32(f32(f32(Math.cos(angle)) ** 2) / this.initAlphaCumprod);
    return Math.min(Math.max(a, f32(0.0001)), f32(0.9999));
  }

  /** `set_timesteps(n)`: n + 1 timesteps from 1 to 0. */
  setTimesteps(numInferenceSteps: number): void {
    if (!Number.isInteger(numInferenceSteps) || numInferenceSteps < 1) {
      throw new SchedulerConfigError('numInferenceSteps', numInferenceSteps, 'must be a positive integer');
    }
    this.timesteps = torchLinspaceF32(1.0, 0.0, numInferenceSteps + 1);
    this.sigmas = this.timesteps.map((t) => {
      const a = this.alphaCumprod(t);
      return f32(Math.sqrt(f32(f32(1 - a) / a)));
    });
  }

  scaleModelInput(sample: Float32Array): Float32Array {
    return sample;
  }

  /** diffusers' `previous_timestep`: the schedule entry after the one nearest to `t`. */
  previousTimestep(t: number): number {
    if (this.timesteps.length === 0) throw new SchedulerStateError('step called before setTimesteps');
    let best = 0;
    for (let i = 1; i < this.timesteps.length; i++) {
      if (Math.abs(this.timesteps[i] - t) < Math.abs(this.timesteps[best] - t)) best = i;
    }
    if (best + 1 >= this.timesteps.length) {
      throw new SchedulerStateError(`timestep ${t} is the last of the schedule; there is no step after it`);
    }
    return this.timesteps[best + 1];
  }

  step(
    modelOutput: Float32Array,
    timestep: number,
    sample: Float32Array,
    options: SchedulerStepOptions = {},
  ): SchedulerStepResult {
    assertSameLength('DDPMWuerstchenScheduler.step', modelOutput, sample);
    const prevT = this.previousTimestep(timestep);
    const ac = this.alphaCumprod(timestep);
    const acPrev = this.alphaCumprod(prevT);
    const alpha = f32(ac / acPrev);
    const invSqrtAlpha = f32(Math.sqrt(f32(1 / alpha)));
    const oneMinusAlpha = f32(1 - alpha);
    const sqrtOneMinusAc = f32(Math.sqrt(f32(1 - ac)));
    const stdScale = f32(Math.sqrt(f32(f32(oneMinusAlpha * f32(1 - acPrev)) / f32(1 - ac))));
    let noise = options.noise;
    if (!noise) {
      if (!options.generator) throw new SchedulerStateError('DDPMWuerstchenScheduler.step needs a generator or noise');
      noise = options.generator.randn(sample.length);
    }
    assertSameLength('DDPMWuerstchenScheduler.step noise', noise, sample);
    const keep = prevT !== 0 ? 1 : 0;
    const prev = new Float32Array(sample.length);
    for (let i = 0; i < prev.length; i++) {
      const eps = f32(f32(oneMinusAlpha * modelOutput[i]) / sqrtOneMinusAc);
      const mu = f32(invSqrtAlpha * f32(sample[i] - eps));
      prev[i] = f32(mu + f32(f32(stdScale * noise[i]) * keep));
    }
    return { prevSample: prev };
  }

  /** √ᾱ(t)·x₀ + √(1 − ᾱ(t))·noise. */
  addNoise(originalSamples: Float32Array, noise: Float32Array, timestep: number): Float32Array {
    assertSameLength('DDPMWuerstchenScheduler.addNoise', originalSamples, noise);
    const a = this.alphaCumprod(timestep);
    const sa = f32(Math.sqrt(a));
    const sb = f32(Math.sqrt(f32(1 - a)));
    return originalSamples.map((x, i) => f32(f32(sa * x) + f32(sb * noise[i])));
  }
}
