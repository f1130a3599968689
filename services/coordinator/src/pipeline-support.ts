/**
 * What the engine's image pipelines can run, checked at submit (pure): a model whose hardware-table row names no
 * pipeline the engine has is refused naming the model — never accepted to fail on an agent — and per-pipeline rules
 * (size multiple, scheduler, img2img) are checked before planning. Also the per-stage parameters of multi-stage
 * pipelines: Stable Cascade's decoder (b) and VQGAN (a) run with their own defaults, as diffusers' decoder does.
 */
import { ENGINE_IMAGE_PIPELINES, enginePipelineOf, type ModelRow } from '@tessera/hardware';
import { InvalidArgumentError } from './errors.js';

/** The engine pipeline of `row`, or InvalidArgumentError(field) naming the model and why no pipeline runs it. */
export function requireEnginePipeline(row: ModelRow, field: string): string {
  const pipeline = enginePipelineOf(row);
  if (pipeline) return pipeline;
  const have = Object.keys(ENGINE_IMAGE_PIPELINES).join(', ');
  throw new InvalidArgumentError(
    field,
    row.pipeline === undefined
      ? `model ${row.id}: no engine pipeline runs it (its hardware-table row names no pipeline; the engine has ${have})`
      : `model ${row.id}: no engine pipeline runs it (its row names pipeline ${row.pipeline}, which the engine does not implement; it has ${have})`,
  );
}

/** Checks what a pipeline needs of an image job: its size multiple, its schedulers, whether it does img2img. */
export function checkPipelineRequest(
  pipeline: string,
  req: { model: string; width: number; height: number; scheduler: string; img2img: boolean },
  prefix: string,
): void {
  const spec = ENGINE_IMAGE_PIPELINES[pipeline];
  if (!spec) return;
  for (const [k, v] of [
    ['width', req.width],
    ['height', req.height],
  ] as const) {
    if (v % spec.sizeMultiple !== 0)
      throw new InvalidArgumentError(
        `${prefix}.${k}`,
        `${v} is not a multiple of ${spec.sizeMultiple}, which ${req.model} needs`,
      );
  }
  if (req.scheduler && spec.schedulers === 'own')
    throw new InvalidArgumentError(
      `${prefix}.scheduler`,
      `${req.model} runs only its own scheduler (${spec.diffusers}); leave it empty`,
    );
  if (req.img2img) requireImg2img(pipeline, req.model, `${prefix}.init_image`);
}

/** InvalidArgumentError(field) unless the pipeline has img2img (also what upscale refine tiles run). */
export function requireImg2img(pipeline: string, model: string, field: string): void {
  if (ENGINE_IMAGE_PIPELINES[pipeline]?.img2img === false)
    throw new InvalidArgumentError(field, `${model} has no img2img pipeline (diffusers has none for it)`);
}

/** The trained shapes of Hunyuan-DiT as (width, height), by aspect ratio (diffusers' pipeline_hunyuandit.py). */
const HUNYUAN_RATIOS = [1.0, 4.0 / 3.0, 3.0 / 4.0, 16.0 / 9.0, 9.0 / 16.0];
const HUNYUAN_SHAPES: [number, number][][] = [
  [
    [1024, 1024],
    [1280, 1280],
  ],
  [
    [1024, 768],
    [1152, 864],
    [1280, 960],
  ],
  [
    [768, 1024],
    [864, 1152],
    [960, 1280],
  ],
  [[1280, 768]],
  [[768, 1280]],
];

/**
 * The size a pipeline actually renders for a requested size: Hunyuan-DiT bins a size outside its trained shapes to
 * the closest ratio, then area (diffusers' map_to_standard_shapes, as the engine does), so the job records the
 * output size the agent will return; every other pipeline renders the size asked for.
 */
export function renderedSize(pipeline: string, width: number, height: number): { width: number; height: number } {
  if (pipeline !== 'hunyuan-dit') return { width, height };
  // diffusers floors to multiples of 16 first.
  width = Math.floor(width / 16) * 16;
  height = Math.floor(height / 16) * 16;
  if (HUNYUAN_SHAPES.some((g) => g.some(([w, h]) => w === width && h === height))) return { width, height };
  const argmin = (xs: number[]) => xs.reduce((best, x, i) => (x < xs[best] ? i : best), 0);
  const r = argmin(HUNYUAN_RATIOS.map((s) => Math.abs(s - width / height)));
  const [w, h] = HUNYUAN_SHAPES[r][argmin(HUNYUAN_SHAPES[r].map(([a, b]) => Math.abs(a * b - width * height)))];
  return { width: w, height: h };
}

/**
 * True for the stages after the first of a Stable Cascade job (stages c → b → a): they run with their own
 * defaults (decoder: 10 steps, guidance 0), the job's steps and guidance being the prior's.
 */
export function stageUsesOwnDefaults(stages: readonly string[], index: number): boolean {
  return index > 0 && stages.length === 3 && stages[0] === 'c' && stages[1] === 'b' && stages[2] === 'a';
}
