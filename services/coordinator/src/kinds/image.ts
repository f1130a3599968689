/**
 * The image kind (txt2img, img2img) in one place: validation and plan (planner-image.ts: one shard
 * per pipeline stage), inputs (the init image, resized, as the job input), what a lease fixes (a
 * later stage starts from what the stage before committed), the agent's task and assembly
 * (assembler.ts: the last stage's image).
 */
import { blobKeys, type ImageSpec, type ImageTask } from '@tessera/protocol';
import { imageInputRgb, imageTaskAttachments } from '../image-attachments.js';
import type { JobRecord, ShardRecord } from '../model.js';
import { stageUsesOwnDefaults } from '../pipeline-support.js'; // hook(engines-a)
import { planImage, resolveImageParams, stageModelDir } from '../planner-image.js';
import {
  checkInputBytes,
  jobHeader,
  type ApiLimits,
  type ImageSubmission,
  type Intake,
  type IntakeContext,
  type SubmissionHeader,
} from './requests.js';

export { createImageAssembler as createAssembler } from '../assembler.js';

/** The API request as a submission (its size checked before anything is decoded). */
export function fromApi(v: ImageSpec, header: SubmissionHeader, limits: ApiLimits): ImageSubmission {
  checkInputBytes('image.init_image', [v.initImage, ...v.controlnets.map((cn) => cn.image)], limits);
  return {
    ...header,
    initImage: v.initImage,
    // hook(engines-b): ControlNets (control images apart) and the VAE swap.
    controlImages: v.controlnets.map((cn) => cn.image),
    request: {
      controlNets: v.controlnets.map((cn) => ({
        model: cn.model,
        preprocess: cn.preprocess,
        scale: cn.scale,
        guidanceStart: cn.guidanceStart,
        guidanceEnd: cn.guidanceEnd,
      })),
      vae: v.vae,
      model: v.model,
      prompt: v.prompt,
      negativePrompt: v.negativePrompt,
      width: v.width,
      height: v.height,
      steps: v.steps,
      guidanceScale: v.guidanceScale,
      strength: v.strength,
      scheduler: v.scheduler,
      refine: v.refine,
      highNoiseFrac: v.highNoiseFrac,
    },
  };
}

/** Validates, plans and stores the init image of an image job. */
export async function intake(sub: ImageSubmission, ctx: IntakeContext): Promise<Intake> {
  const { d } = ctx;
  const o = d.options;
  ctx.checkQueueRoom(1, sub.owner);
  const now = d.clock.now();
  const jobId = ctx.jobId(now);
  let init: { width: number; height: number } | undefined;
  if (sub.initImage.length) init = await d.codec.probe(sub.initImage, o.maxInputPixels, 'image.init_image');
  const { row, params } = resolveImageParams({ ...sub.request, init }, d.table);
  const inputKey = blobKeys.jobInput(jobId);
  const plan = planImage(jobHeader(sub, jobId, now, o.maxAttempts), row, params, d.table, inputKey);
  ctx.checkQueueRoom(plan.shards.length, sub.owner);
  // hook(engines-b): the input blob holds the init image, then the control images (image-attachments.ts).
  const rgb = await imageInputRgb(d.codec, sub.initImage, sub.controlImages ?? [], params, o.maxInputPixels);
  if (rgb) {
    const info = await d.blobs.put(inputKey, rgb);
    plan.shards[0].inputSha256 = info.sha256;
  }
  return {
    job: plan.job,
    shards: plan.shards,
    log: { stages: params.stages.join('→'), size: `${params.width}x${params.height}` },
  };
}

/** A later pipeline stage starts from what the stage before committed (latents or an image). */
export function leaseInputs(s: ShardRecord, dep: ShardRecord | undefined): Partial<ShardRecord> {
  if (s.kind !== 'sd_stage' || !dep) return {};
  return { inputKey: dep.outputKey, inputSha256: dep.outputSha256 };
}

/** The parameters of one pipeline stage of an image job. */
export function imageTask(job: JobRecord, s: ShardRecord, dep: ShardRecord | undefined): ImageTask | undefined {
  const p = job.image;
  if (!p || s.kind !== 'sd_stage') return undefined;
  const last = s.index === p.stages.length - 1;
  // SDXL ensemble of experts: the base stops at high_noise_frac and hands its latents to the refiner.
  const sdxlTwoStage = job.model === 'sdxl' && p.stages.length === 2;
  return {
    modelDir: stageModelDir(job.model, p.stages, s.stage),
    stage: s.stage,
    prompt: p.prompt,
    negativePrompt: p.negativePrompt,
    width: p.width,
    height: p.height,
    // hook(engines-a): Stable Cascade's decoder and VQGAN stages run with their own defaults (0 = the stage's)
    steps: stageUsesOwnDefaults(p.stages, s.index) ? 0 : p.steps,
    guidanceScale: stageUsesOwnDefaults(p.stages, s.index) ? 0 : p.guidanceScale,
    strength: s.index === 0 ? p.strength : 0,
    scheduler: p.scheduler,
    denoisingStart: sdxlTwoStage && s.stage === 'refiner' ? p.highNoiseFrac : 0,
    denoisingEnd: sdxlTwoStage && s.stage === 'base' ? p.highNoiseFrac : 0,
    inputKind: dep ? (dep.outputChannels ? 'latents' : 'image') : p.img2img ? 'image' : 'none',
    latentChannels: dep?.outputChannels ?? 0,
    latentHeight: dep?.outputChannels ? dep.outputHeight : 0,
    latentWidth: dep?.outputChannels ? dep.outputWidth : 0,
    outputLatents: !last,
    ...imageTaskAttachments(p, s.index), // hook(engines-b): ControlNets and VAE swap of the stage
  };
}
