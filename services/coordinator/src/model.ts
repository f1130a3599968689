/**
 * The coordinator's persisted records. Job and shard state are closed unions; every transition is a
 * verb in `core/shard.ts` / `core/job.ts` and is persisted with a revision check before it counts.
 */

import type { ControlNetParams } from './image-attachments.js';

export type JobState = 'queued' | 'running' | 'assembling' | 'succeeded' | 'failed' | 'cancelled';
export type ShardState = 'queued' | 'leased' | 'done' | 'failed' | 'cancelled';

export const FINAL_JOB_STATES: ReadonlySet<JobState> = new Set(['succeeded', 'failed', 'cancelled']);

/** Pixel rectangle. */
export interface RectRecord {
  x: number;
  y: number;
  width: number;
  height: number;
}

export type JobKind = 'upscale' | 'video' | 'video_upscale' | 'image';
export type ShardKind = 'upscale_tile' | 'upscale_frames' | 'svd_batch' | 'sd_stage';
export type VideoFormatName = 'png-frames' | 'webp' | 'mp4';
/** Still-image output formats of an upscale job: PNG, or a tiled pyramidal TIFF for large outputs. */
export type ImageFormatName = 'png' | 'tiff';

/** Parameters of a video job (image-to-video), resolved against the hardware table. */
export interface VideoParams {
  mode: 'keyframed' | 'chained';
  totalFrames: number;
  framesPerBatch: number;
  overlap: number;
  fps: number;
  motionBucketId: number;
  noiseAugStrength: number;
  steps: number;
  minGuidanceScale: number;
  maxGuidanceScale: number;
  width: number;
  height: number;
  /** Pinned VAE decode chunk; 0 = per agent class from the hardware table. */
  decodeChunk: number;
  /** Keyframes stored in the job input blob. */
  keyframes: number;
  formats: VideoFormatName[];
}

/** Parameters of a video-upscale job. */
export interface VideoUpscaleParams {
  totalFrames: number;
  framesPerBatch: number;
  fps: number;
  formats: VideoFormatName[];
}

/** Parameters of an image job (txt2img / img2img), resolved against the hardware table. */
export interface ImageParams {
  prompt: string;
  negativePrompt: string;
  width: number;
  height: number;
  steps: number;
  guidanceScale: number;
  strength: number;
  scheduler: string;
  /** Stage ids in run order (one shard each). */
  stages: string[];
  /** SDXL base → refiner hand-off fraction. */
  highNoiseFrac: number;
  /** True when the job input blob holds an init image (img2img). */
  img2img: boolean;
  /** ControlNets of the first stage; their control images follow the init image in the input blob. */
  controlNets?: ControlNetParams[];
  /** VAE row id replacing the model's VAE ('' or absent = the model's). */
  vae?: string;
}

/** The refine stage of an upscale: SD img2img on overlapping tiles of the upscaled image. */
export interface RefineParams {
  model: string;
  prompt: string;
  negativePrompt: string;
  strength: number;
  steps: number;
  guidanceScale: number;
  scheduler: string;
  /** Tile and overlap in output pixels. */
  tile: number;
  overlap: number;
  /** Index of the first refine shard; shards before it are the upscale tiles. */
  firstShard: number;
  /** True once the upscaled image is assembled and every refine tile has its input. */
  ready: boolean;
}

/** One stored output. `key` is the object key; for png-frames a prefix (`<key>/<frame>`). */
export interface OutputRecord {
  format: ImageFormatName | VideoFormatName;
  key: string;
  contentType: string;
  bytes: number;
  sha256: string;
  frames: number;
}

