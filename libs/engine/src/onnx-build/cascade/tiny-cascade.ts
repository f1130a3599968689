/**
 * Tiny Stable Cascade sub-models with the I/O of Tessera's Stable Cascade export (docs/model-export.md), whose
 * names are the arguments of diffusers' `StableCascadeUNet.forward` and `PaellaVQModel.decode`:
 *
 * - prior (stage C): `sample` [B, 16, h, w], `timestep_ratio` [B], `clip_text_pooled` [B, 1, P], `clip_text` [B, S, D],
 *   `clip_img` [B, 1, I] → `out_sample` [B, 16, h, w] (predicted noise).
 * - decoder (stage B): `sample` [B, 4, H, W], `timestep_ratio` [B], `clip_text_pooled` [B, 1, P], `effnet`
 *   [B, 16, h, w] (the prior's image embeddings, resized to H×W inside, as the real UNet does) → `out_sample`.
 * - vqgan (stage A): `latent_sample` [B, 4, H, W] → `sample` [B, 3, 4H, 4W] in ≈ [0, 1].
 *
 * Toy computation, as the SD tiny denoisers: out = x + ½·tanh(conv3×3(x) + cond [+ conv1×1(resize(effnet))]), where
 * cond[b, c] = sin(t·f + φ) + Σ over the conditioning inputs of (position-weighted mean of tanh(in·A))·B. Every
 * input, sequence position and feature column moves the output, so a miswired feed changes the image.
 */
import { a as attr, GraphBuilder, WeightRng, type TinyElementType } from '../graph.js';

/** A [B, S, D] conditioning input of a tiny Cascade UNet. */
export interface TinyCascadeCond {
  name: string;
  seqLen: number;
  dim: number;
}

/** Shape of a tiny Stable Cascade UNet (prior or decoder). */
export interface TinyCascadeUnetSpec {
  stage: 'prior' | 'decoder';
  inChannels: number;
  /** Sequence inputs in the export's order (prior: clip_text_pooled, clip_text, clip_img; decoder: clip_text_pooled). */
  conds: TinyCascadeCond[];
  /** Decoder: channels of `effnet` (16). */
  effnetChannels?: number;
  floatType: 'float32' | 'float16';
  seed: number;
}

/** Builds the ONNX bytes of a tiny Stable Cascade prior or decoder UNet. */
export function buildTinyCascadeUnet(spec: TinyCascadeUnetSpec): Uint8Array {
  const C = spec.inChannels;
  const H = 8;
  const ft: TinyElementType = spec.floatType;
  const w = new WeightRng(spec.seed);
  const g = new GraphBuilder(`tiny_stable_cascade_${spec.stage}`);
  const x = g.floatInput('sample', ft, ['batch_size', C, 'height', 'width']);
  const t = g.floatInput('timestep_ratio', ft, ['batch_size']);

  const t2 = g.op('Reshape', [t, g.int64s('shape', [-1, 1])]);
  let cond = g.op('Sin', [
    g.op('Add', [
      g.op('Mul', [t2, g.floats('t_freq', [1, C], w.uniform(C, 3, 4))]),
      g.floats('t_phase', [1, C], w.uniform(C, 1.5)),
    ]),
  ]);
  for (const c of spec.conds) {
    const v = g.floatInput(c.name, ft, ['batch_size', c.seqLen, c.dim]);
    const h = g.op('Tanh', [
      g.linear(v, g.floats(`${c.name}_a`, [c.dim, H], w.uniform(c.dim * H, 1.5 / Math.sqrt(c.dim)))),
    ]);
    const pos = g.floats(`${c.name}_pos`, [1, c.seqLen], w.uniform(c.seqLen, 1 / c.seqLen, 1 / c.seqLen));
    const pooled = g.op('Reshape', [g.op('MatMul', [pos, h]), g.int64s('shape', [-1, H])]);
    cond = g.op('Add', [cond, g.linear(pooled, g.floats(`${c.name}_b`, [H, C], w.uniform(H * C, 1.5)))]);
  }
  let pre = g.op(
    'Conv',
    [
      x,
      g.floats('conv_w', [C, C, 3, 3], w.uniform(C * C * 9, 0.8 / Math.sqrt(C * 9))),
      g.floats('conv_b', [C], w.uniform(C, 0.1)),
    ],
    [attr.ints('kernel_shape', [3, 3]), attr.ints('pads', [1, 1, 1, 1])],
  );
  pre = g.op('Add', [pre, g.op('Unsqueeze', [cond, g.int64s('axes', [2, 3])])]);
  if (spec.effnetChannels) {
    const E = spec.effnetChannels;
    const eff = g.floatInput('effnet', ft, ['batch_size', E, 'effnet_height', 'effnet_width']);
    // Resize the embeddings to the sample's H×W (the real decoder interpolates them the same way, bilinear).
    const sizes = g.op(
      'Concat',
      [g.op('Shape', [eff], [attr.int('end', 2)]), g.op('Shape', [x], [attr.int('start', 2)])],
      [attr.int('axis', 0)],
    );
    const resized = g.op('Resize', [eff, '', '', sizes], [attr.str('mode', 'linear')]);
    const proj = g.op(
      'Conv',
      [resized, g.floats('effnet_w', [C, E, 1, 1], w.uniform(C * E, 1.5 / Math.sqrt(E)))],
      [attr.ints('kernel_shape', [1, 1])],
    );
    pre = g.op('Add', [pre, proj]);
  }
  const out = g.op('Add', [x, g.op('Mul', [g.op('Tanh', [pre]), g.floats('half', [], [0.5])])]);
  g.emit(out, 'out_sample', ft);
  g.output('out_sample', ft, ['batch_size', C, 'height', 'width']);
  return g.encode(`tiny Stable Cascade ${spec.stage} with Tessera's export I/O names; for tests only`);
}

/** Shape of a tiny Paella VQGAN decoder (stage A). */
export interface TinyVqganSpec {
  latentChannels: number;
  floatType: 'float32' | 'float16';
  seed: number;
}

/** Builds a tiny VQGAN decoder: nearest ×4 upsampling, 3×3 conv, 0.5 + 0.6·tanh (a little beyond [0, 1]). */
export function buildTinyVqganDecoder(spec: TinyVqganSpec): Uint8Array {
  const C = spec.latentChannels;
  const w = new WeightRng(spec.seed);
  const g = new GraphBuilder('tiny_paella_vq_decoder');
  const z = g.floatInput('latent_sample', spec.floatType, ['batch_size', C, 'height_latent', 'width_latent']);
  const up = g.op('Resize', [z, '', g.floats('scales', [4], [1, 1, 4, 4])], [attr.str('mode', 'nearest')]);
  const conv = g.op(
    'Conv',
    [
      up,
      g.floats('dec_w', [3, C, 3, 3], w.uniform(3 * C * 9, 2 / Math.sqrt(C * 9))),
      g.floats('dec_b', [3], w.uniform(3, 0.2)),
    ],
    [attr.ints('kernel_shape', [3, 3]), attr.ints('pads', [1, 1, 1, 1])],
  );
  const img = g.op('Add', [
    g.op('Mul', [g.op('Tanh', [conv]), g.floats('gain', [], [0.6])]),
    g.floats('mid', [], [0.5]),
  ]);
  g.emit(img, 'sample', spec.floatType);
  g.output('sample', spec.floatType, ['batch_size', 3, 'height', 'width']);
  return g.encode("tiny Paella VQGAN decoder with Tessera's export I/O names; for tests only");
}
