/**
 * Planning of image jobs: txt2img / img2img with a Stable-Diffusion-family model as a chain of
 * pipeline stages (SDXL base → refiner, Cascade C → B → A), one shard per stage, each with its own
 * VRAM requirement from the hardware table. Pure.
 */
import { requiredClassFor, type HardwareTable, type ModelRow } from '@tessera/hardware';
import { InvalidArgumentError } from './errors.js';
import { resolveAttachments, withControlNetVram, type ControlNetRequest } from './image-attachments.js';
import { newJob, newShard, type ImageParams, type JobRecord, type ShardRecord } from './model.js';
import { deriveSeed } from './planner.js';
import { checkPipelineRequest, renderedSize, requireEnginePipeline } from './pipeline-support.js';
import type { JobHeader } from './planner-video.js';

/** The request fields of an image job; zeros mean "the pipeline's default". */
export interface ImageRequest {
  model: string;
  prompt: string;
  negativePrompt: string;
  width: number;
  height: number;
  steps: number;
  guidanceScale: number;
  strength: number;
  scheduler: string;
  refine: boolean;
  highNoiseFrac: number;
  /** Size of the init image when img2img, else undefined. */
  init?: { width: number; height: number };
  /** ControlNets and VAE attached to the model (image-attachments.ts). */
  controlNets?: ControlNetRequest[];
  vae?: string;
}

const F = 'image';
const SCHEDULERS = ['', 'euler', 'euler-ancestral', 'ddim', 'dpm++2m', 'flow-match-euler'];

function num(field: string, v: number, lo: number, hi: number): number {
  if (!Number.isFinite(v) || v < lo || v > hi) throw new InvalidArgumentError(field, `${v} is outside ${lo}..${hi}`);
  return v;
}

/** Model directory of a stage on an agent: the model id for its first stage, `<model>-<stage>` after. */
export function stageModelDir(model: string, stages: string[], stage: string): string {
  return stage === stages[0] ? model : `${model}-${stage}`;
}

