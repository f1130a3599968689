/**
 * Reads a Stable-Diffusion-family model directory in the Hugging Face Optimum ONNX layout:
 *
 *   model_index.json                      pipeline class + components (`[library, class]`, `[null, null]` = absent)
 *   text_encoder/ text_encoder_2/ text_encoder_3/   model.onnx (+ config.json)
 *   tokenizer/ tokenizer_2/ tokenizer_3/  vocab.json + merges.txt (CLIP); tokenizer_3 is T5's
 *   unet/ or transformer/                 model.onnx (+ config.json: sample_size, joint_attention_dim, patch_size)
 *   vae_encoder/ vae_decoder/             model.onnx + config.json (scaling_factor, shift_factor, latent_channels)
 *   scheduler/scheduler_config.json       diffusers scheduler config (`_class_name`)
 *
 * `classifySdPipeline` is pure (model_index.json + which folders exist → family); `readOptimumLayout` does the I/O.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SdModelLayoutError } from './errors.js';

/**
 * Which pipeline runs a model: `sd` = StableDiffusionPipeline (SD 1.x / 2.x, epsilon or v-prediction),
 * `sdxl` = StableDiffusionXLPipeline (base), `sdxl-refiner` = StableDiffusionXLImg2ImgPipeline with
 * aesthetic-score conditioning, `sd3` = StableDiffusion3Pipeline, `flux` = FluxPipeline (pipelines/flux/),
 * `pixart` = PixArtAlphaPipeline / PixArtSigmaPipeline (pipelines/pixart/).
 */
export type SdFamily = 'sd' | 'sdxl' | 'sdxl-refiner' | 'sd3' | 'flux' | 'pixart';

/** Families whose denoiser is `transformer/` (the others have `unet/`). */
export function usesTransformer(family: SdFamily): boolean {
  return family === 'sd3' || family === 'flux' || family === 'pixart';
}

/** The VAE settings the pipelines need, from vae_decoder/config.json (or vae_encoder/config.json). */
export interface SdVaeConfig {
  /** 0.18215 SD 1.x/2.x, 0.13025 SDXL, 1.5305 SD3. */
  scalingFactor: number;
  /** SD3: 0.0609; null elsewhere. */
  shiftFactor: number | null;
  /** Per-channel latent statistics some SDXL-class VAEs declare (`latents_mean` / `latents_std`); null when absent. */
  latentsMean: number[] | null;
  latentsStd: number[] | null;
  latentChannels: number;
  /** Pixels per latent pixel: 2^(len(block_out_channels) − 1), 8 for every SD VAE. */
  scaleFactor: number;
}

/** A parsed Optimum SD directory: paths of the sub-models present and the configs the pipelines read. */
export interface OptimumSdLayout {
  dir: string;
  /** `_class_name` of model_index.json as written (e.g. `ORTStableDiffusionXLPipeline`). */
  pipelineClass: string;
  family: SdFamily;
  /** Paths of `model.onnx` files present; absent components are undefined. */
  models: {
    textEncoder?: string;
    textEncoder2?: string;
    textEncoder3?: string;
    unet?: string;
    transformer?: string;
    vaeEncoder?: string;
    vaeDecoder: string;
  };
  /** Tokenizer folders present. */
  tokenizers: { tokenizer?: string; tokenizer2?: string; tokenizer3?: string };
  schedulerConfig: Record<string, unknown>;
  vae: SdVaeConfig;
  /** unet/config.json or transformer/config.json (empty object when missing). */
  denoiserConfig: Record<string, unknown>;
  /** SDXL: encode a missing negative prompt as zeros (model_index `force_zeros_for_empty_prompt`). */
  forceZerosForEmptyPrompt: boolean;
  /** SDXL refiner: time_ids carry an aesthetic score (model_index `requires_aesthetics_score`). */
  requiresAestheticsScore: boolean;
}