/** A job as persisted in the state bucket under `job.<id>`. */
export interface JobRecord {
  id: string;
  name: string;
  /** The authenticated user who submitted it; '' when the API is open (anonymous). */
  owner: string;
  kind: JobKind;
  state: JobState;
  model: string;
  seed: number;
  priority: number;
  maxAttempts: number;
  createdMs: number;
  startedMs: number;
  finishedMs: number;
  shardsTotal: number;
  inputWidth: number;
  inputHeight: number;
  outputWidth: number;
  outputHeight: number;
  scale: number;
  tile: number;
  overlap: number;
  /** Receptive-field margin used for blending (input px). */
  margin: number;
  requiredClassGb: number;
  error: string;
  /** Every stored output; the first is the primary one (what GetJobOutput returns by default). */
  outputs: OutputRecord[];
  /** Upscale: the formats to store, the first being the primary output; absent = PNG only. */
  imageFormats?: ImageFormatName[];
  video?: VideoParams;
  videoUpscale?: VideoUpscaleParams;
  image?: ImageParams;
  refine?: RefineParams;
  /** Object key of the job's shared input (video keyframes as raw RGB8 frames), '' if none. */
  inputKey: string;
  /** Failed attempts per agent name (errors the agent reported), for the blocklist. */
  agentFailures: Record<string, number>;
  /** Agent names that get no more shards of this job (they failed it too often). */
  blockedAgents: string[];
  /**
   * Expected seconds of the speculative backups granted for it so far (what its backup budget has
   * spent; absent in records written before it was kept).
   */
  backupSpentS?: number;
}

/** A shard as persisted under `shard.<jobId>.<index>`. */
export interface ShardRecord {
  jobId: string;
  index: number;
  stage: string;
  kind: ShardKind;
  /** Video: clip frames [firstFrame, firstFrame + frameCount) this shard produces. */
  firstFrame: number;
  frameCount: number;
  /** Index of the shard whose committed output this one needs first (chained video), -1 for none. */
  dependsOn: number;
  /** Frames in the input blob (upscale_frames, svd_batch). */
  inputFrames: number;
  /** svd_batch: which frame of the input blob conditions the batch. */
  conditioningFrame: number;
  /** svd_batch: the VAE decode chunk of the current lease. */
  decodeChunk: number;
  outputFrames: number;
  /** sd_stage returning latents: their channel count (0 for images). */
  outputChannels: number;
  state: ShardState;
  /** Leases granted so far; the latest lease's fencing token. */
  attempt: number;
  requiredClassGb: number;
  /** Output region this shard owns (core), in output pixels. */
  region: RectRecord;
  /** Input rect (with context) in input pixels. */
  input: RectRecord;
  /**
   * upscale_tile covering several tiles of the job's grid (a block for a big agent, tile-blocks.ts):
   * their indices, row-major; absent = the one tile of this shard's index.
   */
  tiles?: number[];
  inputKey: string;
  inputSha256: string;
  seed: number;
  agentId: string;
  agentName: string;
  agentClassGb: number;
  leasedMs: number;
  leaseExpiresMs: number;
  /** Set once the agent's heartbeat lists this lease. */
  leaseConfirmed: boolean;
  reason: string;
  outputKey: string;
  outputSha256: string;
  outputBytes: number;
  outputWidth: number;
  outputHeight: number;
  runSeconds: number;
  /** Agents that failed this shard (per-job quarantine). */
  failedOn: string[];
  /** Retry backoff: not dispatched before this time (unix ms; 0 = at once). */
  notBeforeMs: number;
  /** A speculative second lease of a leased shard on another agent (core/shard.ts `grantBackup`). */
  backup?: BackupLease;
  /** The highest fencing token issued so far when a backup's exceeds `attempt` (never reused). */
  lastToken?: number;
}

/**
 * A backup attempt of a leased shard: a second lease with its own fencing token, held beside the
 * primary's (the record's own agent and attempt fields). The first commit of either wins.
 */
export interface BackupLease {
  /** Its fencing token: above every token issued before it. */
  attempt: number;
  agentId: string;
  agentName: string;
  agentClassGb: number;
  leasedMs: number;
  leaseExpiresMs: number;
  leaseConfirmed: boolean;
}

/** Key of a shard within the farm. */
export function shardKey(jobId: string, index: number): string {
  return `${jobId}.${index}`;
}

