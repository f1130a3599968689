/**
 * Tiny stand-ins for the four ONNX sub-models of an SVD / SVD-XT export (see docs/svd-models.md): the same
 * input/output names, ranks, element types and dynamic dims as the real exports, a few cheap ops with seeded
 * weights inside. Every output depends on every input, so a test can detect wrong wiring; the VAE decoder is
 * frame-local (each frame decodes alone), so the decode chunk size cannot change its result — unlike the real
 * temporal decoder, whose time_conv_out mixes neighbouring frames inside a chunk.
 *
 * fp16 variants declare float16 inputs/outputs (raw bits on the wire, as real fp16 exports) and compute in
 * float32 between a Cast in and a Cast out: onnxruntime's CPU EP has no float16 kernels for most of these ops.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { a, GraphBuilder, WeightRng, type TinyDim, type TinyElementType } from './graph.js';

/** Options shared by the tiny SVD builders. */
export interface TinySvdOptions {
  /** float16 I/O for every float input and output (default false: float32). */
  fp16?: boolean;
  /**
   * The UNet's `timestep` input: element type (default float16 for fp16 models, else float32) and dims:
   * `[]` a scalar (default, what torch.onnx.export of a 0-d tensor gives), `[1]`, or `['batch']`.
   */
  timestep?: { type?: TinyElementType; dims?: [] | [1] | ['batch'] };
  /** Weight seed (default 1234). Different seeds give different (equally valid) models. */
  seed?: number;
}

/** Width of the CLIP image embedding (ViT-H/14 projection) and of the UNet's cross-attention context. */
export const SVD_EMBED_DIM = 1024;
/** CLIP input size. */
export const SVD_CLIP_SIZE = 224;

const floatType = (o: TinySvdOptions): TinyElementType => (o.fp16 ? 'float16' : 'float32');
const fanScale = (fanIn: number, gain = 1): number => gain * Math.sqrt(3 / fanIn);

/**
 * image_encoder: `pixel_values` [batch,3,224,224] → `image_embeds` [batch,1024].
 * Patchify conv (32×32, stride 32) → flatten → Gemm.
 */
export function buildTinyImageEncoder(opts: TinySvdOptions = {}): Uint8Array {
  const T = floatType(opts);
  const rng = new WeightRng((opts.seed ?? 1234) + 1);
  const g = new GraphBuilder('tiny_svd_image_encoder');
  const x = g.toFloat(g.input('pixel_values', T, ['batch', 3, SVD_CLIP_SIZE, SVD_CLIP_SIZE]));
  const w = g.floats('patch_W', [4, 3, 32, 32], rng.uniform(4 * 3 * 32 * 32, fanScale(3 * 32 * 32)));
  const b = g.floats('patch_B', [4], rng.uniform(4, 0.1));
  const patches = g.op('Conv', [x, w, b], [a.ints('kernel_shape', [32, 32]), a.ints('strides', [32, 32])]);
  const flat = g.op('Flatten', [patches], [a.int('axis', 1)]);
  const pw = g.floats('proj_W', [4 * 7 * 7, SVD_EMBED_DIM], rng.uniform(4 * 49 * SVD_EMBED_DIM, fanScale(4 * 49)));
  const pb = g.floats('proj_B', [SVD_EMBED_DIM], rng.uniform(SVD_EMBED_DIM, 0.1));
  g.emit(g.op('Gemm', [flat, pw, pb]), 'image_embeds', T);
  g.output('image_embeds', T, ['batch', SVD_EMBED_DIM]);
  return g.encode('tiny CLIPVisionModelWithProjection stand-in (Tessera tests)');
}

/**
 * vae_encoder: `sample` [batch,3,height,width] in [−1, 1] → `latent_sample` [batch,4,height/8,width/8]
 * (the latent distribution's mode). One 8×8 stride-8 conv.
 */
