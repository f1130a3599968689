/**
 * Tiny VAE halves with Optimum's export signatures (optimum/exporters/onnx/model_configs.py):
 *
 * - encoder (VaeEncoderOnnxConfig): `sample` [B, 3, H, W] in [−1, 1] → `latent_parameters` [B, 2C, H/8, W/8]
 *   (mean ‖ log-variance, what current Optimum exports and diffusers' DiagonalGaussianDistribution takes), or
 *   → `latent_sample` [B, C, H/8, W/8] (older exports, where the sampling was inside the graph).
 * - decoder (VaeDecoderOnnxConfig): `latent_sample` [B, C, h, w] → `sample` [B, 3, 8h, 8w].
 *
 * Toy computation: encoder = 8×8 stride-8 conv, mean = 2·tanh / scaling_factor, log-variance = −5 + 2·tanh; decoder =
 * ×scaling_factor, nearest ×8 upsampling, 3×3 conv, 1.2·tanh (slightly beyond [−1, 1], so the pipeline's clamp is exercised).
 */
import { a as attr, GraphBuilder, WeightRng } from '../graph.js';

/** Tiny VAE encoder spec. */
export interface TinyVaeEncoderSpec {
  latentChannels: number;
  /** The family's VAE scaling factor: latents come out with std ≈ 1/scalingFactor, as a real VAE's. */
  scalingFactor: number;
  output: 'latent_parameters' | 'latent_sample';
  floatType: 'float32' | 'float16';
  seed: number;
}

/** Builds a tiny VAE encoder. */
export function buildTinyVaeEncoder(spec: TinyVaeEncoderSpec): Uint8Array {
  const C = spec.latentChannels;
  const out = spec.output === 'latent_parameters' ? 2 * C : C;
  const w = new WeightRng(spec.seed);
  const g = new GraphBuilder('tiny_vae_encoder');
  const x = g.floatInput('sample', spec.floatType, ['batch_size', 3, 'height', 'width']);
  const conv = g.op(
    'Conv',
    [
      x,
      g.floats('enc_w', [out, 3, 8, 8], w.uniform(out * 3 * 64, 2 / Math.sqrt(3 * 64))),
      g.floats('enc_b', [out], w.uniform(out, 0.2)),
    ],
    [attr.ints('kernel_shape', [8, 8]), attr.ints('strides', [8, 8])],
  );
  const dims = ['batch_size', out, 'height_latent', 'width_latent'];
  if (spec.output === 'latent_sample') {
    const gain = g.floats('gain', [], [2 / spec.scalingFactor]);
    g.emit(g.op('Mul', [g.op('Tanh', [conv]), gain]), 'latent_sample', spec.floatType);
    g.output('latent_sample', spec.floatType, dims);
  } else {
    const split = g.tmp('split');
    const [mean, logvar] = [`${split}_mean`, `${split}_logvar`];
    g.op('Split', [conv, g.int64s('split', [C, C])], [attr.int('axis', 1)], [mean, logvar]);
    const m = g.op('Mul', [g.op('Tanh', [mean]), g.floats('gain', [], [2 / spec.scalingFactor])]);
    const lv = g.op('Add', [
      g.op('Mul', [g.op('Tanh', [logvar]), g.floats('two', [], [2])]),
      g.floats('minus5', [], [-5]),
    ]);
    g.emit(g.op('Concat', [m, lv], [attr.int('axis', 1)]), 'latent_parameters', spec.floatType);
    g.output('latent_parameters', spec.floatType, dims);
  }
  return g.encode(`tiny VAE encoder (${spec.output}) with Optimum's I/O names; for tests only`);
}

/** Tiny VAE decoder spec. */
export interface TinyVaeDecoderSpec {
  latentChannels: number;
  /** The family's VAE scaling factor: the decoder expects latents of std ≈ 1/scalingFactor. */
  scalingFactor: number;
  floatType: 'float32' | 'float16';
  seed: number;
}

/** Builds a tiny VAE decoder. */
export function buildTinyVaeDecoder(spec: TinyVaeDecoderSpec): Uint8Array {
  const C = spec.latentChannels;
  const w = new WeightRng(spec.seed);
  const g = new GraphBuilder('tiny_vae_decoder');
  const z = g.floatInput('latent_sample', spec.floatType, ['batch_size', C, 'height_latent', 'width_latent']);
  const zs = g.op('Mul', [z, g.floats('scaling_factor', [], [spec.scalingFactor])]);
  const up = g.op('Resize', [zs, '', g.floats('scales', [4], [1, 1, 8, 8])], [attr.str('mode', 'nearest')]);
  const conv = g.op(
    'Conv',
    [
      up,
      g.floats('dec_w', [3, C, 3, 3], w.uniform(3 * C * 9, 0.7 / Math.sqrt(C * 9))),
      g.floats('dec_b', [3], w.uniform(3, 0.2)),
    ],
    [attr.ints('kernel_shape', [3, 3]), attr.ints('pads', [1, 1, 1, 1])],
  );
  const img = g.op('Mul', [g.op('Tanh', [conv]), g.floats('gain', [], [1.2])]);
  g.emit(img, 'sample', spec.floatType);
  g.output('sample', spec.floatType, ['batch_size', 3, 'height', 'width']);
  return g.encode("tiny VAE decoder with Optimum's I/O names; for tests only");
}
