/**
 * The image-to-video kind in one place: validation (keyframes against batches and memory), plan
 * (planner-video.ts: batches, chained or keyframed), inputs (the keyframes stored once as the job
 * input), what a lease fixes (a chained batch starts from the batch before; the VAE decode chunk
 * follows the agent's class), the agent's task and assembly (video-assembler.ts).
 */
import { decodeChunkFor, type HardwareTable } from '@tessera/hardware';
import { blobKeys, VideoMode, type VideoSpec, type VideoTask } from '@tessera/protocol';
import { concatBytes } from '@tessera/runtime';
import { sha256Hex } from '../blobs.js';
import { InvalidArgumentError } from '../errors.js';
import type { JobRecord, ShardRecord } from '../model.js';
import { planVideo, resolveVideoParams } from '../planner-video.js';
import {
  checkInputBytes,
  formatsOf,
  jobHeader,
  type ApiLimits,
  type Intake,
  type IntakeContext,
  type SubmissionHeader,
  type VideoSubmission,
} from './requests.js';

export { createVideoAssembler as createAssembler } from '../video-assembler.js';

/** The API request as a submission (its sizes and formats checked before anything is decoded). */
export function fromApi(v: VideoSpec, header: SubmissionHeader, limits: ApiLimits): VideoSubmission {
  checkInputBytes('video.image', [v.image, ...v.keyframes], limits);
  return {
    ...header,
    image: v.image,
    keyframes: v.keyframes,
    request: {
      model: v.model,
      totalFrames: v.totalFrames,
      fps: v.fps,
      motionBucketId: v.motionBucketId,
      noiseAugStrength: v.noiseAugStrength,
      steps: v.steps,
      minGuidanceScale: v.minGuidanceScale,
      maxGuidanceScale: v.maxGuidanceScale,
      framesPerBatch: v.framesPerBatch,
      overlap: v.overlap,
      mode: v.mode === VideoMode.VIDEO_MODE_CHAINED ? 'chained' : 'keyframed',
      formats: formatsOf('video.formats', v.formats),
      width: v.width,
      height: v.height,
      decodeChunk: v.decodeChunk,
    },
  };
}

/** Validates, plans and stores the keyframes of an image-to-video job. */
export async function intake(sub: VideoSubmission, ctx: IntakeContext): Promise<Intake> {
  const { d } = ctx;
  const o = d.options;
  ctx.checkQueueRoom(1, sub.owner);
  const images = [sub.image, ...sub.keyframes];
  if (images.length > 1000)
    throw new InvalidArgumentError('video.keyframes', `${images.length - 1} keyframes is above the limit of 999`);
  const { row, params } = resolveVideoParams(sub.request, images.length, d.table, o, d.codec.ffmpeg);
  // Keyframe i conditions batch i: more keyframes than batches could never be used. And the decoded
  // keyframes are held and stored at the output size: bound them before decoding anything.
  const batches =
    params.totalFrames <= params.framesPerBatch
      ? 1
      : Math.ceil((params.totalFrames - params.overlap) / (params.framesPerBatch - params.overlap));
  if (params.mode === 'chained' && images.length > 1) {
    throw new InvalidArgumentError(
      'video.keyframes',
      'only keyframed jobs take keyframes: a chained job starts from its image',
    );
  }
  if (params.mode === 'keyframed' && images.length > batches) {
    throw new InvalidArgumentError(
      'video.keyframes',
      `${images.length} keyframes (with image) but the clip has only ${batches} batches`,
    );
  }
  const decodedBytes = images.length * params.width * params.height * 3;
  if (decodedBytes > o.maxInputBytes * 4) {
    throw new InvalidArgumentError(
      'video.keyframes',
      `${images.length} keyframes at ${params.width}×${params.height} decode to ${decodedBytes} bytes, above the limit of ${o.maxInputBytes * 4}`,
    );
  }
  const now = d.clock.now();
  const jobId = ctx.jobId(now);
  const frames: Uint8Array[] = [];
  for (let i = 0; i < images.length; i++) {
    const field = i === 0 ? 'video.image' : `video.keyframes[${i - 1}]`;
    await d.codec.probe(images[i], o.maxInputPixels, field);
    frames.push(await d.codec.decodeResized(images[i], params.width, params.height, o.maxInputPixels, field));
  }
  const input = concatBytes(frames);
  const inputKey = blobKeys.jobInput(jobId);
  const plan = planVideo(jobHeader(sub, jobId, now, o.maxAttempts), row, params, d.table, inputKey);
  ctx.checkQueueRoom(plan.shards.length, sub.owner);
  const inputSha256 = sha256Hex(input);
  await d.blobs.put(inputKey, input);
  for (const s of plan.shards) if (s.inputKey) s.inputSha256 = inputSha256;
  return {
    job: plan.job,
    shards: plan.shards,
    log: { frames: params.totalFrames, mode: params.mode, batches: plan.shards.length },
  };
}

/**
 * What a lease of a batch fixes at grant time: a chained batch's input is the committed output of
 * the batch it depends on (conditioned on the frame at its own start); the VAE decode chunk follows
 * the agent's class unless the job pins it.
 */
export function leaseInputs(
  job: JobRecord,
  s: ShardRecord,
  agentClassGb: number,
  dep: ShardRecord | undefined,
  table: HardwareTable,
): Partial<ShardRecord> {
  if (s.kind !== 'svd_batch' || !job.video) return {};
  const patch: Partial<ShardRecord> = {};
  if (dep) {
    patch.inputKey = dep.outputKey;
    patch.inputSha256 = dep.outputSha256;
    patch.inputFrames = dep.outputFrames;
    patch.conditioningFrame = s.firstFrame - dep.firstFrame;
  }
  const row = table.models.get(job.model);
  patch.decodeChunk = job.video.decodeChunk || (row && decodeChunkFor(row, agentClassGb)) || s.frameCount;
  return patch;
}

/** A batch's engine parameters. */
export function videoTask(job: JobRecord, s: ShardRecord): VideoTask | undefined {
  const v = job.video;
  if (s.kind !== 'svd_batch' || !v) return undefined;
  return {
    numFrames: s.frameCount,
    width: v.width,
    height: v.height,
    fps: v.fps,
    motionBucketId: v.motionBucketId,
    noiseAugStrength: v.noiseAugStrength,
    steps: v.steps,
    minGuidanceScale: v.minGuidanceScale,
    maxGuidanceScale: v.maxGuidanceScale,
    decodeChunk: s.decodeChunk,
    conditioningFrame: s.conditioningFrame,
  };
}
