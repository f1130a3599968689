/**
 * diffusers' scheduler-test fixtures (tests/schedulers/test_schedulers.py, `SchedulerCommonTest`), so that
 * the published full-loop expectations can be checked here. Used by the tests only; not exported.
 */
import { f32, sumAbs } from './numeric.js';
import type { DiffusionScheduler, SchedulerStepOptions } from './types.js';

/** (batch, channels, height, width) of diffusers' dummy samples. */
export const DUMMY_SHAPE = [4, 3, 8, 8] as const;
const [B, C, H, W] = DUMMY_SHAPE;
const NUM = B * C * H * W;

/**
 * `dummy_sample_deter`: arange(768) reshaped to (C, H, W, B), divided by 768 (float32), permuted to
 * (B, C, H, W) and laid out contiguously: element [b, c, h, w] = (c·256 + h·32 + w·4 + b) / 768.
 * With `flip`, `dummy_noise_deter` (arange flipped first): (767 − that index) / 768.
 */
export function dummySampleDeter(flip = false): Float32Array {
  const out = new Float32Array(NUM);
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++)
      for (let h = 0; h < H; h++)
        for (let w = 0; w < W; w++) {
          const k = c * H * W * B + h * W * B + w * B + b;
          out[((b * C + c) * H + h) * W + w] = f32((flip ? NUM - 1 - k : k) / NUM);
        }
  return out;
}

/** diffusers' dummy model: sample · t / (t + 1) with t cast to float32. */
export function dummyModel(sample: Float32Array, t: number): Float32Array {
  const tf = f32(t);
  const denom = f32(tf + 1);
  return sample.map((x) => f32(x * tf) / denom);
}

/** Options of `fullLoop`, mirroring the shapes of diffusers' `full_loop` variants. */
export interface FullLoopOptions {
  /** Multiply the start sample by initNoiseSigma (Euler tests do, DDIM/DPM tests do not). */
  scaleByInitNoiseSigma?: boolean;
  /** Call scaleModelInput before the model (Euler tests do). */
  scaleInput?: boolean;
  /** Start at timesteps[tStart·order] after `addNoise(sample, dummy_noise_deter, that timestep)`. */
  tStart?: number;
  steps?: number;
  stepOptions?: SchedulerStepOptions;
}

/** diffusers' `full_loop` / `test_full_loop_with_noise` body; returns the final sample. */
export function fullLoop(scheduler: DiffusionScheduler, opts: FullLoopOptions = {}): Float32Array {
  scheduler.setTimesteps(opts.steps ?? 10);
  let sample = dummySampleDeter();
  if (opts.scaleByInitNoiseSigma) {
    const s = f32(scheduler.initNoiseSigma);
    sample = sample.map((x) => x * s);
  }
  let timesteps = Array.from(scheduler.timesteps);
  if (opts.tStart !== undefined) {
    timesteps = timesteps.slice(opts.tStart * scheduler.order);
    sample = scheduler.addNoise(sample, dummySampleDeter(true), timesteps[0]);
  }
  for (const t of timesteps) {
    if (opts.scaleInput) sample = scheduler.scaleModelInput(sample, t);
    const out = dummyModel(sample, t);
    sample = scheduler.step(out, t, sample, opts.stepOptions).prevSample;
  }
  return sample;
}

/** diffusers' result statistics: sum |x| and mean |x|. */
export function absStats(sample: Float32Array): { sum: number; mean: number } {
  const sum = sumAbs(sample);
  return { sum, mean: sum / sample.length };
}
