/**
 * Writes tiny Stable Cascade model directories in Tessera's Stable Cascade layout (docs/model-export.md), one per
 * stage so each stage can live on its own agent:
 *
 * - prior (stage C): diffusers' `stabilityai/stable-cascade-prior` components — `model_index.json`
 *   (StableCascadePriorPipeline), `text_encoder/` (CLIPTextModelWithProjection with hidden states), `tokenizer/`,
 *   `prior/`, `scheduler/` (DDPMWuerstchenScheduler).
 * - decoder (stage B): `stabilityai/stable-cascade` — StableCascadeDecoderPipeline, `text_encoder/`, `tokenizer/`,
 *   `decoder/`, `vqgan/`, `scheduler/`.
 * - vqgan (stage A): Tessera's one-component layout — `model_index.json` (PaellaVQModel) and `vqgan/`.
 *
 * Sizes are toy (real: CLIP-bigG 1280 wide, 32 layers; clip_img 768); names, dtypes, ranks and the 42.67 / 10.67 / 4
 * resolution factors are the real ones. Deterministic: the same options always give the same bytes.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildTinyTextEncoder } from '../sd/tiny-text-encoder.js';
import { tinyTokenizerFiles, tinyVocabSize } from '../sd/tiny-tokenizer.js';
import { buildTinyCascadeUnet, buildTinyVqganDecoder } from './tiny-cascade.js';

/** Which stage directory to write. */
export type TinyCascadeStage = 'prior' | 'decoder' | 'vqgan';

/** Options of writeTinyCascadeModel. */
export interface TinyCascadeModelOptions {
  stage: TinyCascadeStage;
  /** fp16 I/O on every float tensor (as an fp16 export). Default false. */
  fp16?: boolean;
}

const CLIP = { dim: 12, layers: 4, projectionDim: 12 };
const CLIP_IMG = 8;
const PRIOR_CHANNELS = 16;
const DECODER_CHANNELS = 4;
const VQGAN = { scale_factor: 0.3764, latent_channels: DECODER_CHANNELS, up_down_scale_factor: 2, levels: 2 };
const SCHEDULER = { _class_name: 'DDPMWuerstchenScheduler', s: 0.008, scaler: 1.0 };
const NONE = [null, null];

