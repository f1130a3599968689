/**
 * The job kinds: each kind's module holds its validation, plan, inputs, lease inputs, agent task and
 * assembly. This file only dispatches on the kind.
 */
import type { HardwareTable } from '@tessera/hardware';
import { blobKeys, type ShardTask } from '@tessera/protocol';
import type { BlobStore } from '../blobs.js';
import type { JobKind, JobRecord, ShardRecord } from '../model.js';
import type { Assemble } from '../shell/deps.js';
import type { Logger } from 'pino';
import * as image from './image.js';
import * as upscale from './upscale.js';
import * as video from './video.js';
import * as videoUpscale from './video-upscale.js';

export { image, upscale, video, videoUpscale };
export * from './requests.js';

/** What a lease fixes at grant time (inputs from the shard it depends on, decode chunk). */
export function leaseInputs(
  job: JobRecord,
  s: ShardRecord,
  agentClassGb: number,
  dep: ShardRecord | undefined,
  table: HardwareTable,
): Partial<ShardRecord> {
  if (s.kind === 'sd_stage') return image.leaseInputs(s, dep);
  return video.leaseInputs(job, s, agentClassGb, dep, table);
}

/** The engine task of a lease: the kind-independent fields, then the kind's own parameters. */
export function taskFor(job: JobRecord, s: ShardRecord, attempt: number, dep: ShardRecord | undefined): ShardTask {
  return {
    kind: s.kind,
    model: job.model,
    inputKey: s.inputKey,
    inputWidth: s.input.width,
    inputHeight: s.input.height,
    seed: s.seed,
    outputKey: blobKeys.shardOutput(job.id, s.index, attempt),
    inputSha256: s.inputSha256,
    inputFrames: s.kind === 'upscale_tile' ? 1 : s.inputFrames,
    video: video.videoTask(job, s),
    image: upscale.refineTask(job, s) ?? image.imageTask(job, s, dep),
    workUnits: 0,
  };
}

/** The assembler of every kind, over one blob store. */
export function assemblers(
  blobs: BlobStore,
  log?: Logger,
  /** hook(scale): where big upscales spool their bands. */
  upscaleOptions?: { spoolDir?: string },
): Record<JobKind, Assemble> {
  return {
    upscale: upscale.createAssembler(blobs, log, upscaleOptions),
    video: video.createAssembler(blobs, log),
    video_upscale: videoUpscale.createAssembler(blobs, log),
    image: image.createAssembler(blobs),
  };
}
