/**
 * Planning of video jobs: image-to-video (SVD / SVD-XT frame batches, keyframed or chained) and
 * video upscale (an input clip's frames through an upscaler, in batches). Pure.
 */
import { requiredClassFor, type HardwareTable, type ModelRow } from '@tessera/hardware';
import { planFrameBatches, VideoPlanError } from '@tessera/video';
import { InvalidArgumentError } from './errors.js';
import { newJob, newShard, type JobRecord, type ShardRecord, type VideoFormatName, type VideoParams } from './model.js';
import type { CompiledCoordinatorOptions } from './options.js';
import { deriveSeed, upscalerRow } from './planner.js';

/** The request fields of an image-to-video job; zeros mean "the model's default". */
export interface VideoRequest {
  model: string;
  totalFrames: number;
  fps: number;
  motionBucketId: number;
  noiseAugStrength: number;
  steps: number;
  minGuidanceScale: number;
  maxGuidanceScale: number;
  framesPerBatch: number;
  overlap: number;
  mode: 'keyframed' | 'chained';
  formats: VideoFormatName[];
  width: number;
  height: number;
  decodeChunk: number;
}

export interface JobHeader {
  jobId: string;
  name: string;
  seed: number;
  priority: number;
  maxAttempts: number;
  nowMs: number;
  /** Who submitted it ('' = anonymous). */
  owner: string;
}

const FIELD = 'video';

function videoRow(table: HardwareTable, model: string): ModelRow & { video: NonNullable<ModelRow['video']> } {
  const known = [...table.models.values()].filter((m) => m.video).map((m) => m.id);
  if (!model) throw new InvalidArgumentError(`${FIELD}.model`, `required (known video models: ${known.join(', ')})`);
  const row = table.models.get(model);
  if (!row?.video) {
    throw new InvalidArgumentError(
      `${FIELD}.model`,
      `unknown video model ${JSON.stringify(model)} (known video models: ${known.join(', ')})`,
    );
  }
  return row as ModelRow & { video: NonNullable<ModelRow['video']> };
}

function intIn(field: string, v: number, lo: number, hi: number): number {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new InvalidArgumentError(field, `${v} is outside ${lo}..${hi}`);
  return v;
}

function numIn(field: string, v: number, lo: number, hi: number): number {
  if (!Number.isFinite(v) || v < lo || v > hi) throw new InvalidArgumentError(field, `${v} is outside ${lo}..${hi}`);
  return v;
}

