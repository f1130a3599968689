/**
 * Stable Cascade C → B → A in one process, as the farm runs it over three shards: the prior's image embeddings go to
 * the decoder as `latents`, the decoder's stage-B latents to the VQGAN. What `tessera-agent run txt2img` runs for a
 * prior directory, so that its bytes equal a farm job's. The decoder and VQGAN run with their own defaults (10 steps,
 * guidance 0: diffusers' decoder defaults), as the farm's later stages do.
 */
import { existsSync } from 'node:fs';
import type { OrtModelOptions } from '../../ort-session.js';
import { SdParamsError } from '../sd/errors.js';
import { loadSdPipeline, type SdPipeline } from '../sd/load-sd-pipeline.js';
import type { SdRunOptions, SdRunParams, SdRunResult } from '../sd/sd-params.js';

/** Where the later stages live and how they are seeded. */
export interface CascadeChainOptions {
  priorDir: string;
  /** Default `<priorDir>-b`. */
  decoderDir?: string;
  /** Default `<priorDir>-a`; when that does not exist, the decoder's own `vqgan/` decodes. */
  vqganDir?: string;
  /** Defaults: the prior's seed. */
  decoderSeed?: number;
  vqganSeed?: number;
  loadOptions?: OrtModelOptions;
}

/** The later-stage parameters of a Cascade job: prompt and size of the job, the stage's own defaults otherwise. */
export function laterStageParams(params: SdRunParams, seed: number | bigint | undefined): SdRunParams {
  return {
    prompt: params.prompt,
    negativePrompt: params.negativePrompt,
    width: params.width,
    height: params.height,
    seed: seed ?? params.seed,
  };
}

/** Runs the chain from an already-loaded prior; loads and closes the other stages. */
export async function runCascadeChain(
  prior: SdPipeline,
  params: SdRunParams,
  o: CascadeChainOptions,
  run: SdRunOptions = {},
): Promise<SdRunResult> {
  const decoderDir = o.decoderDir ?? `${o.priorDir}-b`;
  if (!existsSync(decoderDir))
    throw new SdParamsError(
      'decoderDir',
      `Stable Cascade needs its decoder (stage B) directory; ${decoderDir} does not exist`,
    );
  const vqganDir = o.vqganDir ?? `${o.priorDir}-a`;
  const separateA = o.vqganDir !== undefined || existsSync(vqganDir);
  const c = await prior.run({ ...params, outputType: 'latent' }, run);
  if (!('latents' in c)) throw new SdParamsError('outputType', 'the prior returned no embeddings');
  const opened: SdPipeline[] = [];
  try {
    const decoder = await loadSdPipeline(decoderDir, o.loadOptions);
    opened.push(decoder);
    const b = await decoder.run(
      { ...laterStageParams(params, o.decoderSeed), latents: c.latents, outputType: separateA ? 'latent' : 'image' },
      { signal: run.signal },
    );
    if (!separateA || !('latents' in b)) return b;
    const vqgan = await loadSdPipeline(vqganDir, o.loadOptions);
    opened.push(vqgan);
    return await vqgan.run({ ...laterStageParams(params, o.vqganSeed), latents: b.latents }, { signal: run.signal });
  } finally {
    await Promise.allSettled(opened.map((p) => p.close()));
  }
}