const SUBFOLDERS = {
  textEncoder: 'text_encoder',
  textEncoder2: 'text_encoder_2',
  textEncoder3: 'text_encoder_3',
  unet: 'unet',
  transformer: 'transformer',
  vaeEncoder: 'vae_encoder',
  vaeDecoder: 'vae_decoder',
} as const;

/**
 * The family of a pipeline from its model_index.json class name (prefixes `ORT` / `Onnx` ignored) and, for
 * unknown or generic names, from the components present. SDXL img2img checkpoints are refiners when they ask
 * for aesthetic scores (the refiner ships `requires_aesthetics_score: true` and no `text_encoder`).
 * Returns null when nothing fits.
 */
export function classifySdPipeline(
  modelIndex: Readonly<Record<string, unknown>>,
  present: ReadonlySet<string>,
): SdFamily | null {
  const cls = String(modelIndex._class_name ?? '').replace(/^(ORT|Onnx)/, '');
  const aesthetic = modelIndex.requires_aesthetics_score === true;
  if (/^StableDiffusion3/.test(cls)) return 'sd3';
  if (/^Flux(Pipeline|Img2ImgPipeline)$/.test(cls)) return 'flux';
  if (/^PixArt(Alpha|Sigma)Pipeline$/.test(cls)) return 'pixart';
  if (/^StableDiffusionXL/.test(cls)) {
    if (aesthetic || (!present.has('text_encoder') && present.has('text_encoder_2'))) return 'sdxl-refiner';
    return 'sdxl';
  }
  if (/^StableDiffusion(Pipeline|Img2ImgPipeline)$/.test(cls)) return 'sd';
  // Unknown class name: decide by components.
  if (present.has('transformer') && present.has('text_encoder_2')) return 'sd3';
  if (present.has('unet') && present.has('text_encoder_2')) {
    return aesthetic || !present.has('text_encoder') ? 'sdxl-refiner' : 'sdxl';
  }
  if (present.has('unet') && present.has('text_encoder') && !cls) return 'sd';
  return null;
}

/** Reads and checks `dir`. Throws SdModelLayoutError naming the missing or malformed file. */
export async function readOptimumLayout(dir: string): Promise<OptimumSdLayout> {
  const modelIndex = await readJson(join(dir, 'model_index.json'));
  const listed = (key: string) => {
    const v = modelIndex[key];
    return !(Array.isArray(v) && v.every((x) => x === null)) && v !== null;
  };
  const models: Partial<Record<keyof typeof SUBFOLDERS, string>> = {};
  const present = new Set<string>();
  for (const [key, folder] of Object.entries(SUBFOLDERS) as [keyof typeof SUBFOLDERS, string][]) {
    const path = join(dir, folder, 'model.onnx');
    if (existsSync(path)) {
      models[key] = path;
      present.add(folder);
    } else if (folder in modelIndex && listed(folder)) {
      throw new SdModelLayoutError(path, `model_index.json lists ${folder} but its model.onnx is missing`);
    }
  }
  const family = classifySdPipeline(modelIndex, present);
  if (!family) {
    throw new SdModelLayoutError(
      join(dir, 'model_index.json'),
      `unsupported pipeline '${String(modelIndex._class_name)}' (want StableDiffusion, StableDiffusionXL, StableDiffusionXLImg2Img, StableDiffusion3, Flux, PixArtAlpha or PixArtSigma)`,
    );
  }
  const need = (key: keyof typeof SUBFOLDERS) => {
    if (!models[key])
      throw new SdModelLayoutError(
        join(dir, SUBFOLDERS[key]),
        `the ${family} pipeline needs ${SUBFOLDERS[key]}/model.onnx`,
      );
  };
  need('vaeDecoder');
  if (family === 'pixart') ['transformer', 'textEncoder'].forEach((k) => need(k as keyof typeof SUBFOLDERS));
  else if (usesTransformer(family))
    ['transformer', 'textEncoder', 'textEncoder2'].forEach((k) => need(k as keyof typeof SUBFOLDERS));
  else need('unet');
  if (family === 'sd' || family === 'sdxl') need('textEncoder');
  if (family === 'sdxl' || family === 'sdxl-refiner') need('textEncoder2');

  const tokenizers: OptimumSdLayout['tokenizers'] = {};
  for (const [key, folder] of [
    ['tokenizer', 'tokenizer'],
    ['tokenizer2', 'tokenizer_2'],
    ['tokenizer3', 'tokenizer_3'],
  ] as const) {
    const path = join(dir, folder);
    if (
      existsSync(join(path, 'vocab.json')) ||
      existsSync(join(path, 'tokenizer.json')) ||
      existsSync(join(path, 'spiece.model'))
    ) {
      tokenizers[key] = path;
    }
  }
  for (const [model, tok, folder] of [
    [models.textEncoder, tokenizers.tokenizer, 'tokenizer'],
    [models.textEncoder2, tokenizers.tokenizer2, 'tokenizer_2'],
  ] as const) {
    if (model && !tok)
      throw new SdModelLayoutError(join(dir, folder), 'tokenizer folder (vocab.json + merges.txt) is missing');
  }

  const schedulerConfig = await readJson(join(dir, 'scheduler', 'scheduler_config.json'));
  const vaeConfig =
    (await readJsonIfPresent(join(dir, 'vae_decoder', 'config.json'))) ??
    (await readJsonIfPresent(join(dir, 'vae_encoder', 'config.json'))) ??
    {};
  const denoiserConfig =
    (await readJsonIfPresent(join(dir, usesTransformer(family) ? 'transformer' : 'unet', 'config.json'))) ?? {};

  return {
    dir,
    pipelineClass: String(modelIndex._class_name ?? ''),
    family,
    models: models as OptimumSdLayout['models'],
    tokenizers,
    schedulerConfig,
    vae: parseVaeConfig(vaeConfig, family),
    denoiserConfig,
    forceZerosForEmptyPrompt:
      family === 'sdxl'
        ? modelIndex.force_zeros_for_empty_prompt !== false
        : modelIndex.force_zeros_for_empty_prompt === true,
    requiresAestheticsScore: family === 'sdxl-refiner',
  };
}

