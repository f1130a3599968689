/**
 * The submissions every job kind takes, already parsed from the API (grpc-server.ts), defined once;
 * and what a kind's intake needs from the coordinator.
 */
import { VideoFormat } from '@tessera/protocol';
import { InvalidArgumentError } from '../errors.js';
import type { ImageFormatName, JobRecord, ShardRecord, VideoFormatName } from '../model.js';
import type { RefineRequest } from '../planner.js';
import type { ImageRequest } from '../planner-image.js';
import type { VideoRequest } from '../planner-video.js';
import type { CoordinatorDeps } from '../shell/deps.js';

/** The fields every submission carries. */
export interface SubmissionHeader {
  /** The authenticated user submitting it ('' or absent = anonymous): fair share, per-user limits. */
  owner?: string;
  name: string;
  seed: number;
  priority: number;
  /** 0 = the coordinator's default. */
  maxAttempts: number;
}

/** An upscale, with an optional SD img2img refine over the upscaled image's tiles. */
export interface UpscaleSubmission extends SubmissionHeader {
  refine?: RefineRequest;
  image: Uint8Array;
  model: string;
  tile: number;
  overlap: number;
  /** Output formats, the first being the primary output (absent = PNG only). */
  formats?: ImageFormatName[]; // hook(scale): upscale output formats
}

/** An image-to-video job (keyframes stored once for all batches). */
export interface VideoSubmission extends SubmissionHeader {
  image: Uint8Array;
  keyframes: Uint8Array[];
  request: VideoRequest;
}

/** An image job (txt2img, img2img with `initImage`). */
export interface ImageSubmission extends SubmissionHeader {
  initImage: Uint8Array;
  request: Omit<ImageRequest, 'init'>;
  /** Encoded control images, one per request.controlNets entry. */
  controlImages?: Uint8Array[]; // hook(engines-b)
}

/** A video upscale (a clip or a list of frames). */
export interface VideoUpscaleSubmission extends SubmissionHeader {
  clip: Uint8Array;
  frames: Uint8Array[];
  model: string;
  framesPerBatch: number;
  fps: number;
  formats: VideoFormatName[];
}

/** A planned job with its inputs stored, ready to be persisted. */
export interface Intake {
  job: JobRecord;
  shards: ShardRecord[];
  /** Fields for the "job accepted" log line. */
  log: Record<string, unknown>;
}

/** What a kind's intake needs from the coordinator. */
export interface IntakeContext {
  d: CoordinatorDeps;
  /** A new job id. */
  jobId(nowMs: number): string;
  /** Live agents (planners size work to the fleet). */
  liveAgents(): number;
  /** hook(scale): the live agents' VRAM classes (tile blocks for big classes). */
  fleetClassesGb(): number[];
  /** hook(speed): the tile count's agent number from the fleet's speed mix for `model` (equal agents: their number). */
  tilingAgents(model: string): number;
  /** Throws RESOURCE_EXHAUSTED when `more` queued shards of `owner` would exceed a limit. */
  checkQueueRoom(more: number, owner?: string): void;
}

/** The fields every planner takes from a submission. */
export function jobHeader(sub: SubmissionHeader, jobId: string, nowMs: number, defaultMaxAttempts: number) {
  return {
    jobId,
    owner: sub.owner ?? '',
    name: sub.name,
    seed: sub.seed,
    priority: sub.priority,
    maxAttempts: sub.maxAttempts || defaultMaxAttempts,
    nowMs,
  };
}

/** The API limits a kind checks on a request before anything is decoded. */
export interface ApiLimits {
  maxInputBytes: number;
}

/** Throws INVALID_ARGUMENT naming `field` when `parts` hold more than the input limit. */
export function checkInputBytes(field: string, parts: Uint8Array[], limits: ApiLimits): void {
  const n = parts.reduce((a, p) => a + p.length, 0);
  if (n > limits.maxInputBytes)
    throw new InvalidArgumentError(field, `${n} bytes is above the limit of ${limits.maxInputBytes} bytes`);
}

const FORMAT_NAMES: Partial<Record<VideoFormat, VideoFormatName>> = {
  [VideoFormat.VIDEO_FORMAT_PNG_FRAMES]: 'png-frames',
  [VideoFormat.VIDEO_FORMAT_WEBP]: 'webp',
  [VideoFormat.VIDEO_FORMAT_MP4]: 'mp4',
};

/** The API's output formats as names; INVALID_ARGUMENT naming the entry for an unknown one. */
export function formatsOf(field: string, formats: VideoFormat[]): VideoFormatName[] {
  return formats.map((f, i) => {
    const name = FORMAT_NAMES[f];
    if (!name) throw new InvalidArgumentError(`${field}[${i}]`, `unknown format ${f} (use PNG_FRAMES, WEBP or MP4)`);
    return name;
  });
}