/** Resolves defaults and validates an image-to-video request. */
export function resolveVideoParams(
  req: VideoRequest,
  keyframes: number,
  table: HardwareTable,
  opts: CompiledCoordinatorOptions,
  ffmpeg: boolean,
): { row: ModelRow; params: VideoParams } {
  const row = videoRow(table, req.model);
  const v = row.video;
  const totalFrames = intIn(`${FIELD}.total_frames`, req.totalFrames, 1, opts.maxFrames);
  const framesPerBatch = intIn(`${FIELD}.frames_per_batch`, req.framesPerBatch || v.frames, 1, v.frames);
  const defaultOverlap = req.mode === 'chained' ? 1 : Math.min(4, Math.floor(framesPerBatch / 2));
  const overlap = intIn(`${FIELD}.overlap`, req.overlap || defaultOverlap, 0, Math.floor(framesPerBatch / 2));
  if (req.mode === 'chained' && overlap < 1 && totalFrames > framesPerBatch) {
    throw new InvalidArgumentError(
      `${FIELD}.overlap`,
      'chained batches need an overlap of at least 1 frame (the conditioning frame)',
    );
  }
  const width = intIn(`${FIELD}.width`, req.width || row.nativeWidth || 1024, 8, 2048);
  const height = intIn(`${FIELD}.height`, req.height || row.nativeHeight || 576, 8, 2048);
  if (width % 8 || height % 8)
    throw new InvalidArgumentError(`${FIELD}.width`, `${width}×${height} must be multiples of 8 (the VAE's factor)`);
  if (width * height * totalFrames > opts.maxOutputPixels) {
    throw new InvalidArgumentError(
      `${FIELD}.total_frames`,
      `${totalFrames} frames of ${width}×${height} exceed the output limit of ${opts.maxOutputPixels} pixels`,
    );
  }
  const formats = req.formats.length ? [...new Set(req.formats)] : (['webp', 'png-frames'] as VideoFormatName[]);
  if (formats.includes('mp4') && !ffmpeg) {
    throw new InvalidArgumentError(
      `${FIELD}.formats`,
      'mp4 needs ffmpeg on the coordinator (not found on PATH); ask for webp or png-frames',
    );
  }
  const params: VideoParams = {
    mode: req.mode,
    totalFrames,
    framesPerBatch,
    overlap,
    fps: intIn(`${FIELD}.fps`, req.fps || v.fps, 1, 120),
    motionBucketId: intIn(`${FIELD}.motion_bucket_id`, req.motionBucketId || v.motionBucketId, 1, 1023),
    noiseAugStrength: numIn(`${FIELD}.noise_aug_strength`, req.noiseAugStrength || v.noiseAugStrength, 0, 10),
    steps: intIn(`${FIELD}.steps`, req.steps || v.steps, 1, 500),
    minGuidanceScale: numIn(`${FIELD}.min_guidance_scale`, req.minGuidanceScale || 1, 0, 50),
    maxGuidanceScale: numIn(`${FIELD}.max_guidance_scale`, req.maxGuidanceScale || 3, 0, 50),
    width,
    height,
    decodeChunk: intIn(`${FIELD}.decode_chunk`, req.decodeChunk, 0, framesPerBatch),
    keyframes,
    formats,
  };
  if (params.minGuidanceScale > params.maxGuidanceScale) {
    throw new InvalidArgumentError(
      `${FIELD}.min_guidance_scale`,
      `${params.minGuidanceScale} is above max_guidance_scale ${params.maxGuidanceScale}`,
    );
  }
  return { row, params };
}

/** Plans an image-to-video job: one svd_batch shard per frame batch. */
export function planVideo(
  h: JobHeader,
  row: ModelRow,
  params: VideoParams,
  table: HardwareTable,
  inputKey: string,
): { job: JobRecord; shards: ShardRecord[] } {
  let batches;
  try {
    batches = planFrameBatches({
      totalFrames: params.totalFrames,
      framesPerBatch: params.framesPerBatch,
      overlap: params.overlap,
      mode: params.mode,
    });
  } catch (e) {
    if (e instanceof VideoPlanError) throw new InvalidArgumentError(`${FIELD}.${e.field}`, e.message, { cause: e });
    throw e;
  }
  const requiredClassGb = requiredClassFor(table, row, { frames: params.framesPerBatch });
  const job = newJob({
    id: h.jobId,
    name: h.name,
    owner: h.owner ?? '',
    kind: 'video',
    model: row.id,
    seed: h.seed,
    priority: h.priority,
    maxAttempts: h.maxAttempts,
    createdMs: h.nowMs,
    shardsTotal: batches.length,
    inputWidth: params.width,
    inputHeight: params.height,
    outputWidth: params.width,
    outputHeight: params.height,
    overlap: params.overlap,
    requiredClassGb,
    video: params,
    inputKey,
  });
  const shards = batches.map((b) =>
    newShard({
      jobId: job.id,
      index: b.index,
      stage: 'video',
      kind: 'svd_batch',
      requiredClassGb,
      seed: deriveSeed(h.seed, 'video', b.index),
      region: { x: 0, y: 0, width: params.width, height: params.height },
      input: { x: 0, y: 0, width: params.width, height: params.height },
      firstFrame: b.start,
      frameCount: b.count,
      dependsOn: b.dependsOn ?? -1,
      // Keyframed (and the first chained batch): keyframe i conditions batch i; later batches of a
      // chained job read the frame at their start from the batch they depend on, set at lease time.
      inputKey: b.dependsOn === null ? inputKey : '',
      inputFrames: b.dependsOn === null ? params.keyframes : 0,
      conditioningFrame: b.dependsOn === null ? Math.min(b.index, params.keyframes - 1) : 0,
    }),
  );
  return { job, shards };
}

