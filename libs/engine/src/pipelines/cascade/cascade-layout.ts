/**
 * Tessera's Stable Cascade layout (docs/model-export.md): one directory per stage, so each stage can be its own
 * shard on its own VRAM class.
 *
 *   prior   (stage C)  model_index.json `StableCascadePriorPipeline`: text_encoder/, tokenizer/, prior/, scheduler/
 *   decoder (stage B)  model_index.json `StableCascadeDecoderPipeline`: text_encoder/, tokenizer/, decoder/, scheduler/,
 *                      vqgan/ (optional: without it the decoder only returns latents)
 *   vqgan   (stage A)  model_index.json `PaellaVQModel`: vqgan/
 *
 * `classifyCascade` is pure (model_index.json → stage); `readCascadeLayout` does the I/O and returns null for a
 * directory that is not Stable Cascade (the SD loader then reads it as an Optimum SD layout).
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SdModelLayoutError } from '../sd/errors.js';

/** Which Stable Cascade stage a directory holds. */
export type CascadeStage = 'cascade-prior' | 'cascade-decoder' | 'cascade-vqgan';

/** A parsed Stable Cascade stage directory. */
export interface CascadeLayout {
  dir: string;
  stage: CascadeStage;
  /** model.onnx paths present. */
  models: { textEncoder?: string; prior?: string; decoder?: string; vqgan?: string };
  tokenizer?: string;
  schedulerConfig: Record<string, unknown>;
  /** prior/ or decoder/ config.json (empty when missing). */
  unetConfig: Record<string, unknown>;
  /** Prior: pixels per image-embedding pixel (model_index `resolution_multiple`, 42.67). */
  resolutionMultiple: number;
  /** Decoder: stage-B latent pixels per embedding pixel (model_index `latent_dim_scale`, 10.67). */
  latentDimScale: number;
  /** vqgan/config.json `scale_factor` (0.3764): stage-B latents are multiplied by it before decoding. */
  vqganScaleFactor: number;
  /** Pixels per stage-B latent pixel: up_down_scale_factor^levels (2² = 4). */
  vqganUpscale: number;
}

/** The stage of a Stable Cascade model_index.json (prefixes `ORT` / `Onnx` ignored), or null. Pure. */
export function classifyCascade(modelIndex: Readonly<Record<string, unknown>>): CascadeStage | null {
  const cls = String(modelIndex._class_name ?? '').replace(/^(ORT|Onnx)/, '');
  if (cls === 'StableCascadePriorPipeline') return 'cascade-prior';
  if (cls === 'StableCascadeDecoderPipeline') return 'cascade-decoder';
  if (cls === 'PaellaVQModel') return 'cascade-vqgan';
  return null;
}

/** Reads `dir` when it is a Stable Cascade stage directory; null otherwise (or when model_index.json is absent). */
export async function readCascadeLayout(dir: string): Promise<CascadeLayout | null> {
  const modelIndex = await readJsonIfPresent(join(dir, 'model_index.json'));
  if (!modelIndex) return null;
  const stage = classifyCascade(modelIndex);
  if (!stage) return null;
  const models: CascadeLayout['models'] = {};
  for (const [key, folder] of [
    ['textEncoder', 'text_encoder'],
    ['prior', 'prior'],
    ['decoder', 'decoder'],
    ['vqgan', 'vqgan'],
  ] as const) {
    const path = join(dir, folder, 'model.onnx');
    if (existsSync(path)) models[key] = path;
  }
  const need = (key: keyof CascadeLayout['models'], folder: string) => {
    if (!models[key]) throw new SdModelLayoutError(join(dir, folder), `the ${stage} stage needs ${folder}/model.onnx`);
  };
  if (stage === 'cascade-prior') need('prior', 'prior');
  if (stage === 'cascade-decoder') need('decoder', 'decoder');
  if (stage === 'cascade-vqgan') need('vqgan', 'vqgan');
  let tokenizer: string | undefined;
  if (stage !== 'cascade-vqgan') {
    need('textEncoder', 'text_encoder');
    tokenizer = join(dir, 'tokenizer');
    if (!existsSync(join(tokenizer, 'vocab.json')))
      throw new SdModelLayoutError(tokenizer, 'tokenizer folder (vocab.json + merges.txt) is missing');
  }
  const schedulerConfig =
    stage === 'cascade-vqgan' ? {} : await readJson(join(dir, 'scheduler', 'scheduler_config.json'));
  const unetFolder = stage === 'cascade-prior' ? 'prior' : 'decoder';
  const unetConfig = (await readJsonIfPresent(join(dir, unetFolder, 'config.json'))) ?? {};
  const vq = (await readJsonIfPresent(join(dir, 'vqgan', 'config.json'))) ?? {};
  const num = (v: unknown, d: number) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : d);
  return {
    dir,
    stage,
    models,
    tokenizer,
    schedulerConfig,
    unetConfig,
    resolutionMultiple: num(modelIndex.resolution_multiple, 42.67),
    latentDimScale: num(modelIndex.latent_dim_scale, 10.67),
    vqganScaleFactor: num(vq.scale_factor, 0.3764),
    vqganUpscale: num(vq.up_down_scale_factor, 2) ** num(vq.levels, 2),
  };
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  const v = await readJsonIfPresent(path);
  if (!v) throw new SdModelLayoutError(path, 'missing');
  return v;
}

async function readJsonIfPresent(path: string): Promise<Record<string, unknown> | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SdModelLayoutError(path, `cannot read: ${(err as Error).message}`, { cause: err });
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Record<string, unknown>;
  } catch (err) {
    throw new SdModelLayoutError(path, `invalid JSON: ${(err as Error).message}`, { cause: err });
  }
}
