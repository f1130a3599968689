/**
 * What a client submits: the request shapes of each job kind (unset fields take defaults) and the
 * pure builders that turn them into the wire's SubmitJobRequest. No channel, no I/O: client.ts sends.
 */
import { ImageFormat, VideoFormat, VideoMode, type SubmitJobRequest } from '@tessera/protocol';

/** A tiled upscale to submit. Unset numbers let the coordinator choose (0). */
export interface SubmitUpscaleRequest {
  /** Encoded input image (PNG, JPEG, WebP, …). */
  image: Uint8Array;
  /** Upscaler model id, e.g. "esrgan-slim-x4". */
  model: string;
  /** Core tile side in input pixels (default: planner's choice). */
  tile?: number;
  /** Context per tile side in input pixels (default: the model's). */
  overlap?: number;
  /** Job seed (default 0). */
  seed?: number;
  /** Higher runs first (default 0). */
  priority?: number;
  /** Free-form label. */
  name?: string;
  /** Leases a shard may get before the job fails (default: coordinator's). */
  maxAttempts?: number;
  /** Output formats, the first being the primary output (default: PNG only). */
  formats?: ImageFormatName[];
  /** Refine the upscaled image with SD img2img on overlapping tiles (zeros: defaults). */
  refine?: {
    model: string;
    prompt: string;
    negativePrompt?: string;
    strength?: number;
    steps?: number;
    guidanceScale?: number;
    tile?: number;
    overlap?: number;
    scheduler?: string;
  };
}

/** Output formats of upscale jobs: PNG, or a tiled pyramidal TIFF (for gigapixel outputs). */
export type ImageFormatName = 'png' | 'tiff';

const IMAGE_FORMATS: Record<ImageFormatName, ImageFormat> = {
  png: ImageFormat.IMAGE_FORMAT_PNG,
  tiff: ImageFormat.IMAGE_FORMAT_TIFF,
};

/** Output formats of video jobs. */
export type VideoFormatName = 'png-frames' | 'webp' | 'mp4';

const VIDEO_FORMATS: Record<VideoFormatName, VideoFormat> = {
  'png-frames': VideoFormat.VIDEO_FORMAT_PNG_FRAMES,
  webp: VideoFormat.VIDEO_FORMAT_WEBP,
  mp4: VideoFormat.VIDEO_FORMAT_MP4,
};

/** An image-to-video job (SVD / SVD-XT). Unset numbers take the model's defaults. */
export interface SubmitVideoRequest {
  /** Encoded conditioning image (the first keyframe). */
  image: Uint8Array;
  /** More keyframes (keyframed mode): keyframe i conditions batch i. */
  keyframes?: Uint8Array[];
  /** "svd-xt" or "svd". */
  model: string;
  totalFrames: number;
  mode?: 'keyframed' | 'chained';
  fps?: number;
  motionBucketId?: number;
  noiseAugStrength?: number;
  steps?: number;
  minGuidanceScale?: number;
  maxGuidanceScale?: number;
  framesPerBatch?: number;
  overlap?: number;
  formats?: VideoFormatName[];
  width?: number;
  height?: number;
  /** Pin the VAE decode chunk for every batch (0 = per agent class). */
  decodeChunk?: number;
  seed?: number;
  priority?: number;
  name?: string;
  maxAttempts?: number;
}

/** A clip through an upscaler: `clip` (animated WebP/GIF, MP4) or `frames` (encoded images). */
export interface SubmitVideoUpscaleRequest {
  clip?: Uint8Array;
  frames?: Uint8Array[];
  model: string;
  framesPerBatch?: number;
  formats?: VideoFormatName[];
  fps?: number;
  seed?: number;
  priority?: number;
  name?: string;
  maxAttempts?: number;
}

/** A txt2img / img2img job; each pipeline stage is a shard on an agent of its own class. */
export interface SubmitImageRequest {
  /** Hardware-table model id: sd15, sd21, sdxl, sd35m, cascade, … */
  model: string;
  prompt: string;
  negativePrompt?: string;
  width?: number;
  height?: number;
  steps?: number;
  guidanceScale?: number;
  /** img2img: the encoded input image and the fraction of the schedule to run. */
  initImage?: Uint8Array;
  strength?: number;
  scheduler?: string;
  /** SDXL: add the refiner stage. */
  refine?: boolean;
  highNoiseFrac?: number;
  /** SD 1.5 / SDXL: ControlNets (table rows of kind controlnet) with their encoded control images. */
  controlNets?: {
    model: string;
    image: Uint8Array;
    /** 'none' (default: the image is already a control map), 'canny' or 'blur'. */
    preprocess?: string;
    /** Conditioning scale (default 1). */
    scale?: number;
    guidanceStart?: number;
    guidanceEnd?: number;
  }[];
  /** A VAE (table row of kind vae) replacing the model's, e.g. kl-f8-anime2. */
  vae?: string;
  seed?: number;
  priority?: number;
  name?: string;
  maxAttempts?: number;
}

