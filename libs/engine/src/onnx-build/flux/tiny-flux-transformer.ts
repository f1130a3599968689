/**
 * A tiny Flux transformer with Optimum's export signature (FluxTransformerOnnxConfig, diffusers ≥ 0.31):
 * `hidden_states` [B, packed_height_width, 4C], `encoder_hidden_states` [B, sequence_length, D],
 * `pooled_projections` [B, P], `timestep` [B] (t / 1000, float), `img_ids` [packed_height_width, 3],
 * `txt_ids` [sequence_length, 3], and `guidance` [B] when built with the guidance embedding (dev)
 * → `out_hidden_states` [B, packed_height_width, 4C].
 *
 * The toy computation: out = x + ½·tanh(x·W + pos + cond), pos = sin(img_ids·M)·N per token (so the ids must be
 * right), cond[b] = sin(t·f + φ) + mean over the sequence of tanh(ehs·A)·B + pooled·T (+ sin(g·k)·K)
 * + Σ txt_ids·0 (declared and consumed, as in the real graph). Every input moves the output.
 */
import { a as attr, GraphBuilder, WeightRng, type TinyElementType } from '../graph.js';

/** Shape and I/O of a tiny Flux transformer. */
export interface TinyFluxTransformerSpec {
  /** Latent channels C (16 for Flux); tokens carry 4C features. */
  latentChannels: number;
  /** T5 hidden size (joint_attention_dim; 4096 for real Flux). */
  contextDim: number;
  /** CLIP pooled size (pooled_projection_dim; 768). */
  pooledDim: number;
  /** Dev: a `guidance` input. */
  guidanceEmbeds: boolean;
  floatType: 'float32' | 'float16';
  seed: number;
}

/** Builds the ONNX bytes. */
export function buildTinyFluxTransformer(spec: TinyFluxTransformerSpec): Uint8Array {
  const F = spec.latentChannels * 4;
  const D = spec.contextDim;
  const P = spec.pooledDim;
  const H = 8;
  const ft: TinyElementType = spec.floatType;
  const w = new WeightRng(spec.seed);
  const g = new GraphBuilder('tiny_flux_transformer');

  const x = g.floatInput('hidden_states', ft, ['batch_size', 'packed_height_width', F]);
  const ehs = g.floatInput('encoder_hidden_states', ft, ['batch_size', 'sequence_length', D]);
  const pooled = g.floatInput('pooled_projections', ft, ['batch_size', P]);
  const t = g.floatInput('timestep', ft, ['batch_size']);
  const imgIds = g.floatInput('img_ids', ft, ['packed_height_width', 3]);
  const txtIds = g.floatInput('txt_ids', ft, ['sequence_length', 3]);
  const guidance = spec.guidanceEmbeds ? g.floatInput('guidance', ft, ['batch_size']) : null;

  // Per-batch conditioning [B, F].
  const col = (v: string) => g.op('Reshape', [v, g.int64s('shape', [-1, 1])]);
  let cond = g.op('Sin', [
    g.op('Add', [
      g.op('Mul', [col(t), g.floats('t_freq', [1, F], w.uniform(F, 3, 4))]),
      g.floats('t_phase', [1, F], w.uniform(F, 1.5)),
    ]),
  ]);
  const a = g.op('Tanh', [g.linear(ehs, g.floats('ctx_a', [D, H], w.uniform(D * H, 1.5 / Math.sqrt(D))))]);
  const ctx = g.op('ReduceMean', [a], [attr.ints('axes', [1]), attr.int('keepdims', 0)]);
  cond = g.op('Add', [cond, g.linear(ctx, g.floats('ctx_b', [H, F], w.uniform(H * F, 1.5)))]);
  cond = g.op('Add', [cond, g.linear(pooled, g.floats('pooled_w', [P, F], w.uniform(P * F, 0.6)))]);
  if (guidance) {
    const gs = g.op('Sin', [g.op('Mul', [col(guidance), g.floats('g_freq', [1, F], w.uniform(F, 0.5, 0.6))])]);
    cond = g.op('Add', [cond, g.op('Mul', [gs, g.floats('g_w', [1, F], w.uniform(F, 0.8))])]);
  }
  const txtSum = g.op('ReduceSum', [txtIds], [attr.int('keepdims', 0)]);
  cond = g.op('Add', [cond, g.op('Mul', [txtSum, g.floats('zero', [], [0])])]);
  const cond3 = g.op('Unsqueeze', [cond, g.int64s('axes', [1])]);

  // Position term [tokens, F] from the rotary ids.
  const pos = g.linear(
    g.op('Sin', [g.linear(imgIds, g.floats('pos_m', [3, H], w.uniform(3 * H, 0.9)))]),
    g.floats('pos_n', [H, F], w.uniform(H * F, 0.7)),
  );
  const mix = g.linear(x, g.floats('mix_w', [F, F], w.uniform(F * F, 0.8 / Math.sqrt(F))));
  const pre = g.op('Add', [g.op('Add', [mix, pos]), cond3]);
  const out = g.op('Add', [x, g.op('Mul', [g.op('Tanh', [pre]), g.floats('half', [], [0.5])])]);
  g.emit(out, 'out_hidden_states', ft);
  g.output('out_hidden_states', ft, ['batch_size', 'packed_height_width', F]);
  return g.encode("tiny Flux transformer with Optimum's I/O names; for tests only");
}