/** Plans a video upscale: the clip's frames in batches through an upscaler (no overlap needed). */
export function planVideoUpscale(
  h: JobHeader,
  req: {
    model: string;
    totalFrames: number;
    width: number;
    height: number;
    fps: number;
    framesPerBatch: number;
    formats: VideoFormatName[];
    agents: number;
  },
  table: HardwareTable,
  opts: CompiledCoordinatorOptions,
  ffmpeg: boolean,
): { job: JobRecord; shards: ShardRecord[] } {
  const f = 'video_upscale';
  const row = upscalerRow(table, req.model, `${f}.model`);
  const { scale } = row.upscaler;
  intIn(`${f}.clip`, req.totalFrames, 1, opts.maxFrames);
  if (req.width * req.height > opts.maxInputPixels) {
    throw new InvalidArgumentError(
      `${f}.clip`,
      `frames of ${req.width}×${req.height} are above the limit of ${opts.maxInputPixels} pixels`,
    );
  }
  if (req.width * scale * req.height * scale * req.totalFrames > opts.maxOutputPixels) {
    throw new InvalidArgumentError(
      `${f}.clip`,
      `${req.totalFrames} upscaled frames exceed the output limit of ${opts.maxOutputPixels} pixels`,
    );
  }
  const formats = req.formats.length ? [...new Set(req.formats)] : (['webp', 'png-frames'] as VideoFormatName[]);
  if (formats.includes('mp4') && !ffmpeg) {
    throw new InvalidArgumentError(
      `${f}.formats`,
      'mp4 needs ffmpeg on the coordinator (not found on PATH); ask for webp or png-frames',
    );
  }
  // Frames are independent, so the batch size changes nothing in the output: aim for two batches per
  // agent and about 4 megapixels of input per shard.
  const byPixels = Math.max(1, Math.floor(4_000_000 / (req.width * req.height)));
  const byAgents = Math.ceil(req.totalFrames / Math.max(1, 2 * req.agents));
  const framesPerBatch = intIn(
    `${f}.frames_per_batch`,
    req.framesPerBatch || Math.max(1, Math.min(byPixels, byAgents)),
    1,
    req.totalFrames,
  );
  const batches = planFrameBatches({ totalFrames: req.totalFrames, framesPerBatch, overlap: 0, mode: 'keyframed' });
  const requiredClassGb = requiredClassFor(table, row, { pixels: req.width * req.height });
  const job = newJob({
    id: h.jobId,
    name: h.name,
    owner: h.owner ?? '',
    kind: 'video_upscale',
    model: row.id,
    seed: h.seed,
    priority: h.priority,
    maxAttempts: h.maxAttempts,
    createdMs: h.nowMs,
    shardsTotal: batches.length,
    inputWidth: req.width,
    inputHeight: req.height,
    outputWidth: req.width * scale,
    outputHeight: req.height * scale,
    scale,
    requiredClassGb,
    videoUpscale: { totalFrames: req.totalFrames, framesPerBatch, fps: req.fps, formats },
  });
  const shards = batches.map((b) =>
    newShard({
      jobId: job.id,
      index: b.index,
      stage: 'upscale',
      kind: 'upscale_frames',
      requiredClassGb,
      seed: deriveSeed(h.seed, 'upscale', b.index),
      region: { x: 0, y: 0, width: job.outputWidth, height: job.outputHeight },
      input: { x: 0, y: 0, width: req.width, height: req.height },
      firstFrame: b.start,
      frameCount: b.count,
      inputFrames: b.count,
    }),
  );
  return { job, shards };
}