export function buildTinyVaeEncoder(opts: TinySvdOptions = {}): Uint8Array {
  const T = floatType(opts);
  const rng = new WeightRng((opts.seed ?? 1234) + 2);
  const g = new GraphBuilder('tiny_svd_vae_encoder');
  const x = g.toFloat(g.input('sample', T, ['batch', 3, 'height', 'width']));
  const w = g.floats('enc_W', [4, 3, 8, 8], rng.uniform(4 * 3 * 64, fanScale(3 * 64, 2)));
  const b = g.floats('enc_B', [4], rng.uniform(4, 0.2));
  g.emit(g.op('Conv', [x, w, b], [a.ints('kernel_shape', [8, 8]), a.ints('strides', [8, 8])]), 'latent_sample', T);
  g.output('latent_sample', T, ['batch', 4, 'latent_height', 'latent_width']);
  return g.encode('tiny AutoencoderKLTemporalDecoder encoder stand-in, returns the latent mode (Tessera tests)');
}

/**
 * unet: `sample` [batch,frames,8,h,w], `timestep` (see TinySvdOptions), `encoder_hidden_states` [batch,1,1024],
 * `added_time_ids` [batch,3] → `out_sample` [batch,frames,4,h,w].
 * Per-frame 3×3 conv over the 8 channels, a temporal mean mixed back in (frames see each other, as in the
 * real spatio-temporal UNet), plus a per-item conditioning vector from the embedding, the time ids and the
 * timestep; tanh keeps the output bounded like a v-prediction.
 */
export function buildTinyUnet(opts: TinySvdOptions = {}): Uint8Array {
  const T = floatType(opts);
  const tsType = opts.timestep?.type ?? T;
  const tsDims: TinyDim[] = opts.timestep?.dims ?? [];
  const rng = new WeightRng((opts.seed ?? 1234) + 3);
  const g = new GraphBuilder('tiny_svd_unet');
  const sample = g.toFloat(g.input('sample', T, ['batch', 'frames', 8, 'height', 'width']));
  const timestep = g.toFloat(g.input('timestep', tsType, tsDims));
  const ehs = g.toFloat(g.input('encoder_hidden_states', T, ['batch', 1, SVD_EMBED_DIM]));
  const ids = g.toFloat(g.input('added_time_ids', T, ['batch', 3]));

  // [B,F,8,h,w] → [B·F,8,h,w] → conv → [B,F,4,h,w]
  const shape = g.op('Shape', [sample]);
  const bf = g.op('Slice', [shape, g.int64s('s0', [0]), g.int64s('e2', [2])]);
  const hw = g.op('Slice', [shape, g.int64s('s3', [3]), g.int64s('e5', [5])]);
  const flat = g.op('Reshape', [sample, g.op('Concat', [g.int64s('m1c8', [-1, 8]), hw], [a.int('axis', 0)])]);
  const w = g.floats('conv_W', [4, 8, 3, 3], rng.uniform(4 * 8 * 9, fanScale(8 * 9, 0.8)));
  const b = g.floats('conv_B', [4], rng.uniform(4, 0.1));
  const conv = g.op('Conv', [flat, w, b], [a.ints('kernel_shape', [3, 3]), a.ints('pads', [1, 1, 1, 1])]);
  const frames = g.op('Reshape', [conv, g.op('Concat', [bf, g.int64s('c4', [4]), hw], [a.int('axis', 0)])]);
  const temporal = g.op('ReduceMean', [frames], [a.ints('axes', [1]), a.int('keepdims', 1)]);
  const mixed = g.op('Add', [frames, g.op('Mul', [temporal, g.floats('mix', [], [0.25])])]);

  // conditioning: [B,4] from the image embedding, the added time ids and the timestep
  const emb = g.op('Reshape', [ehs, g.int64s('m1e', [-1, SVD_EMBED_DIM])]);
  const cEmb = g.op('MatMul', [
    emb,
    g.floats('emb_W', [SVD_EMBED_DIM, 4], rng.uniform(SVD_EMBED_DIM * 4, fanScale(SVD_EMBED_DIM, 0.5))),
  ]);
  const idsScaled = g.op('Mul', [ids, g.floats('ids_scale', [3], [1 / 8, 1 / 128, 8])]);
  const cIds = g.op('MatMul', [idsScaled, g.floats('ids_W', [3, 4], rng.uniform(12, 0.6))]);
  const t2 = g.op('Reshape', [timestep, g.int64s('m11', [-1, 1])]);
  const cT = g.op('MatMul', [t2, g.floats('t_W', [1, 4], rng.uniform(4, 0.6))]);
  const cond = g.op('Add', [g.op('Add', [cEmb, cIds]), cT]);
  const cond5 = g.op('Reshape', [cond, g.int64s('m1_1_4_1_1', [-1, 1, 4, 1, 1])]);

  g.emit(g.op('Tanh', [g.op('Add', [mixed, cond5])]), 'out_sample', T);
  g.output('out_sample', T, ['batch', 'frames', 4, 'height', 'width']);
  return g.encode('tiny UNetSpatioTemporalConditionModel stand-in (Tessera tests)');
}