/** Validates an image request and resolves its stages. */
export function resolveImageParams(req: ImageRequest, table: HardwareTable): { row: ModelRow; params: ImageParams } {
  const known = [...table.models.values()].filter((m) => m.kind === 'image').map((m) => m.id);
  if (!req.model) throw new InvalidArgumentError(`${F}.model`, `required (known image models: ${known.join(', ')})`);
  const row = table.models.get(req.model);
  if (!row || row.kind !== 'image') {
    throw new InvalidArgumentError(
      `${F}.model`,
      `unknown image model ${JSON.stringify(req.model)} (known image models: ${known.join(', ')})`,
    );
  }
  // hook(engines-a): refuse a model no engine pipeline runs, naming it
  const pipeline = requireEnginePipeline(row, `${F}.model`);
  if (!req.prompt.trim()) throw new InvalidArgumentError(`${F}.prompt`, 'required');
  if (req.prompt.length > 4000)
    throw new InvalidArgumentError(`${F}.prompt`, `${req.prompt.length} characters is above the limit of 4000`);
  if (req.negativePrompt.length > 4000)
    throw new InvalidArgumentError(`${F}.negative_prompt`, 'above the limit of 4000 characters');
  let width = req.width || req.init?.width || row.nativeWidth || 512;
  let height = req.height || req.init?.height || row.nativeHeight || 512;
  // hook(engines-a): the size the pipeline renders (Hunyuan-DiT bins to its trained shapes)
  ({ width, height } = renderedSize(pipeline, width, height));
  num(`${F}.width`, width, 16, 4096);
  num(`${F}.height`, height, 16, 4096);
  if (width % 8 || height % 8)
    throw new InvalidArgumentError(`${F}.width`, `${width}×${height} must be multiples of 8`);
  // hook(engines-a): per-pipeline size multiple, scheduler and img2img rules
  checkPipelineRequest(pipeline, { model: row.id, width, height, scheduler: req.scheduler, img2img: !!req.init }, F);
  if (!SCHEDULERS.includes(req.scheduler)) {
    throw new InvalidArgumentError(
      `${F}.scheduler`,
      `unknown scheduler ${JSON.stringify(req.scheduler)} (use ${SCHEDULERS.filter(Boolean).join(', ')})`,
    );
  }
  const declared = row.stages?.map((s) => s.id) ?? [];
  let stages: string[];
  if (row.id === 'sdxl') stages = req.refine ? ['base', 'refiner'] : ['base'];
  else if (req.refine) throw new InvalidArgumentError(`${F}.refine`, `${row.id} has no refiner stage (only sdxl does)`);
  else stages = declared.length ? declared : ['main'];
  const params: ImageParams = {
    prompt: req.prompt,
    negativePrompt: req.negativePrompt,
    width,
    height,
    steps: num(`${F}.steps`, req.steps, 0, 500),
    guidanceScale: num(`${F}.guidance_scale`, req.guidanceScale, 0, 50),
    strength: req.init ? num(`${F}.strength`, req.strength || 0.8, 0.001, 1) : 0,
    scheduler: req.scheduler,
    stages,
    highNoiseFrac: num(`${F}.high_noise_frac`, req.highNoiseFrac || 0.8, 0.05, 0.95),
    img2img: !!req.init,
  };
  // hook(engines-b): ControlNets and VAE swap, validated against the table's controlnet / vae rows.
  const attached = resolveAttachments(row, req.controlNets ?? [], req.vae ?? '', table);
  if (attached.controlNets.length) params.controlNets = attached.controlNets;
  if (attached.vae) params.vae = attached.vae;
  // hook(engines-b): refuse img2img for models whose pipeline has none (table `img2img: false`, e.g. PixArt).
  if (req.init && row.img2img === false)
    throw new InvalidArgumentError(`${F}.init_image`, `${row.id} is txt2img only (its pipeline has no img2img)`);
  if (!req.init && req.strength)
    throw new InvalidArgumentError(`${F}.strength`, 'only applies with init_image (img2img)');
  return { row, params };
}

/** Plans an image job: one sd_stage shard per stage, each waiting for the one before. */
export function planImage(
  h: JobHeader,
  row: ModelRow,
  params: ImageParams,
  table: HardwareTable,
  inputKey: string,
): { job: JobRecord; shards: ShardRecord[] } {
  const shards = params.stages.map((stage, i) =>
    newShard({
      jobId: h.jobId,
      index: i,
      stage,
      kind: 'sd_stage',
      // hook(engines-b): the first stage also holds the job's ControlNets.
      requiredClassGb: requiredClassFor(
        table,
        i === 0 ? withControlNetVram(row, stage === 'main' ? undefined : stage, params.controlNets, table) : row,
        {},
        stage === 'main' ? undefined : stage,
      ),
      // The first stage takes the job seed itself, so `tessera-agent run txt2img --seed N` reproduces a
      // single-stage farm job; later stages derive theirs from it and their position.
      seed: i === 0 ? h.seed : deriveSeed(h.seed, stage, i),
      region: { x: 0, y: 0, width: params.width, height: params.height },
      input: { x: 0, y: 0, width: params.width, height: params.height },
      dependsOn: i - 1,
      inputKey: i === 0 && (params.img2img || params.controlNets?.length) ? inputKey : '',
    }),
  );
  const job = newJob({
    id: h.jobId,
    name: h.name,
    owner: h.owner ?? '',
    kind: 'image',
    model: row.id,
    seed: h.seed,
    priority: h.priority,
    maxAttempts: h.maxAttempts,
    createdMs: h.nowMs,
    shardsTotal: shards.length,
    inputWidth: params.width,
    inputHeight: params.height,
    outputWidth: params.width,
    outputHeight: params.height,
    requiredClassGb: Math.max(...shards.map((s) => s.requiredClassGb)),
    image: params,
    inputKey: params.img2img || params.controlNets?.length ? inputKey : '',
  });
  return { job, shards };
}
