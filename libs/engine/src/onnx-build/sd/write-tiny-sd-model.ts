/**
 * Writes a tiny Stable-Diffusion-family model directory in the Hugging Face Optimum ONNX layout
 * (`model_index.json`, `text_encoder/` (`_2`, `_3`), `tokenizer/` (`_2`), `unet/` or `transformer/`, `vae_encoder/`, `vae_decoder/`,
 * `scheduler/scheduler_config.json`, each sub-model as `model.onnx` + `config.json`), with the real I/O names,
 * dtypes and conditioning signatures of each family, so the pipelines run on it exactly as on a real export.
 * Weights are deterministic: the same options always give the same bytes.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildTinyDenoiser, type TinyTimestepSpec } from './tiny-denoiser.js';
import { buildTinyTextEncoder } from './tiny-text-encoder.js';
import { tinyT5TokenizerJson, tinyT5VocabSize, tinyTokenizerFiles, tinyVocabSize } from './tiny-tokenizer.js';
import { buildTinyVaeDecoder, buildTinyVaeEncoder } from './tiny-vae.js';
import { TINY_CONTROLNET_UNET_CONFIG, TINY_RESIDUALS } from '../controlnet/tiny-controlnet.js';

/** Which real model's signature the tiny model copies. */
export type TinySdFamily = 'sd15' | 'sd21' | 'sdxl-base' | 'sdxl-refiner' | 'sd3';

/** Options of writeTinySdModel. */
export interface TinySdModelOptions {
  family: TinySdFamily;
  /** fp16 I/O on every float tensor (as an fp16 export). Default false. */
  fp16?: boolean;
  /** Default image size (unet/transformer `sample_size` × 8). Default 64. */
  size?: number;
  /** sd3 only: include `text_encoder_3/` (a tiny T5) and `tokenizer_3/tokenizer.json`. Default false. */
  t5?: boolean;
  /**
   * sd15 / sdxl-base: a ControlNet-capable UNet (residual inputs, block_out_channels [4, 8], layers_per_block 1 in
   * unet/config.json; see onnx-build/controlnet/). Default false.
   */
  controlnet?: boolean;
}

/** Sizes of the tiny encoders (real: CLIP-L 768, CLIP-G 1280 / projection 1280, T5 4096). */
const CLIP_L = { dim: 8, layers: 12, projectionDim: 8 };
const CLIP_G = { dim: 12, layers: 32, projectionDim: 12 };
const SD3_JOINT_DIM = 24;
/** T5 tokens of SD3 (max_sequence_length); without text_encoder_3 diffusers pads with zeros of the CLIP length, 77. */
const SD3_T5_TOKENS = 256;
const SD3_NO_T5_TOKENS = 77;

const SD_BETAS = {
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  num_train_timesteps: 1000,
  trained_betas: null,
};

/**
 * Writes the tiny model into `dir` (created if missing) and returns `dir`. The families:
 * - sd15: StableDiffusionPipeline, CLIP `input_ids` int32, unet timestep int64 scalar, vae_encoder `latent_sample`,
 *   PNDMScheduler config (as the real SD1.5 export ships it).
 * - sd21: v-prediction DDIMScheduler, `input_ids` int64, unet timestep float [1] (older export), pad token `!`.
 * - sdxl-base: two encoders (hidden_states.0–12 and 0–32, `text_embeds`), unet `text_embeds` + `time_ids` [B, 6],
 *   vae_encoder `latent_parameters`, EulerDiscreteScheduler, force_zeros_for_empty_prompt.
 * - sdxl-refiner: StableDiffusionXLImg2ImgPipeline with only `text_encoder_2`, `time_ids` [B, 5],
 *   requires_aesthetics_score, float timestep.
 * - sd3: StableDiffusion3Pipeline, two CLIP encoders with projection, `text_encoder_3` (T5) only with `t5: true`,
 *   16-channel latents, `transformer/` with `pooled_projections` and float `timestep` [B], flow-matching scheduler.
 */