/** A shard record with every optional field at its neutral value; planners override what applies. */
export function newShard(
  base: Pick<ShardRecord, 'jobId' | 'index' | 'stage' | 'kind' | 'requiredClassGb' | 'seed'> & Partial<ShardRecord>,
): ShardRecord {
  return {
    state: 'queued',
    attempt: 0,
    region: { x: 0, y: 0, width: 0, height: 0 },
    input: { x: 0, y: 0, width: 0, height: 0 },
    inputKey: '',
    inputSha256: '',
    firstFrame: 0,
    frameCount: 0,
    dependsOn: -1,
    inputFrames: 1,
    conditioningFrame: 0,
    decodeChunk: 0,
    outputFrames: 0,
    outputChannels: 0,
    agentId: '',
    agentName: '',
    agentClassGb: 0,
    leasedMs: 0,
    leaseExpiresMs: 0,
    leaseConfirmed: false,
    reason: '',
    outputKey: '',
    outputSha256: '',
    outputBytes: 0,
    outputWidth: 0,
    outputHeight: 0,
    runSeconds: 0,
    failedOn: [],
    notBeforeMs: 0,
    ...base,
  };
}

/**
 * A copy of a shard record: every field named, in one order, so that every copy has the same hidden
 * class whatever the record's history (created by `newShard`, parsed from the store, copied by an
 * object spread, renewed in place). The hot verbs copy with it: spreads of records with different
 * histories made differently shaped copies, and past four shapes V8 copies property by property,
 * about ten times slower. Typed so that a field added to `ShardRecord` must be added here too.
 */
export function copyShard(s: ShardRecord): ShardRecord {
  const copy: { [K in keyof Required<ShardRecord>]: ShardRecord[K] } = {
    jobId: s.jobId,
    index: s.index,
    stage: s.stage,
    kind: s.kind,
    firstFrame: s.firstFrame,
    frameCount: s.frameCount,
    dependsOn: s.dependsOn,
    inputFrames: s.inputFrames,
    conditioningFrame: s.conditioningFrame,
    decodeChunk: s.decodeChunk,
    outputFrames: s.outputFrames,
    outputChannels: s.outputChannels,
    state: s.state,
    attempt: s.attempt,
    requiredClassGb: s.requiredClassGb,
    region: s.region,
    input: s.input,
    tiles: s.tiles,
    inputKey: s.inputKey,
    inputSha256: s.inputSha256,
    seed: s.seed,
    agentId: s.agentId,
    agentName: s.agentName,
    agentClassGb: s.agentClassGb,
    leasedMs: s.leasedMs,
    leaseExpiresMs: s.leaseExpiresMs,
    leaseConfirmed: s.leaseConfirmed,
    reason: s.reason,
    outputKey: s.outputKey,
    outputSha256: s.outputSha256,
    outputBytes: s.outputBytes,
    outputWidth: s.outputWidth,
    outputHeight: s.outputHeight,
    runSeconds: s.runSeconds,
    failedOn: s.failedOn,
    notBeforeMs: s.notBeforeMs,
    backup: s.backup,
    lastToken: s.lastToken,
  };
  return copy;
}

/** A job record with every optional field at its neutral value. */
export function newJob(
  base: Pick<JobRecord, 'id' | 'name' | 'kind' | 'model' | 'seed' | 'priority' | 'maxAttempts' | 'createdMs'> &
    Partial<JobRecord>,
): JobRecord {
  return {
    owner: '',
    state: 'queued',
    startedMs: 0,
    finishedMs: 0,
    shardsTotal: 0,
    inputWidth: 0,
    inputHeight: 0,
    outputWidth: 0,
    outputHeight: 0,
    scale: 1,
    tile: 0,
    overlap: 0,
    margin: 0,
    requiredClassGb: 0,
    error: '',
    outputs: [],
    inputKey: '',
    agentFailures: {},
    blockedAgents: [],
    ...base,
  };
}
