/**
 * What the coordinator's shell is built from (wired in main.ts): the stores, the codec, the
 * assemblers, time and identity, change notifications, metrics and options.
 */
import type { HardwareTable } from '@tessera/hardware';
import type { LeaseRef } from '@tessera/protocol';
import type { Logger } from 'pino';
import type { BlobStore } from '../blobs.js';
import type { Clock, IdSource } from '../clock.js';
import type { CoordinatorMetrics } from '../metrics.js';
import type { JobRecord, OutputRecord, ShardRecord } from '../model.js';
import type { CompiledCoordinatorOptions } from '../options.js';
import type { StateStore } from '../state/store.js';
import type { ModelCatalog } from '../model-routing.js';

/** A decoded RGB8 image. */
export interface DecodedImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** What the coordinator needs to turn encoded bytes into pixels (sharp in production). */
export interface ImageCodec {
  /** True when ffmpeg is available (MP4 in and out). */
  readonly ffmpeg: boolean;
  /** Header only: dimensions. Throws InvalidArgumentError naming `field` on corrupt bytes. */
  probe(bytes: Uint8Array, maxPixels: number, field: string): Promise<{ width: number; height: number }>;
  decodeRgb(bytes: Uint8Array, maxPixels: number, field: string): Promise<DecodedImage>;
  /** Decodes and resizes (cover, centred) to exactly width×height RGB8. */
  decodeResized(
    bytes: Uint8Array,
    width: number,
    height: number,
    maxPixels: number,
    field: string,
  ): Promise<Uint8Array>;
  /** The frames of an input clip (animated WebP/GIF, MP4 with ffmpeg) or of a list of encoded frames. */
  decodeClip(
    src: { clip: Uint8Array; frames: Uint8Array[] },
    maxPixels: number,
    maxFrames: number,
  ): Promise<{ width: number; height: number; fps: number; frames: Uint8Array[] }>;
}

/** Blends a finished job's shard outputs into the final output(s) and stores them; primary first. */
export type Assemble = (job: JobRecord, shards: ShardRecord[]) => Promise<OutputRecord[]>;

/** Raised by Assemble when a shard output is missing or corrupt: that shard must run again. */
export class ShardOutputCorruptError extends Error {
  override readonly name = 'ShardOutputCorruptError';
  constructor(
    readonly shardIndex: number,
    message: string,
  ) {
    super(message);
  }
}

/** Change notifications (WatchJob, metrics). */
export interface CoordinatorEvents {
  jobChanged(job: JobRecord): void;
  shardChanged(job: JobRecord, shard: ShardRecord): void;
  /** A job was cancelled: agents running its shards should stop now. */
  jobCancelled(jobId: string): void;
  /**
   * hook(models): a queued job needs these model directories on agents of class ≥ requiredClassGb;
   * idle agents that lack one may fetch it ahead of their first shard (prefetch).
   */
  modelsWanted?(models: readonly string[], requiredClassGb: number): void;
  /** One attempt of a shard was cancelled (it lost a speculative race, or was dropped): its agent should stop now. */
  attemptCancelled?(ref: LeaseRef): void;
}

export interface CoordinatorDeps {
  /** hook(models): the store's models and the fleet's copies, for routing (model-routing.ts). */
  modelCatalog?: ModelCatalog;
  /** hook(models): throws FailedPreconditionError for a valid job whose model is nowhere. */
  modelGate?: (job: JobRecord) => Promise<void>;
  /** hook(models): why a queued job waits for a model ('' when it does not). */
  modelWaitReason?: (job: JobRecord) => string;
  store: StateStore;
  blobs: BlobStore;
  table: HardwareTable;
  codec: ImageCodec;
  assemble: Assemble;
  /** Upscale with refine: blends the upscale tiles and stores each refine tile's input (index → sha256). */
  prepareRefine: (job: JobRecord, shards: ShardRecord[]) => Promise<Map<number, { key: string; sha256: string }>>;
  /** Time and timers (a clock without `after` gets Node's timers: see withTimers). */
  clock: Pick<Clock, 'now'> & Partial<Pick<Clock, 'after'>>;
  /** New job ids (default: time-ordered with random bytes). */
  ids?: IdSource;
  events: CoordinatorEvents;
  metrics: CoordinatorMetrics;
  log: Logger;
  options: CompiledCoordinatorOptions;
}

/** The deps as the shell uses them: the clock always has timers (Coordinator applies withTimers). */
export type ShellDeps = CoordinatorDeps & { clock: Clock };
