/**
 * The public contract of every Stable-Diffusion pipeline (`run(params, options)`), the compiled form of its
 * parameters, and the small pure pieces of diffusers' pipelines that every family shares: img2img timesteps
 * (`get_timesteps` by strength or `denoising_start`), `denoising_end`, classifier-free guidance, cancellation.
 */
import { EngineAbortedError } from '../../errors.js';
import type { RgbImage } from '../../rgb-image.js';
import type { ControlNetParams } from '../controlnet/controlnet.js';
import { SdParamsError } from './errors.js';
import type { SdScheduler } from './sd-scheduler.js';
import type { SdLatents } from './vae.js';

const f32 = Math.fround;

/** Parameters of one generation. Every field but `prompt` is optional; defaults are per pipeline (`defaults`). */
export interface SdRunParams {
  prompt: string;
  /** Undefined = diffusers' `negative_prompt=None` (SDXL base then uses zero embeddings); '' encodes the empty prompt. */
  negativePrompt?: string;
  /** Image size in pixels, multiples of 8 (16 for SD3). Default: the model's `sample_size` × 8; img2img: the image's. */
  width?: number;
  height?: number;
  /** Scheduler steps before `strength` / `denoisingStart` / `denoisingEnd` cut them. */
  steps?: number;
  /** Classifier-free guidance scale; ≤ 1 disables CFG (one denoiser pass per step, no negative prompt). */
  guidanceScale?: number;
  /** Seed of the torch-compatible CPU generator (low 32 bits, as torch). Default 0. */
  seed?: number | bigint;
  /** img2img: start from this image (its size is the output size). */
  image?: RgbImage;
  /**
   * img2img from latents instead of an image — the `{ latents }` result of a run with `outputType: 'latent'`
   * (already in the denoiser's scaled space; diffusers' `image=latents` of the SDXL refiner).
   */
  latents?: SdLatents;
  /** img2img: fraction of the schedule to run, 0 < strength ≤ 1; steps run = floor(steps · strength). */
  strength?: number;
  /** SDXL base: stop at this fraction of the schedule (hand-off to the refiner), 0 < x < 1. */
  denoisingEnd?: number;
  /** SDXL img2img / refiner: start at this fraction of the schedule (overrides `strength`, adds no noise). */
  denoisingStart?: number;
  /** 'image' (default) decodes with the VAE; 'latent' returns the final latents. */
  outputType?: 'image' | 'latent';
  /** SDXL refiner: time_ids aesthetic scores. Defaults 6.0 and 2.5, as diffusers. */
  aestheticScore?: number;
  negativeAestheticScore?: number;
  /** DDIM η (default 0). */
  eta?: number;
  /**
   * Scheduler for this run instead of the model's: `euler`, `euler-ancestral`, `ddim`, `dpm++2m`,
   * `flow-match-euler`, or a diffusers class name; configured from the model's scheduler_config.json.
   */
  scheduler?: string;
  /** SD 1.x / SDXL: ControlNets whose residuals are summed into the UNet's (pipelines/controlnet/). */
  controlNets?: ControlNetParams[];
}

/** Cancellation and progress of one run. */
export interface SdRunOptions {
  /** Aborting rejects the run with EngineAbortedError before the next denoiser call. */
  signal?: AbortSignal;
  /** Called after each denoising step with (done, total). */
  onStep?: (step: number, total: number) => void;
}

/** What a run returns: decoded images (one), or the final latents for `outputType: 'latent'`. */
export type SdRunResult = { images: RgbImage[] } | { latents: SdLatents };

/** Per-pipeline defaults (diffusers' signature defaults and the model's configured size). */
export interface SdDefaults {
  width: number;
  height: number;
  steps: number;
  guidanceScale: number;
  /** Default strength of img2img. */
  strength: number;
  /** Width and height must be multiples of this. */
  sizeMultiple: number;
}

/** Validated parameters with defaults filled in. */
export interface CompiledSdParams {
  prompt: string;
  negativePrompt: string | undefined;
  width: number;
  height: number;
  steps: number;
  guidanceScale: number;
  seed: number | bigint;
  image: RgbImage | undefined;
  latents: SdLatents | undefined;
  strength: number;
  denoisingStart: number | undefined;
  denoisingEnd: number | undefined;
  outputType: 'image' | 'latent';
  aestheticScore: number;
  negativeAestheticScore: number;
  eta: number;
  scheduler: string | undefined;
}

/**
 * Fills defaults and validates, naming the offending field in SdParamsError. With `image` the size is the image's
 * (a different explicit width/height is an error: resize first); with `latents` it is latents × `vaeScaleFactor`.
 */
