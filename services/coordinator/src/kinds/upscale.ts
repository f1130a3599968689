/**
 * The upscale kind in one place: validation and plan (planner.ts: tile grid, VRAM class), inputs
 * (each tile's crop stored as its shard input), the agent's task (upscale tiles; refine tiles as
 * SD img2img stages) and assembly (assembler.ts: blend, then refine preparation and final blend).
 */
import { blobKeys, type ImageTask, type UpscaleSpec } from '@tessera/protocol';
import { imageTaskAttachments } from '../image-attachments.js';
import type { JobRecord, ShardRecord } from '../model.js';
import { imageFormatsOf } from '../image-formats.js';
import { planUpscale } from '../planner.js';
import { cropRgb, mapLimit } from '../util.js';
import {
  checkInputBytes,
  type ApiLimits,
  type Intake,
  type IntakeContext,
  type SubmissionHeader,
  type UpscaleSubmission,
} from './requests.js';

export { createRefinePreparer, createUpscaleAssembler as createAssembler } from '../assembler.js';

/** The API request as a submission (its sizes checked before anything is decoded). */
export function fromApi(up: UpscaleSpec, header: SubmissionHeader, limits: ApiLimits): UpscaleSubmission {
  checkInputBytes('upscale.image', [up.image], limits);
  return {
    ...header,
    image: up.image,
    model: up.model,
    tile: up.tile,
    overlap: up.overlap,
    // hook(scale): output formats (PNG, tiled pyramidal TIFF), validated here, stored per job.
    formats: imageFormatsOf('upscale.formats', up.formats),
    refine: up.refine && {
      model: up.refine.model,
      prompt: up.refine.prompt,
      negativePrompt: up.refine.negativePrompt,
      strength: up.refine.strength,
      steps: up.refine.steps,
      guidanceScale: up.refine.guidanceScale,
      tile: up.refine.tile,
      overlap: up.refine.overlap,
      scheduler: up.refine.scheduler,
    },
  };
}

/** Validates, plans and stores the tile inputs of an upscale job. */
export async function intake(sub: UpscaleSubmission, ctx: IntakeContext): Promise<Intake> {
  const { d } = ctx;
  const o = d.options;
  ctx.checkQueueRoom(1, sub.owner);
  const now = d.clock.now();
  const probe = await d.codec.probe(sub.image, o.maxInputPixels, 'upscale.image');
  const plan = planUpscale(
    {
      jobId: ctx.jobId(now),
      name: sub.name,
      model: sub.model,
      seed: sub.seed,
      priority: sub.priority,
      maxAttempts: sub.maxAttempts,
      owner: sub.owner,
      width: probe.width,
      height: probe.height,
      tile: sub.tile,
      overlap: sub.overlap,
      // hook(speed): tile count from the fleet's speed mix (equal agents: their number, as before)
      agents: ctx.tilingAgents(sub.model),
      nowMs: now,
      refine: sub.refine,
      formats: sub.formats, // hook(scale): requested output formats
      fleetClassesGb: ctx.fleetClassesGb(), // hook(scale): tile blocks for big classes
    },
    d.table,
    o,
  );
  ctx.checkQueueRoom(plan.shards.length, sub.owner);
  const img = await d.codec.decodeRgb(sub.image, o.maxInputPixels, 'upscale.image');
  const { job, shards } = plan;
  // Refine tiles get their inputs once the upscaled image exists.
  await mapLimit(
    shards.filter((s) => s.kind === 'upscale_tile'),
    8,
    async (s) => {
      const crop = cropRgb(img, s.input);
      s.inputKey = blobKeys.shardInput(job.id, s.index);
      // A new job's key: nothing to replace.
      s.inputSha256 = (await d.blobs.put(s.inputKey, crop, { fresh: true })).sha256;
    },
  );
  return {
    job,
    shards,
    log: { tile: job.tile, overlap: job.overlap, input: `${job.inputWidth}x${job.inputHeight}` },
  };
}

/** A refine tile's engine parameters (SD img2img on its tile of the upscaled image). */
export function refineTask(job: JobRecord, s: ShardRecord): ImageTask | undefined {
  const r = job.refine;
  if (!r || s.kind !== 'sd_stage') return undefined;
  return {
    modelDir: r.model,
    stage: 'refine',
    prompt: r.prompt,
    negativePrompt: r.negativePrompt,
    width: s.input.width,
    height: s.input.height,
    steps: r.steps,
    guidanceScale: r.guidanceScale,
    strength: r.strength,
    scheduler: r.scheduler,
    denoisingStart: 0,
    denoisingEnd: 0,
    inputKind: 'image',
    latentChannels: 0,
    latentHeight: 0,
    latentWidth: 0,
    outputLatents: false,
    ...imageTaskAttachments(undefined, 0), // hook(engines-b): none for refine tiles
  };
}
