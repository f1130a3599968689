/**
 * Writes a tiny Hunyuan-DiT v1.2 model directory in Tessera's Hunyuan-DiT layout (docs/model-export.md): the
 * diffusers `HunyuanDiT-v1.2-Diffusers` folders with each sub-model as ONNX —
 * `model_index.json` (HunyuanDiTPipeline), `text_encoder/` (BertModel) + `tokenizer/` (vocab.txt),
 * `text_encoder_2/` (mT5 encoder) + `tokenizer_2/` (tokenizer.json), `transformer/` (Tencent's v1.2 export
 * signature), `vae_decoder/`, `scheduler/` (DDPMScheduler, v-prediction). Sizes are toy (real: BERT 1024, mT5 2048,
 * head_dim 88); names, dtypes and ranks are the real ones. Deterministic.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tinyT5TokenizerJson, tinyT5VocabSize } from '../sd/tiny-tokenizer.js';
import { buildTinyTextEncoder } from '../sd/tiny-text-encoder.js';
import { buildTinyVaeDecoder } from '../sd/tiny-vae.js';
import { buildTinyBert, buildTinyHunyuanDit } from './tiny-hunyuan.js';

/** Options of writeTinyHunyuanModel. */
export interface TinyHunyuanModelOptions {
  /** fp16 I/O on the float tensors of the encoders, transformer and VAE (the rotary tables stay float32). */
  fp16?: boolean;
  /** '1.1': the transformer also takes `image_meta_size` and `style` (v1.0 / v1.1 exports). Default '1.2'. */
  version?: '1.1' | '1.2';
}

const BERT_DIM = 12;
const T5_DIM = 16;
const HEAD_DIM = 8;
const NONE = [null, null];

/** The tiny BERT vocabulary: specials, a few English words, Chinese characters, letters with ## forms, punctuation. */
export function tinyBertVocab(): string[] {
  const words = ['a', 'photo', 'of', 'cat', 'dog', 'red', 'blue', 'astronaut', 'riding', 'horse', 'painting', 'blurry'];
  const cjk = Array.from('一个宇航员在骑马猫狗红色蓝的画');
  const letters = Array.from('abcdefghijklmnopqrstuvwxyz0123456789');
  return [
    '[PAD]',
    '[UNK]',
    '[CLS]',
    '[SEP]',
    '[MASK]',
    ...words.filter((w) => w.length > 1),
    ...cjk,
    ...letters,
    ...letters.map((c) => `##${c}`),
    ...Array.from(',.!?，。'),
  ];
}

/** Writes the tiny model into `dir` (created if missing) and returns `dir`. */
export async function writeTinyHunyuanModel(dir: string, opts: TinyHunyuanModelOptions = {}): Promise<string> {
  const floatType = opts.fp16 ? 'float16' : 'float32';
  const files: Record<string, Uint8Array | string> = {};
  const json = (path: string, value: unknown) => (files[path] = JSON.stringify(value, null, 2));
  const vocab = tinyBertVocab();

  files['text_encoder/model.onnx'] = buildTinyBert({
    vocabSize: vocab.length,
    maxLength: 77,
    dim: BERT_DIM,
    layers: 3,
    floatType,
    seed: 811,
  });
  json('text_encoder/config.json', {
    architectures: ['BertModel'],
    hidden_size: BERT_DIM,
    num_hidden_layers: 3,
    vocab_size: vocab.length,
  });
  files['tokenizer/vocab.txt'] = `${vocab.join('\n')}\n`;
  json('tokenizer/tokenizer_config.json', {
    tokenizer_class: 'BertTokenizer',
    do_lower_case: true,
    model_max_length: 77,
  });

  files['text_encoder_2/model.onnx'] = buildTinyTextEncoder({
    kind: 't5',
    vocabSize: tinyT5VocabSize(),
    maxLength: 256,
    dim: T5_DIM,
    layers: 2,
    hiddenStates: false,
    idsType: 'int64',
    floatType,
    seed: 812,
  });
  json('text_encoder_2/config.json', { architectures: ['T5EncoderModel'], d_model: T5_DIM, num_layers: 2 });
  files['tokenizer_2/tokenizer.json'] = tinyT5TokenizerJson();
  json('tokenizer_2/tokenizer_config.json', { tokenizer_class: 'MT5Tokenizer', model_max_length: 256 });

  files['transformer/model.onnx'] = buildTinyHunyuanDit({
    clipDim: BERT_DIM,
    clipLength: 77,
    t5Dim: T5_DIM,
    t5Length: 256,
    headDim: HEAD_DIM,
    patchSize: 2,
    sizeStyle: opts.version === '1.1',
    floatType,
    seed: 813,
  });
  json('transformer/config.json', {
    _class_name: 'HunyuanDiT2DModel',
    in_channels: 4,
    learn_sigma: true,
    patch_size: 2,
    num_attention_heads: 2,
    attention_head_dim: HEAD_DIM,
    hidden_size: 2 * HEAD_DIM,
    cross_attention_dim: BERT_DIM,
    cross_attention_dim_t5: T5_DIM,
    text_len: 77,
    text_len_t5: 256,
    sample_size: 128,
    use_style_cond_and_image_meta_size: opts.version === '1.1',
  });

  files['vae_decoder/model.onnx'] = buildTinyVaeDecoder({
    latentChannels: 4,
    scalingFactor: 0.13025,
    floatType,
    seed: 814,
  });
  json('vae_decoder/config.json', {
    _class_name: 'AutoencoderKL',
    latent_channels: 4,
    block_out_channels: [8, 8, 8, 8],
    scaling_factor: 0.13025,
  });
  json('scheduler/scheduler_config.json', {
    _class_name: 'DDPMScheduler',
    beta_start: 0.00085,
    beta_end: 0.018,
    beta_schedule: 'scaled_linear',
    clip_sample: false,
    num_train_timesteps: 1000,
    prediction_type: 'v_prediction',
    steps_offset: 1,
    timestep_spacing: 'leading',
    trained_betas: null,
    variance_type: 'fixed_small',
    _diffusers_version: '0.31.0',
  });
  json('model_index.json', {
    _class_name: 'HunyuanDiTPipeline',
    text_encoder: ['transformers', 'BertModel'],
    tokenizer: ['transformers', 'BertTokenizer'],
    text_encoder_2: ['transformers', 'T5EncoderModel'],
    tokenizer_2: ['transformers', 'MT5Tokenizer'],
    transformer: ['diffusers', 'HunyuanDiT2DModel'],
    vae_decoder: ['diffusers', 'AutoencoderKL'],
    scheduler: ['diffusers', 'DDPMScheduler'],
    safety_checker: NONE,
    feature_extractor: NONE,
    _diffusers_version: '0.31.0',
  });

  for (const [path, content] of Object.entries(files).sort(([a], [b]) => a.localeCompare(b))) {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), content);
  }
  return dir;
}