/**
 * vae_decoder: `latent_sample` [batch·frames,4,h,w] and `num_frames` (int64 scalar) → `sample`
 * [batch·frames,3,8h,8w] in about [−1, 1]. Like the real temporal decoder it reshapes by `num_frames` (so a
 * count that does not divide the batch fails), but then decodes every frame on its own: conv → tanh →
 * 8× bilinear resize → conv → tanh.
 */
export function buildTinyVaeDecoder(opts: TinySvdOptions = {}): Uint8Array {
  const T = floatType(opts);
  const rng = new WeightRng((opts.seed ?? 1234) + 4);
  const g = new GraphBuilder('tiny_svd_vae_decoder');
  const z = g.toFloat(g.input('latent_sample', T, ['batch', 4, 'latent_height', 'latent_width']));
  const numFrames = g.input('num_frames', 'int64', []);
  const shape = g.op('Shape', [z]);
  const chw = g.op('Slice', [shape, g.int64s('s1', [1]), g.int64s('e4', [4])]);
  const nf = g.op('Reshape', [numFrames, g.int64s('one', [1])]);
  const video = g.op('Reshape', [z, g.op('Concat', [g.int64s('m1', [-1]), nf, chw], [a.int('axis', 0)])]);
  const frames = g.op('Reshape', [video, shape]);
  const w1 = g.floats('dec1_W', [8, 4, 3, 3], rng.uniform(8 * 4 * 9, fanScale(4 * 9, 0.3)));
  const b1 = g.floats('dec1_B', [8], rng.uniform(8, 0.1));
  const h1 = g.op('Tanh', [
    g.op('Conv', [frames, w1, b1], [a.ints('kernel_shape', [3, 3]), a.ints('pads', [1, 1, 1, 1])]),
  ]);
  const up = g.op(
    'Resize',
    [h1, '', g.floats('scales', [4], [1, 1, 8, 8])],
    [a.str('mode', 'linear'), a.str('coordinate_transformation_mode', 'half_pixel')],
  );
  const w2 = g.floats('dec2_W', [3, 8, 3, 3], rng.uniform(3 * 8 * 9, fanScale(8 * 9, 1.5)));
  const b2 = g.floats('dec2_B', [3], rng.uniform(3, 0.2));
  const out = g.op('Tanh', [
    g.op('Conv', [up, w2, b2], [a.ints('kernel_shape', [3, 3]), a.ints('pads', [1, 1, 1, 1])]),
  ]);
  g.emit(out, 'sample', T);
  g.output('sample', T, ['batch', 3, 'height', 'width']);
  return g.encode('tiny AutoencoderKLTemporalDecoder decoder stand-in, frame-local (Tessera tests)');
}

/** diffusers' scheduler/scheduler_config.json of stabilityai/stable-video-diffusion-img2vid-xt. */
export const SVD_XT_SCHEDULER_CONFIG = {
  _class_name: 'EulerDiscreteScheduler',
  _diffusers_version: '0.24.0.dev0',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  clip_sample: false,
  interpolation_type: 'linear',
  num_train_timesteps: 1000,
  prediction_type: 'v_prediction',
  set_alpha_to_one: false,
  sigma_max: 700.0,
  sigma_min: 0.002,
  skip_prk_steps: true,
  steps_offset: 1,
  timestep_spacing: 'leading',
  timestep_type: 'continuous',
  trained_betas: null,
  use_karras_sigmas: true,
} as const;

