/**
 * Parameters of one SVD / SVD-XT image-to-video run: the raw, partly optional form callers pass and the
 * validated, defaulted form the pipeline runs on (`compileSvdParams`). Pure.
 */
import { EngineError } from '../../errors.js';
import { assertRgbImage, type RgbImage } from '../../rgb-image.js';

/**
 * One image-to-video request. Defaults are diffusers' StableVideoDiffusionPipeline defaults; `image` and
 * `seed` are required (a farm shard always carries its seed, so a default would hide a bug).
 */
export interface SvdRunParams {
  /** The conditioning image; resized to width×height (and separately to 224×224 for CLIP). */
  image: RgbImage;
  /** Noise seed: a non-negative integer (number or bigint). The same seed gives the same frames everywhere. */
  seed: number | bigint;
  /** Frames to generate. Default: the UNet config's `num_frames` (25 for SVD-XT, 14 for SVD), else 25. */
  numFrames?: number;
  /** Output width in pixels, a multiple of 8. Default 1024. */
  width?: number;
  /** Output height in pixels, a multiple of 8. Default 576. */
  height?: number;
  /** Frames per second the video is meant for; the UNet is conditioned on fps − 1. Default 7. */
  fps?: number;
  /** Motion conditioning (higher: more motion). Default 127. */
  motionBucketId?: number;
  /** Std of the Gaussian noise added to the conditioning image before VAE encoding. Default 0.02. */
  noiseAugStrength?: number;
  /** Denoising steps. Default 25. */
  steps?: number;
  /** Guidance scale of the first frame. Default 1.0. */
  minGuidanceScale?: number;
  /** Guidance scale of the last frame (frames in between ramp linearly). Default 3.0. */
  maxGuidanceScale?: number;
  /**
   * Frames the VAE decoder takes at once (memory vs temporal consistency). Default: all frames. On real
   * models the temporal decoder mixes frames inside a chunk, so the chunk size changes the output slightly:
   * keep it fixed for a job whose bytes must not depend on the agent.
   */
  decodeChunkSize?: number;
}

/** SvdRunParams validated, with every default filled in. */
export type CompiledSvdParams = Required<Omit<SvdRunParams, 'seed'>> & { seed: number | bigint };

/** A video parameter is out of range or of the wrong type; `field` names it (as in SvdRunParams). */
export class InvalidVideoParamsError extends EngineError {
  override name = 'InvalidVideoParamsError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** Upper bounds that keep a bad request from allocating without limit (the farm applies its own, tighter ones). */
export const SVD_LIMITS = { maxFrames: 1024, maxSide: 8192, maxSteps: 1000 } as const;

/**
 * Validates `raw` and fills defaults (`defaults.numFrames` comes from the model's UNet config). Throws
 * InvalidVideoParamsError naming the first bad field, InvalidImageError for a malformed image.
 */
export function compileSvdParams(raw: SvdRunParams, defaults: { numFrames?: number } = {}): CompiledSvdParams {
  if (raw === null || typeof raw !== 'object') throw new InvalidVideoParamsError('params', 'must be an object');
  assertRgbImage(raw.image, 'image');
  const numFrames = int('numFrames', raw.numFrames ?? defaults.numFrames ?? 25, 1, SVD_LIMITS.maxFrames);
  const p: CompiledSvdParams = {
    image: raw.image,
    seed: seed(raw.seed),
    numFrames,
    width: multipleOf8('width', raw.width ?? 1024),
    height: multipleOf8('height', raw.height ?? 576),
    fps: num('fps', raw.fps ?? 7, 1, 1000),
    motionBucketId: num('motionBucketId', raw.motionBucketId ?? 127, 0, 1e6),
    noiseAugStrength: num('noiseAugStrength', raw.noiseAugStrength ?? 0.02, 0, 1e3),
    steps: int('steps', raw.steps ?? 25, 1, SVD_LIMITS.maxSteps),
    minGuidanceScale: num('minGuidanceScale', raw.minGuidanceScale ?? 1, 0, 100),
    maxGuidanceScale: num('maxGuidanceScale', raw.maxGuidanceScale ?? 3, 0, 100),
    decodeChunkSize: int('decodeChunkSize', raw.decodeChunkSize ?? numFrames, 1, SVD_LIMITS.maxFrames),
  };
  return p;
}

function num(field: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new InvalidVideoParamsError(field, `must be a finite number, got ${String(v)}`);
  if (v < min || v > max) throw new InvalidVideoParamsError(field, `must be in [${min}, ${max}], got ${v}`);
  return v;
}

function int(field: string, v: unknown, min: number, max: number): number {
  const n = num(field, v, min, max);
  if (!Number.isInteger(n)) throw new InvalidVideoParamsError(field, `must be an integer, got ${n}`);
  return n;
}

function multipleOf8(field: string, v: unknown): number {
  const n = int(field, v, 8, SVD_LIMITS.maxSide);
  if (n % 8 !== 0)
    throw new InvalidVideoParamsError(field, `must be a multiple of 8 (the VAE's downsampling), got ${n}`);
  return n;
}

function seed(v: unknown): number | bigint {
  if (typeof v === 'bigint' && v >= 0n) return v;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  throw new InvalidVideoParamsError('seed', `must be a non-negative integer (number or bigint), got ${String(v)}`);
}