export function compileSdParams(raw: SdRunParams, d: SdDefaults, vaeScaleFactor: number): CompiledSdParams {
  if (typeof raw.prompt !== 'string') throw new SdParamsError('prompt', 'must be a string');
  if (raw.negativePrompt !== undefined && typeof raw.negativePrompt !== 'string') {
    throw new SdParamsError('negativePrompt', 'must be a string');
  }
  if (raw.image && raw.latents) throw new SdParamsError('image', 'pass image or latents, not both');
  let width = raw.width ?? d.width;
  let height = raw.height ?? d.height;
  if (raw.image) {
    const { width: w, height: h, data } = raw.image;
    if (!(data instanceof Uint8Array) || data.length !== w * h * 3)
      throw new SdParamsError('image', 'must be RGB8 with width·height·3 bytes');
    if ((raw.width !== undefined && raw.width !== w) || (raw.height !== undefined && raw.height !== h)) {
      throw new SdParamsError('width', `the image is ${w}x${h}; resize it before passing ${raw.width}x${raw.height}`);
    }
    [width, height] = [w, h];
  } else if (raw.latents) {
    const l = raw.latents;
    if (!(l.data instanceof Float32Array) || l.data.length !== l.channels * l.height * l.width) {
      throw new SdParamsError('latents', 'data must be a Float32Array of channels·height·width values');
    }
    [width, height] = [l.width * vaeScaleFactor, l.height * vaeScaleFactor];
  }
  for (const [field, v] of [
    ['width', width],
    ['height', height],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0 || v % d.sizeMultiple !== 0) {
      throw new SdParamsError(field, `must be a positive multiple of ${d.sizeMultiple}, got ${v}`);
    }
  }
  const steps = raw.steps ?? d.steps;
  if (!Number.isInteger(steps) || steps < 1 || steps > 1000)
    throw new SdParamsError('steps', `must be an integer in 1..1000, got ${steps}`);
  const guidanceScale = raw.guidanceScale ?? d.guidanceScale;
  if (!Number.isFinite(guidanceScale) || guidanceScale < 0)
    throw new SdParamsError('guidanceScale', `must be ≥ 0, got ${guidanceScale}`);
  const seed = raw.seed ?? 0;
  if (typeof seed === 'bigint' ? seed < 0n : !Number.isSafeInteger(seed) || seed < 0) {
    throw new SdParamsError('seed', `must be a non-negative integer, got ${seed}`);
  }
  const strength = raw.strength ?? d.strength;
  if (!(strength > 0 && strength <= 1)) throw new SdParamsError('strength', `must be in (0, 1], got ${strength}`);
  const fraction = (field: string, v: number | undefined) => {
    if (v !== undefined && !(v > 0 && v < 1)) throw new SdParamsError(field, `must be in (0, 1), got ${v}`);
    return v;
  };
  const outputType = raw.outputType ?? 'image';
  if (outputType !== 'image' && outputType !== 'latent')
    throw new SdParamsError('outputType', `must be 'image' or 'latent'`);
  const eta = raw.eta ?? 0;
  if (!(eta >= 0)) throw new SdParamsError('eta', `must be ≥ 0, got ${eta}`);
  return {
    prompt: raw.prompt,
    negativePrompt: raw.negativePrompt,
    width,
    height,
    steps,
    guidanceScale,
    seed,
    image: raw.image,
    latents: raw.latents,
    strength,
    denoisingStart: fraction('denoisingStart', raw.denoisingStart),
    denoisingEnd: fraction('denoisingEnd', raw.denoisingEnd),
    outputType,
    aestheticScore: raw.aestheticScore ?? 6.0,
    negativeAestheticScore: raw.negativeAestheticScore ?? 2.5,
    eta,
    scheduler: raw.scheduler,
  };
}

/**
 * diffusers' img2img `get_timesteps` after `set_timesteps(steps)`: by strength, init = min(floor(steps·strength),
 * steps), t_start = steps − init; by `denoisingStart` (SDXL), the timesteps below round(N − start·N). Sets the
 * scheduler's begin index (where it has one) and returns the timesteps to run. Throws SdParamsError when none is left.
 */
export function img2imgTimesteps(
  scheduler: SdScheduler,
  steps: number,
  strength: number,
  denoisingStart: number | undefined,
  numTrainTimesteps: number,
): number[] {
  const all = Array.from(scheduler.timesteps);
  let tStart: number;
  if (denoisingStart === undefined) {
    const init = Math.min(Math.floor(steps * strength), steps);
    tStart = Math.max(steps - init, 0) * scheduler.order;
  } else {
    const cutoff = Math.trunc(pyRound(numTrainTimesteps - denoisingStart * numTrainTimesteps));
    let n = all.filter((t) => t < cutoff).length;
    if (scheduler.order === 2 && n % 2 === 0) n += 1;
    tStart = all.length - n;
  }
  const timesteps = all.slice(tStart);
  if (timesteps.length === 0) {
    throw new SdParamsError(
      denoisingStart === undefined ? 'strength' : 'denoisingStart',
      `leaves no step to run with steps=${steps} (floor(steps·strength) must be ≥ 1)`,
    );
  }
  scheduler.setBeginIndex?.(tStart);
  return timesteps;
}

/** SDXL's `denoising_end`: keep the timesteps ≥ round(N − end·N). */
export function cutAtDenoisingEnd(
  timesteps: number[],
  denoisingEnd: number | undefined,
  numTrainTimesteps: number,
): number[] {
  if (denoisingEnd === undefined) return timesteps;
  const cutoff = Math.trunc(pyRound(numTrainTimesteps - denoisingEnd * numTrainTimesteps));
  const kept = timesteps.filter((t) => t >= cutoff).length;
  if (kept === 0) throw new SdParamsError('denoisingEnd', 'leaves no step to run');
  return timesteps.slice(0, kept);
}

/** uncond + g·(cond − uncond), elementwise in float32 (diffusers' classifier-free guidance). */
export function guide(uncond: Float32Array, cond: Float32Array, scale: number): Float32Array {
  const g = f32(scale);
  const out = new Float32Array(cond.length);
  for (let i = 0; i < out.length; i++) out[i] = f32(uncond[i] + f32(g * f32(cond[i] - uncond[i])));
  return out;
}

/** [a; b] along the batch axis (torch.cat([a, b])). */
export function concatBatch(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** Throws EngineAbortedError when `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new EngineAbortedError('image generation aborted', { cause: signal.reason });
}

/** Python's round(): half to even. */
export function pyRound(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** x · s in float32 (torch's tensor × Python float). */
export function scaleF32(x: Float32Array, s: number): Float32Array {
  const g = f32(s);
  return x.map((v) => f32(v * g));
}