export async function writeTinySdModel(dir: string, opts: TinySdModelOptions): Promise<string> {
  const family = opts.family;
  const fp16 = opts.fp16 ?? false;
  const floatType = fp16 ? 'float16' : 'float32';
  const size = opts.size ?? 64;
  if (!Number.isInteger(size) || size < 16 || size % 16 !== 0)
    throw new RangeError(`size must be a multiple of 16, got ${size}`);
  const vocabSize = tinyVocabSize();
  const files: Record<string, Uint8Array | string> = {};
  const json = (path: string, value: unknown) => (files[path] = JSON.stringify(value, null, 2));
  const floatTimestep = (dims: (number | string)[]): TinyTimestepSpec => ({ type: fp16 ? 'float16' : 'float32', dims });

  const xl = family === 'sdxl-base' || family === 'sdxl-refiner';
  const sd3 = family === 'sd3';
  const latentChannels = sd3 ? 16 : 4;
  const vae = sd3
    ? { scaling_factor: 1.5305, shift_factor: 0.0609 }
    : xl
      ? { scaling_factor: 0.13025, shift_factor: null }
      : { scaling_factor: 0.18215, shift_factor: null };
  const vaeConfig = {
    _class_name: 'AutoencoderKL',
    in_channels: 3,
    out_channels: 3,
    latent_channels: latentChannels,
    block_out_channels: [8, 8, 8, 8],
    sample_size: size,
    ...vae,
  };
  const vaeOutput = family === 'sd15' || family === 'sd21' ? 'latent_sample' : 'latent_parameters';
  files['vae_encoder/model.onnx'] = buildTinyVaeEncoder({
    latentChannels,
    scalingFactor: vae.scaling_factor,
    output: vaeOutput,
    floatType,
    seed: 501,
  });
  files['vae_decoder/model.onnx'] = buildTinyVaeDecoder({
    latentChannels,
    scalingFactor: vae.scaling_factor,
    floatType,
    seed: 502,
  });
  json('vae_encoder/config.json', vaeConfig);
  json('vae_decoder/config.json', vaeConfig);

  const tokenizer = (folder: string, padToken: '<|endoftext|>' | '!') => {
    for (const [name, text] of Object.entries(tinyTokenizerFiles({ padToken }))) files[`${folder}/${name}`] = text;
  };
  const clip = (
    folder: string,
    enc: { dim: number; layers: number; projectionDim?: number },
    o: { hiddenStates: boolean; idsType: 'int32' | 'int64'; seed: number },
  ) => {
    files[`${folder}/model.onnx`] = buildTinyTextEncoder({
      vocabSize,
      maxLength: 77,
      dim: enc.dim,
      layers: enc.layers,
      projectionDim: enc.projectionDim,
      hiddenStates: o.hiddenStates,
      idsType: o.idsType,
      floatType,
      seed: o.seed,
    });
    json(`${folder}/config.json`, {
      architectures: [enc.projectionDim ? 'CLIPTextModelWithProjection' : 'CLIPTextModel'],
      hidden_size: enc.dim,
      num_hidden_layers: enc.layers,
      max_position_embeddings: 77,
      vocab_size: vocabSize,
      ...(enc.projectionDim ? { projection_dim: enc.projectionDim } : {}),
      output_hidden_states: o.hiddenStates,
    });
  };
  const none = [null, null];
  if (opts.controlnet && family !== 'sd15' && family !== 'sdxl-base') {
    throw new RangeError(`controlnet is for sd15 and sdxl-base, not ${family}`);
  }
  const residuals = opts.controlnet
    ? { down: TINY_RESIDUALS.down.map(([c]) => c), mid: TINY_RESIDUALS.mid[0] }
    : undefined;
  const unetConfig = (extra: Record<string, unknown>) => ({
    _class_name: 'UNet2DConditionModel',
    in_channels: 4,
    out_channels: 4,
    sample_size: size / 8,
    ...extra,
    ...(opts.controlnet ? TINY_CONTROLNET_UNET_CONFIG : {}),
  });

  let modelIndex: Record<string, unknown>;
  let scheduler: Record<string, unknown>;
  switch (family) {
    case 'sd15':
    case 'sd21': {
      const v2 = family === 'sd21';
      const textEnc = { dim: 8, layers: 2 };
      clip('text_encoder', textEnc, { hiddenStates: false, idsType: v2 ? 'int64' : 'int32', seed: v2 ? 121 : 111 });
      tokenizer('tokenizer', v2 ? '!' : '<|endoftext|>');
      files['unet/model.onnx'] = buildTinyDenoiser({
        kind: 'unet',
        latentChannels,
        sequenceLength: 77,
        contextDim: textEnc.dim,
        timestep: v2 ? floatTimestep([1]) : { type: 'int64', dims: [] },
        residuals,
        floatType,
        seed: v2 ? 122 : 112,
      });
      json('unet/config.json', unetConfig({ cross_attention_dim: textEnc.dim }));
      scheduler = v2
        ? {
            _class_name: 'DDIMScheduler',
            ...SD_BETAS,
            clip_sample: false,
            prediction_type: 'v_prediction',
            set_alpha_to_one: false,
            steps_offset: 1,
          }
        : {
            _class_name: 'PNDMScheduler',
            ...SD_BETAS,
            clip_sample: false,
            set_alpha_to_one: false,
            skip_prk_steps: true,
            steps_offset: 1,
          };
      modelIndex = {
        _class_name: v2 ? 'StableDiffusionPipeline' : 'ORTStableDiffusionPipeline',
        text_encoder: ['optimum', 'ORTModelTextEncoder'],
        tokenizer: ['transformers', 'CLIPTokenizer'],
        unet: ['optimum', 'ORTModelUnet'],
        vae_encoder: ['optimum', 'ORTModelVaeEncoder'],
        vae_decoder: ['optimum', 'ORTModelVaeDecoder'],
        scheduler: ['diffusers', scheduler._class_name],
        safety_checker: none,
        feature_extractor: none,
        requires_safety_checker: false,
      };
      break;
    }
    case 'sdxl-base':
    case 'sdxl-refiner': {
      const refiner = family === 'sdxl-refiner';
      if (!refiner) {
        // SDXL's first encoder is a plain CLIPTextModel (pooler_output, no projection).
        clip(
          'text_encoder',
          { dim: CLIP_L.dim, layers: CLIP_L.layers },
          { hiddenStates: true, idsType: 'int64', seed: 211 },
        );
        tokenizer('tokenizer', '<|endoftext|>');
      }
      clip('text_encoder_2', CLIP_G, { hiddenStates: true, idsType: 'int64', seed: 212 });
      tokenizer('tokenizer_2', '!');
      const contextDim = refiner ? CLIP_G.dim : CLIP_L.dim + CLIP_G.dim;
      const timeIds = refiner ? 5 : 6;
      files['unet/model.onnx'] = buildTinyDenoiser({
        kind: 'unet',
        latentChannels,
        sequenceLength: 77,
        contextDim,
        added: { textEmbedsDim: CLIP_G.projectionDim, timeIds },
        timestep: refiner ? floatTimestep([]) : { type: 'int64', dims: [] },
        residuals,
        floatType,
        seed: refiner ? 223 : 213,
      });
      json(
        'unet/config.json',
        unetConfig({
          cross_attention_dim: contextDim,
          addition_embed_type: 'text_time',
          addition_time_embed_dim: 256,
          projection_class_embeddings_input_dim: CLIP_G.projectionDim + 256 * timeIds,
        }),
      );
      scheduler = {
        _class_name: 'EulerDiscreteScheduler',
        ...SD_BETAS,
        interpolation_type: 'linear',
        prediction_type: 'epsilon',
        sample_max_value: 1.0,
        steps_offset: 1,
        timestep_spacing: 'leading',
        use_karras_sigmas: false,
      };
      modelIndex = {
        _class_name: refiner ? 'ORTStableDiffusionXLImg2ImgPipeline' : 'ORTStableDiffusionXLPipeline',
        text_encoder: refiner ? none : ['optimum', 'ORTModelTextEncoder'],
        text_encoder_2: ['optimum', 'ORTModelTextEncoder'],
        tokenizer: refiner ? none : ['transformers', 'CLIPTokenizer'],
        tokenizer_2: ['transformers', 'CLIPTokenizer'],
        unet: ['optimum', 'ORTModelUnet'],
        vae_encoder: ['optimum', 'ORTModelVaeEncoder'],
        vae_decoder: ['optimum', 'ORTModelVaeDecoder'],
        scheduler: ['diffusers', 'EulerDiscreteScheduler'],
        force_zeros_for_empty_prompt: !refiner,
        requires_aesthetics_score: refiner,
        add_watermarker: null,
      };
      break;
    }
    case 'sd3': {
      clip('text_encoder', CLIP_L, { hiddenStates: true, idsType: 'int64', seed: 311 });
      clip('text_encoder_2', CLIP_G, { hiddenStates: true, idsType: 'int64', seed: 312 });
      tokenizer('tokenizer', '<|endoftext|>');
      tokenizer('tokenizer_2', '!');
      const t5 = opts.t5 ?? false;
      if (t5) {
        files['text_encoder_3/model.onnx'] = buildTinyTextEncoder({
          kind: 't5',
          vocabSize: tinyT5VocabSize(),
          maxLength: SD3_T5_TOKENS,
          dim: SD3_JOINT_DIM,
          layers: 2,
          hiddenStates: false,
          idsType: 'int64',
          floatType,
          seed: 314,
        });
        json('text_encoder_3/config.json', {
          architectures: ['T5EncoderModel'],
          d_model: SD3_JOINT_DIM,
          num_layers: 2,
        });
        files['tokenizer_3/tokenizer.json'] = tinyT5TokenizerJson();
        json('tokenizer_3/tokenizer_config.json', {
          tokenizer_class: 'T5Tokenizer',
          model_max_length: 512,
          pad_token: '<pad>',
          eos_token: '</s>',
          unk_token: '<unk>',
        });
      }
      const pooledDim = CLIP_L.projectionDim + CLIP_G.projectionDim;
      files['transformer/model.onnx'] = buildTinyDenoiser({
        kind: 'sd3-transformer',
        latentChannels,
        sequenceLength: 77 + (t5 ? SD3_T5_TOKENS : SD3_NO_T5_TOKENS),
        contextDim: SD3_JOINT_DIM,
        added: { pooledDim },
        timestep: floatTimestep(['step']),
        floatType,
        seed: 313,
      });
      json('transformer/config.json', {
        _class_name: 'SD3Transformer2DModel',
        in_channels: latentChannels,
        out_channels: latentChannels,
        joint_attention_dim: SD3_JOINT_DIM,
        pooled_projection_dim: pooledDim,
        caption_projection_dim: 16,
        patch_size: 2,
        sample_size: size / 8,
      });
      scheduler = { _class_name: 'FlowMatchEulerDiscreteScheduler', num_train_timesteps: 1000, shift: 3.0 };
      modelIndex = {
        _class_name: 'ORTStableDiffusion3Pipeline',
        text_encoder: ['optimum', 'ORTModelTextEncoder'],
        text_encoder_2: ['optimum', 'ORTModelTextEncoder'],
        text_encoder_3: t5 ? ['optimum', 'ORTModelTextEncoder'] : none,
        tokenizer: ['transformers', 'CLIPTokenizer'],
        tokenizer_2: ['transformers', 'CLIPTokenizer'],
        tokenizer_3: t5 ? ['transformers', 'T5TokenizerFast'] : none,
        transformer: ['optimum', 'ORTModelTransformer'],
        vae_encoder: ['optimum', 'ORTModelVaeEncoder'],
        vae_decoder: ['optimum', 'ORTModelVaeDecoder'],
        scheduler: ['diffusers', 'FlowMatchEulerDiscreteScheduler'],
      };
      break;
    }
    default:
      throw new RangeError(`unknown tiny model family ${String(family)}`);
  }
  json('scheduler/scheduler_config.json', { ...scheduler, _diffusers_version: '0.31.0' });
  json('model_index.json', { ...modelIndex, _diffusers_version: '0.31.0' });

  for (const [path, content] of Object.entries(files).sort(([a], [b]) => a.localeCompare(b))) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return dir;
}
