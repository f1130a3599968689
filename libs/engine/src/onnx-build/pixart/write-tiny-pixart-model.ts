/**
 * Writes a tiny PixArt-α or PixArt-Σ directory in the layout docs/image-models.md documents (Optimum's folder
 * names: `model_index.json` with PixArtAlphaPipeline / PixArtSigmaPipeline, `text_encoder/` (T5
 * `last_hidden_state`), `tokenizer/tokenizer.json` (T5 Unigram), `transformer/` (+ config.json with `sample_size`,
 * `out_channels` 8), `vae_decoder/` and `scheduler/scheduler_config.json` (DPMSolverMultistepScheduler, linear betas
 * 0.0001 … 0.02, as the published PixArt configs). α uses the SD VAE (scaling 0.18215), Σ the SDXL VAE (0.13025).
 * Deterministic bytes.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildTinyTextEncoder } from '../sd/tiny-text-encoder.js';
import { tinyT5TokenizerJson, tinyT5VocabSize } from '../sd/tiny-tokenizer.js';
import { buildTinyVaeDecoder } from '../sd/tiny-vae.js';
import { buildTinyPixArtTransformer } from './tiny-pixart-transformer.js';

/** Which PixArt the tiny model copies. */
export type TinyPixArtVariant = 'alpha' | 'sigma';

/** Options of writeTinyPixArtModel. */
export interface TinyPixArtModelOptions {
  variant: TinyPixArtVariant;
  /**
   * transformer `sample_size` in latent pixels: 32 (256-px bins, the default: cheap), 64, 128 (α-1024 with the
   * resolution / aspect-ratio micro-conditions) or, for Σ, 256.
   */
  sampleSize?: 32 | 64 | 128 | 256;
  fp16?: boolean;
}

const T5_DIM = 16; // real T5-XXL: 4096 (caption_channels)

/** Writes the tiny model into `dir` (created if missing); returns `dir`. */
export async function writeTinyPixArtModel(dir: string, opts: TinyPixArtModelOptions): Promise<string> {
  const sigma = opts.variant === 'sigma';
  if (opts.variant !== 'alpha' && opts.variant !== 'sigma')
    throw new RangeError(`unknown PixArt variant ${opts.variant}`);
  const sampleSize = opts.sampleSize ?? 32;
  if (sampleSize === 256 && !sigma) throw new RangeError('sample_size 256 is PixArt-Σ only');
  const floatType = opts.fp16 ? 'float16' : 'float32';
  const files: Record<string, Uint8Array | string> = {};
  const json = (path: string, value: unknown) => (files[path] = JSON.stringify(value, null, 2));
  const scaling = sigma ? 0.13025 : 0.18215;
  files['vae_decoder/model.onnx'] = buildTinyVaeDecoder({
    latentChannels: 4,
    scalingFactor: scaling,
    floatType,
    seed: sigma ? 712 : 702,
  });
  json('vae_decoder/config.json', {
    _class_name: 'AutoencoderKL',
    latent_channels: 4,
    block_out_channels: [8, 8, 8, 8],
    scaling_factor: scaling,
  });
  files['text_encoder/model.onnx'] = buildTinyTextEncoder({
    kind: 't5',
    vocabSize: tinyT5VocabSize(),
    maxLength: sigma ? 300 : 120,
    dim: T5_DIM,
    layers: 2,
    hiddenStates: false,
    idsType: 'int64',
    floatType,
    seed: sigma ? 713 : 703,
  });
  json('text_encoder/config.json', { architectures: ['T5EncoderModel'], d_model: T5_DIM, num_layers: 2 });
  files['tokenizer/tokenizer.json'] = tinyT5TokenizerJson();
  json('tokenizer/tokenizer_config.json', { tokenizer_class: 'T5Tokenizer', model_max_length: 512 });
  const micro = !sigma && sampleSize === 128;
  files['transformer/model.onnx'] = buildTinyPixArtTransformer({
    contextDim: T5_DIM,
    microConditions: micro,
    floatType,
    seed: sigma ? 714 : 704,
  });
  json('transformer/config.json', {
    _class_name: sigma ? 'PixArtTransformer2DModel' : 'Transformer2DModel',
    in_channels: 4,
    out_channels: 8,
    caption_channels: T5_DIM,
    sample_size: sampleSize,
    patch_size: 2,
    use_additional_conditions: micro,
  });
  json('scheduler/scheduler_config.json', {
    _class_name: 'DPMSolverMultistepScheduler',
    _diffusers_version: '0.27.0',
    algorithm_type: 'dpmsolver++',
    beta_end: 0.02,
    beta_schedule: 'linear',
    beta_start: 0.0001,
    lower_order_final: true,
    num_train_timesteps: 1000,
    prediction_type: 'epsilon',
    solver_order: 2,
    solver_type: 'midpoint',
    steps_offset: 0,
    timestep_spacing: 'linspace',
    use_karras_sigmas: false,
  });
  json('model_index.json', {
    _class_name: sigma ? 'PixArtSigmaPipeline' : 'PixArtAlphaPipeline',
    _diffusers_version: '0.27.0',
    text_encoder: ['transformers', 'T5EncoderModel'],
    tokenizer: ['transformers', 'T5Tokenizer'],
    transformer: ['diffusers', sigma ? 'PixArtTransformer2DModel' : 'Transformer2DModel'],
    vae_decoder: ['optimum', 'ORTModelVaeDecoder'],
    scheduler: ['diffusers', 'DPMSolverMultistepScheduler'],
  });
  for (const [path, content] of Object.entries(files).sort(([a], [b]) => a.localeCompare(b))) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return dir;
}