/** Which output of a job to fetch: "" (primary), "png", "webp", "mp4", or "png-frames" with a frame. */
export interface OutputSelector {
  format?: string;
  frame?: number;
}

const buf = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/** The fields every kind of job shares (zeros and empty strings: the farm's defaults). */
function jobFields(req: { name?: string; seed?: number; priority?: number; maxAttempts?: number }) {
  return { name: req.name ?? '', seed: req.seed ?? 0, priority: req.priority ?? 0, maxAttempts: req.maxAttempts ?? 0 };
}

/** A tiled upscale as a SubmitJob request (zeros and empty lists: the coordinator chooses). */
export function upscaleJobRequest(req: SubmitUpscaleRequest): SubmitJobRequest {
  const image = Buffer.from(req.image.buffer, req.image.byteOffset, req.image.byteLength);
  return {
    ...jobFields(req),
    spec: {
      $case: 'upscale',
      value: {
        image,
        model: req.model,
        tile: req.tile ?? 0,
        overlap: req.overlap ?? 0,
        formats: (req.formats ?? []).map((f) => IMAGE_FORMATS[f]),
        refine: req.refine && {
          model: req.refine.model,
          prompt: req.refine.prompt,
          negativePrompt: req.refine.negativePrompt ?? '',
          strength: req.refine.strength ?? 0,
          steps: req.refine.steps ?? 0,
          guidanceScale: req.refine.guidanceScale ?? 0,
          tile: req.refine.tile ?? 0,
          overlap: req.refine.overlap ?? 0,
          scheduler: req.refine.scheduler ?? '',
        },
      },
    },
  };
}

/** An image-to-video job as a SubmitJob request (zeros: the model's defaults). */
export function videoJobRequest(req: SubmitVideoRequest): SubmitJobRequest {
  return {
    ...jobFields(req),
    spec: {
      $case: 'video',
      value: {
        image: buf(req.image),
        keyframes: (req.keyframes ?? []).map(buf),
        model: req.model,
        totalFrames: req.totalFrames,
        fps: req.fps ?? 0,
        motionBucketId: req.motionBucketId ?? 0,
        noiseAugStrength: req.noiseAugStrength ?? 0,
        steps: req.steps ?? 0,
        minGuidanceScale: req.minGuidanceScale ?? 0,
        maxGuidanceScale: req.maxGuidanceScale ?? 0,
        framesPerBatch: req.framesPerBatch ?? 0,
        overlap: req.overlap ?? 0,
        mode: req.mode === 'chained' ? VideoMode.VIDEO_MODE_CHAINED : VideoMode.VIDEO_MODE_KEYFRAMED,
        formats: (req.formats ?? []).map((f) => VIDEO_FORMATS[f]),
        width: req.width ?? 0,
        height: req.height ?? 0,
        decodeChunk: req.decodeChunk ?? 0,
      },
    },
  };
}

/** A video upscale as a SubmitJob request. */
export function videoUpscaleJobRequest(req: SubmitVideoUpscaleRequest): SubmitJobRequest {
  return {
    ...jobFields(req),
    spec: {
      $case: 'videoUpscale',
      value: {
        clip: buf(req.clip ?? new Uint8Array()),
        frames: (req.frames ?? []).map(buf),
        model: req.model,
        framesPerBatch: req.framesPerBatch ?? 0,
        formats: (req.formats ?? []).map((f) => VIDEO_FORMATS[f]),
        fps: req.fps ?? 0,
      },
    },
  };
}

/** An image job as a SubmitJob request (zeros and empty strings: defaults). */
export function imageJobRequest(req: SubmitImageRequest): SubmitJobRequest {
  return {
    ...jobFields(req),
    spec: {
      $case: 'image',
      value: {
        model: req.model,
        prompt: req.prompt,
        negativePrompt: req.negativePrompt ?? '',
        width: req.width ?? 0,
        height: req.height ?? 0,
        steps: req.steps ?? 0,
        guidanceScale: req.guidanceScale ?? 0,
        initImage: buf(req.initImage ?? new Uint8Array()),
        strength: req.strength ?? 0,
        scheduler: req.scheduler ?? '',
        refine: req.refine ?? false,
        highNoiseFrac: req.highNoiseFrac ?? 0,
        controlnets: (req.controlNets ?? []).map((c) => ({
          model: c.model,
          image: buf(c.image),
          preprocess: c.preprocess ?? '',
          scale: c.scale,
          guidanceStart: c.guidanceStart ?? 0,
          guidanceEnd: c.guidanceEnd,
        })),
        vae: req.vae ?? '',
      },
    },
  };
}
