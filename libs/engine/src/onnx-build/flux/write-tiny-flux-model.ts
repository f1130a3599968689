/**
 * Writes a tiny FLUX.1 [schnell] or [dev] directory in the Optimum ONNX layout that `optimum-cli export onnx
 * --model black-forest-labs/FLUX.1-schnell` produces: `model_index.json` (FluxPipeline), `text_encoder/` (CLIP-L,
 * `pooler_output`), `tokenizer/` (CLIP BPE), `text_encoder_2/` (T5 `last_hidden_state`), `tokenizer_2/tokenizer.json`
 * (T5 Unigram), `transformer/` (FluxTransformerOnnxConfig I/O, `guidance` for dev), `vae_encoder/` + `vae_decoder/`
 * (16 latent channels, scaling 0.3611, shift 0.1159) and `scheduler/scheduler_config.json`
 * (FlowMatchEulerDiscreteScheduler: schnell shift 1 without dynamic shifting; dev use_dynamic_shifting with base/max
 * shift 0.5 / 1.15 over 256 … 4096 tokens, as the published configs). Deterministic bytes.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildTinyTextEncoder } from '../sd/tiny-text-encoder.js';
import { tinyT5TokenizerJson, tinyT5VocabSize, tinyTokenizerFiles, tinyVocabSize } from '../sd/tiny-tokenizer.js';
import { buildTinyVaeDecoder, buildTinyVaeEncoder } from '../sd/tiny-vae.js';
import { buildTinyFluxTransformer } from './tiny-flux-transformer.js';

/** Which FLUX.1 variant the tiny model copies. */
export type TinyFluxVariant = 'schnell' | 'dev';

/** Options of writeTinyFluxModel. */
export interface TinyFluxModelOptions {
  variant: TinyFluxVariant;
  /** fp16 I/O on every float tensor. Default false. */
  fp16?: boolean;
}

const CLIP_DIM = 8; // real CLIP-L: 768 (pooled_projection_dim)
const T5_DIM = 16; // real T5-XXL: 4096 (joint_attention_dim)
const VAE = { scaling_factor: 0.3611, shift_factor: 0.1159 };

/** Writes the tiny model into `dir` (created if missing); returns `dir`. */
export async function writeTinyFluxModel(dir: string, opts: TinyFluxModelOptions): Promise<string> {
  const dev = opts.variant === 'dev';
  if (opts.variant !== 'dev' && opts.variant !== 'schnell')
    throw new RangeError(`unknown Flux variant ${opts.variant}`);
  const floatType = opts.fp16 ? 'float16' : 'float32';
  const t5Tokens = dev ? 512 : 256;
  const files: Record<string, Uint8Array | string> = {};
  const json = (path: string, value: unknown) => (files[path] = JSON.stringify(value, null, 2));
  const vaeConfig = {
    _class_name: 'AutoencoderKL',
    in_channels: 3,
    out_channels: 3,
    latent_channels: 16,
    block_out_channels: [8, 8, 8, 8],
    use_quant_conv: false,
    use_post_quant_conv: false,
    ...VAE,
  };
  files['vae_encoder/model.onnx'] = buildTinyVaeEncoder({
    latentChannels: 16,
    scalingFactor: VAE.scaling_factor,
    output: 'latent_parameters',
    floatType,
    seed: dev ? 611 : 601,
  });
  files['vae_decoder/model.onnx'] = buildTinyVaeDecoder({
    latentChannels: 16,
    scalingFactor: VAE.scaling_factor,
    floatType,
    seed: dev ? 612 : 602,
  });
  json('vae_encoder/config.json', vaeConfig);
  json('vae_decoder/config.json', vaeConfig);

  files['text_encoder/model.onnx'] = buildTinyTextEncoder({
    vocabSize: tinyVocabSize(),
    maxLength: 77,
    dim: CLIP_DIM,
    layers: 2,
    hiddenStates: false,
    idsType: 'int32',
    floatType,
    seed: dev ? 613 : 603,
  });
  json('text_encoder/config.json', { architectures: ['CLIPTextModel'], hidden_size: CLIP_DIM, num_hidden_layers: 2 });
  for (const [name, text] of Object.entries(tinyTokenizerFiles({ padToken: '<|endoftext|>' })))
    files[`tokenizer/${name}`] = text;

  files['text_encoder_2/model.onnx'] = buildTinyTextEncoder({
    kind: 't5',
    vocabSize: tinyT5VocabSize(),
    maxLength: t5Tokens,
    dim: T5_DIM,
    layers: 2,
    hiddenStates: false,
    idsType: 'int64',
    floatType,
    seed: dev ? 614 : 604,
  });
  json('text_encoder_2/config.json', { architectures: ['T5EncoderModel'], d_model: T5_DIM, num_layers: 2 });
  files['tokenizer_2/tokenizer.json'] = tinyT5TokenizerJson();
  json('tokenizer_2/tokenizer_config.json', {
    tokenizer_class: 'T5Tokenizer',
    model_max_length: 512,
    pad_token: '<pad>',
    eos_token: '</s>',
    unk_token: '<unk>',
  });

  files['transformer/model.onnx'] = buildTinyFluxTransformer({
    latentChannels: 16,
    contextDim: T5_DIM,
    pooledDim: CLIP_DIM,
    guidanceEmbeds: dev,
    floatType,
    seed: dev ? 615 : 605,
  });
  json('transformer/config.json', {
    _class_name: 'FluxTransformer2DModel',
    in_channels: 64,
    out_channels: null,
    patch_size: 1,
    joint_attention_dim: T5_DIM,
    pooled_projection_dim: CLIP_DIM,
    guidance_embeds: dev,
    axes_dims_rope: [16, 56, 56],
    // Not in the real config (diffusers then uses 128 × 8 = 1024 px); here it makes 64 px the tiny default.
    sample_size: 8,
  });
  const scheduler = dev
    ? {
        _class_name: 'FlowMatchEulerDiscreteScheduler',
        num_train_timesteps: 1000,
        shift: 3.0,
        use_dynamic_shifting: true,
        base_shift: 0.5,
        max_shift: 1.15,
        base_image_seq_len: 256,
        max_image_seq_len: 4096,
      }
    : {
        _class_name: 'FlowMatchEulerDiscreteScheduler',
        num_train_timesteps: 1000,
        shift: 1.0,
        use_dynamic_shifting: false,
        base_shift: 0.5,
        max_shift: 1.15,
        base_image_seq_len: 256,
        max_image_seq_len: 4096,
      };
  json('scheduler/scheduler_config.json', { ...scheduler, _diffusers_version: '0.30.0' });
  json('model_index.json', {
    _class_name: 'ORTFluxPipeline',
    _diffusers_version: '0.30.0',
    text_encoder: ['optimum', 'ORTModelTextEncoder'],
    text_encoder_2: ['optimum', 'ORTModelTextEncoder'],
    tokenizer: ['transformers', 'CLIPTokenizer'],
    tokenizer_2: ['transformers', 'T5TokenizerFast'],
    transformer: ['optimum', 'ORTModelTransformer'],
    vae_encoder: ['optimum', 'ORTModelVaeEncoder'],
    vae_decoder: ['optimum', 'ORTModelVaeDecoder'],
    scheduler: ['diffusers', 'FlowMatchEulerDiscreteScheduler'],
  });

  for (const [path, content] of Object.entries(files).sort(([a], [b]) => a.localeCompare(b))) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return dir;
}
