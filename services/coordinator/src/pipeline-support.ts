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
  const m = ENGINE_IMAGE_PIPELINES[pipeline]?.sizeMultiple ?? 8;
  for (const [k, v] of [
    ['width', req.width],
    ['height', req.height],
  ] as const) {
    if (v % m !== 0)
      throw new InvalidArgumentError(`${prefix}.${k}`, `${v} is not a multiple of ${m}, which ${req.model} needs`);
  }
  if (pipeline === 'stable-cascade') {
    if (req.scheduler)
      throw new InvalidArgumentError(
        `${prefix}.scheduler`,
        `${req.model} runs only its own DDPMWuerstchenScheduler; leave it empty`,
      );
    if (req.img2img) throw new InvalidArgumentError(`${prefix}.init_image`, `${req.model} has no img2img pipeline`);
  }
}

/**
 * True for the stages after the first of a Stable Cascade job (stages c → b → a): they run with their own
 * defaults (decoder: 10 steps, guidance 0), the job's steps and guidance being the prior's.
 */
export function stageUsesOwnDefaults(stages: readonly string[], index: number): boolean {
  return index > 0 && stages.length === 3 && stages[0] === 'c' && stages[1] === 'b' && stages[2] === 'a';
}