/** Writes one tiny Stable Cascade stage directory into `dir` (created if missing) and returns `dir`. */
export async function writeTinyCascadeModel(dir: string, opts: TinyCascadeModelOptions): Promise<string> {
  const floatType = opts.fp16 ? 'float16' : 'float32';
  const files: Record<string, Uint8Array | string> = {};
  const json = (path: string, value: unknown) => (files[path] = JSON.stringify(value, null, 2));
  const vqgan = () => {
    files['vqgan/model.onnx'] = buildTinyVqganDecoder({ latentChannels: DECODER_CHANNELS, floatType, seed: 703 });
    json('vqgan/config.json', { _class_name: 'PaellaVQModel', in_channels: 3, out_channels: 3, ...VQGAN });
  };
  const textEncoder = (seed: number) => {
    files['text_encoder/model.onnx'] = buildTinyTextEncoder({
      vocabSize: tinyVocabSize(),
      maxLength: 77,
      ...CLIP,
      hiddenStates: true,
      idsType: 'int64',
      attentionMask: true,
      floatType,
      seed,
    });
    json('text_encoder/config.json', {
      architectures: ['CLIPTextModelWithProjection'],
      hidden_size: CLIP.dim,
      num_hidden_layers: CLIP.layers,
      projection_dim: CLIP.projectionDim,
      max_position_embeddings: 77,
      vocab_size: tinyVocabSize(),
    });
    for (const [name, text] of Object.entries(tinyTokenizerFiles({ padToken: '<|endoftext|>' })))
      files[`tokenizer/${name}`] = text;
  };
  const unetConfig = (extra: Record<string, unknown>) => ({
    _class_name: 'StableCascadeUNet',
    clip_text_pooled_in_channels: CLIP.projectionDim,
    ...extra,
  });

  switch (opts.stage) {
    case 'prior':
      textEncoder(711);
      files['prior/model.onnx'] = buildTinyCascadeUnet({
        stage: 'prior',
        inChannels: PRIOR_CHANNELS,
        conds: [
          { name: 'clip_text_pooled', seqLen: 1, dim: CLIP.projectionDim },
          { name: 'clip_text', seqLen: 77, dim: CLIP.dim },
          { name: 'clip_img', seqLen: 1, dim: CLIP_IMG },
        ],
        floatType,
        seed: 712,
      });
      json(
        'prior/config.json',
        unetConfig({
          in_channels: PRIOR_CHANNELS,
          out_channels: PRIOR_CHANNELS,
          clip_text_in_channels: CLIP.dim,
          clip_image_in_channels: CLIP_IMG,
        }),
      );
      json('model_index.json', {
        _class_name: 'StableCascadePriorPipeline',
        prior: ['diffusers', 'StableCascadeUNet'],
        text_encoder: ['transformers', 'CLIPTextModelWithProjection'],
        tokenizer: ['transformers', 'CLIPTokenizer'],
        scheduler: ['diffusers', 'DDPMWuerstchenScheduler'],
        image_encoder: NONE,
        feature_extractor: NONE,
        resolution_multiple: 42.67,
      });
      break;
    case 'decoder':
      textEncoder(721);
      files['decoder/model.onnx'] = buildTinyCascadeUnet({
        stage: 'decoder',
        inChannels: DECODER_CHANNELS,
        conds: [{ name: 'clip_text_pooled', seqLen: 1, dim: CLIP.projectionDim }],
        effnetChannels: PRIOR_CHANNELS,
        floatType,
        seed: 722,
      });
      json(
        'decoder/config.json',
        unetConfig({
          in_channels: DECODER_CHANNELS,
          out_channels: DECODER_CHANNELS,
          effnet_in_channels: PRIOR_CHANNELS,
        }),
      );
      vqgan();
      json('model_index.json', {
        _class_name: 'StableCascadeDecoderPipeline',
        decoder: ['diffusers', 'StableCascadeUNet'],
        text_encoder: ['transformers', 'CLIPTextModelWithProjection'],
        tokenizer: ['transformers', 'CLIPTokenizer'],
        scheduler: ['diffusers', 'DDPMWuerstchenScheduler'],
        vqgan: ['diffusers', 'PaellaVQModel'],
        latent_dim_scale: 10.67,
      });
      break;
    case 'vqgan':
      vqgan();
      json('model_index.json', { _class_name: 'PaellaVQModel', vqgan: ['diffusers', 'PaellaVQModel'] });
      break;
    default:
      throw new RangeError(`unknown Stable Cascade stage ${String(opts.stage)}`);
  }
  if (opts.stage !== 'vqgan') json('scheduler/scheduler_config.json', { ...SCHEDULER, _diffusers_version: '0.31.0' });

  for (const [path, content] of Object.entries(files).sort(([a], [b]) => a.localeCompare(b))) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return dir;
}

/**
 * The farm's three Stable Cascade model directories under `modelsDir`: `<id>` (prior, stage C), `<id>-b` (decoder,
 * stage B) and `<id>-a` (VQGAN, stage A) — the names the coordinator gives each stage's shard. Returns the paths.
 */
export async function writeTinyCascadeModels(
  modelsDir: string,
  id = 'cascade',
  opts: { fp16?: boolean } = {},
): Promise<{ prior: string; decoder: string; vqgan: string }> {
  return {
    prior: await writeTinyCascadeModel(join(modelsDir, id), { stage: 'prior', ...opts }),
    decoder: await writeTinyCascadeModel(join(modelsDir, `${id}-b`), { stage: 'decoder', ...opts }),
    vqgan: await writeTinyCascadeModel(join(modelsDir, `${id}-a`), { stage: 'vqgan', ...opts }),
  };
}