/** feature_extractor/preprocessor_config.json of SVD (OpenCLIP ViT-H/14 uses OpenAI CLIP's mean/std). */
export const SVD_PREPROCESSOR_CONFIG = {
  crop_size: { height: 224, width: 224 },
  do_center_crop: true,
  do_convert_rgb: true,
  do_normalize: true,
  do_rescale: true,
  do_resize: true,
  feature_extractor_type: 'CLIPFeatureExtractor',
  image_mean: [0.48145466, 0.4578275, 0.40821073],
  image_processor_type: 'CLIPImageProcessor',
  image_std: [0.26862954, 0.26130258, 0.27577711],
  resample: 3,
  rescale_factor: 0.00392156862745098,
  size: { shortest_edge: 224 },
} as const;

/**
 * Writes a complete tiny SVD model directory in the Tessera layout (docs/svd-models.md): model_index.json,
 * the four `model.onnx` files with config.json beside each, scheduler/scheduler_config.json (SVD-XT's) and
 * feature_extractor/preprocessor_config.json. Deterministic; returns `dir`. Runs at any size divisible by 8
 * (tests use 64×64 pixels, 8×8 latents).
 */
export async function writeTinySvdModel(dir: string, opts: TinySvdOptions = {}): Promise<string> {
  const dtype = opts.fp16 ? 'float16' : 'float32';
  const vaeConfig = {
    _class_name: 'AutoencoderKLTemporalDecoder',
    block_out_channels: [128, 256, 512, 512],
    in_channels: 3,
    latent_channels: 4,
    out_channels: 3,
    scaling_factor: 0.18215,
    force_upcast: true,
    tessera_tiny: true,
  };
  const files: [string, Uint8Array | object][] = [
    [
      'model_index.json',
      {
        _class_name: 'StableVideoDiffusionPipeline',
        _diffusers_version: '0.24.0.dev0',
        feature_extractor: ['transformers', 'CLIPImageProcessor'],
        image_encoder: ['transformers', 'CLIPVisionModelWithProjection'],
        scheduler: ['diffusers', 'EulerDiscreteScheduler'],
        unet: ['diffusers', 'UNetSpatioTemporalConditionModel'],
        vae: ['diffusers', 'AutoencoderKLTemporalDecoder'],
        tessera_layout: 'svd-onnx-1',
        tessera_tiny: true,
        tessera_dtype: dtype,
      },
    ],
    ['image_encoder/model.onnx', buildTinyImageEncoder(opts)],
    [
      'image_encoder/config.json',
      {
        architectures: ['CLIPVisionModelWithProjection'],
        image_size: 224,
        projection_dim: SVD_EMBED_DIM,
        tessera_tiny: true,
      },
    ],
    ['vae_encoder/model.onnx', buildTinyVaeEncoder(opts)],
    ['vae_encoder/config.json', vaeConfig],
    ['unet/model.onnx', buildTinyUnet(opts)],
    [
      'unet/config.json',
      {
        _class_name: 'UNetSpatioTemporalConditionModel',
        in_channels: 8,
        out_channels: 4,
        num_frames: 25,
        sample_size: 8,
        addition_time_embed_dim: 256,
        cross_attention_dim: SVD_EMBED_DIM,
        tessera_tiny: true,
      },
    ],
    ['vae_decoder/model.onnx', buildTinyVaeDecoder(opts)],
    ['vae_decoder/config.json', vaeConfig],
    ['scheduler/scheduler_config.json', SVD_XT_SCHEDULER_CONFIG],
    ['feature_extractor/preprocessor_config.json', SVD_PREPROCESSOR_CONFIG],
  ];
  for (const [rel, content] of files) {
    const path = join(dir, rel);
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, content instanceof Uint8Array ? content : JSON.stringify(content, null, 2) + '\n');
  }
  return dir;
}
