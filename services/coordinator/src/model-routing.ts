/**
 * Routing by model (issue 10), pure: which models a submission needs, whether the farm can serve
 * them at all, and how well an agent suits a shard's model. The coordinator calls these from small
 * hooks; the data comes from the store's manifests and the agents' adverts.
 */
import type { HeldModel } from '@tessera/protocol';
import type { HardwareTable } from '@tessera/hardware';
import type { JobRecord } from './model.js';
import { stageModelDir } from './planner-image.js';

/** What the coordinator knows about models beyond one agent: the store's sizes, the fleet's copies. */
export interface ModelCatalog {
  /** Total bytes of the model in the store, or undefined when the store does not have it. */
  storedBytes(model: string): number | undefined;
  /** True when some live agent advertises the model on its disk. */
  heldByAnyAgent(model: string): boolean;
  /** True for models that need weights on the agent (the table's image and video rows and their stages). */
  needsWeights?(model: string): boolean;
}

/** What routing reads from an agent's advert. */
export interface ModelHolder {
  modelsHeld?: readonly HeldModel[];
  /** 0 = unbounded (or not reported). */
  modelCacheCapacityBytes?: number;
}

/** The hint every "missing model" message carries. */
export function pushHint(model: string): string {
  return `push it with \`tessera models push ${model} DIR\` (or give an agent a --models directory holding ${model}/)`;
}

/**
 * Model directories a validated job needs on an agent (weights-bearing models: the hardware table's
 * image and video rows, one directory per pipeline stage, and an image job's ControlNets and VAE;
 * built-in upscalers need none). Pure.
 */
export function requiredModels(
  job: Pick<JobRecord, 'kind' | 'model' | 'image' | 'refine'>,
  table: HardwareTable,
): string[] {
  const needsWeights = (id: string) => {
    const kind = table.models.get(id)?.kind;
    return kind === 'image' || kind === 'video';
  };
  const out: string[] = [];
  if ((job.kind === 'video' || job.kind === 'image') && needsWeights(job.model)) {
    const stages = job.image?.stages ?? [];
    if (stages.length) for (const st of stages) out.push(stageModelDir(job.model, stages, st));
    else out.push(job.model);
  }
  if (job.refine && needsWeights(job.refine.model)) out.push(job.refine.model);
  // The ControlNets and VAE an image job names are directories on the agent too (fetched like models).
  for (const cn of job.image?.controlNets ?? []) out.push(cn.model);
  if (job.image?.vae) out.push(job.image.vae);
  return [...new Set(out)];
}

/**
 * Why a submission cannot run for want of a model ('' when every needed model is in the store or on
 * some live agent). The message names the model and the push command. Pure.
 */
export function missingModelReason(models: readonly string[], catalog: ModelCatalog): string {
  const missing = models.filter((m) => catalog.storedBytes(m) === undefined && !catalog.heldByAnyAgent(m));
  if (!missing.length) return '';
  return `model ${missing.join(', ')} is in no agent's model cache and not in the farm's model store; ${pushHint(missing[0])}`;
}

/**
 * How well `agent` suits a shard of `model`: 0 it holds the model, 1 it can fetch it from the store
 * (a cost: bytes to move), null it cannot hold it (its cache is smaller than the model), so it must
 * never get the shard — nor does any agent that neither holds nor can fetch a model that needs
 * weights (it waits for a push). Built-in models rank 1. Pure.
 */
export function modelRank(
  agent: ModelHolder,
  model: string | undefined,
  catalog: ModelCatalog | undefined,
): number | null {
  if (!model) return 0;
  if (agent.modelsHeld?.some((h) => h.id === model)) return 0;
  const bytes = catalog?.storedBytes(model);
  const capacity = agent.modelCacheCapacityBytes ?? 0;
  if (bytes !== undefined && capacity > 0 && bytes > capacity) return null;
  if (bytes === undefined && catalog?.needsWeights?.(model)) return null;
  return 1;
}