/** The VAE settings from a diffusers AutoencoderKL config, with each family's published defaults when a key is missing. */
export function parseVaeConfig(raw: Readonly<Record<string, unknown>>, family: SdFamily): SdVaeConfig {
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const nums = (v: unknown) => (Array.isArray(v) && v.every((x) => typeof x === 'number') ? (v as number[]) : null);
  const defaults = {
    sd: { scalingFactor: 0.18215, shiftFactor: null, latentChannels: 4 },
    sdxl: { scalingFactor: 0.13025, shiftFactor: null, latentChannels: 4 },
    'sdxl-refiner': { scalingFactor: 0.13025, shiftFactor: null, latentChannels: 4 },
    sd3: { scalingFactor: 1.5305, shiftFactor: 0.0609, latentChannels: 16 },
    flux: { scalingFactor: 0.3611, shiftFactor: 0.1159, latentChannels: 16 },
    pixart: { scalingFactor: 0.18215, shiftFactor: null, latentChannels: 4 },
  }[family];
  const blocks = nums(raw.block_out_channels);
  return {
    scalingFactor: num(raw.scaling_factor) ?? defaults.scalingFactor,
    shiftFactor: 'shift_factor' in raw ? num(raw.shift_factor) : defaults.shiftFactor,
    latentsMean: nums(raw.latents_mean),
    latentsStd: nums(raw.latents_std),
    latentChannels: num(raw.latent_channels) ?? defaults.latentChannels,
    scaleFactor: blocks ? 2 ** (blocks.length - 1) : 8,
  };
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  const value = await readJsonIfPresent(path);
  if (!value) throw new SdModelLayoutError(path, 'missing (not an Optimum ONNX Stable Diffusion directory?)');
  return value;
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
    const value = JSON.parse(text) as unknown;
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new Error('not a JSON object');
    return value as Record<string, unknown>;
  } catch (err) {
    throw new SdModelLayoutError(path, `invalid JSON: ${(err as Error).message}`, { cause: err });
  }
}
