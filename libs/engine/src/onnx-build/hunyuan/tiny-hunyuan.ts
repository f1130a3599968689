/**
 * Tiny Hunyuan-DiT sub-models with the real exports' I/O:
 *
 * - text_encoder (BertModel, Optimum's BertOnnxConfig): `input_ids`, `attention_mask`, `token_type_ids` [B, S] int64 →
 *   `last_hidden_state` [B, S, D], `pooler_output` [B, D].
 * - transformer (Tencent's HunyuanDiT v1.2 ONNX export, trt/export_onnx.py): `x` [B, 4, H, W], `t` [B],
 *   `encoder_hidden_states` [B, 77, D1], `text_embedding_mask` [B, 77] int64, `encoder_hidden_states_t5` [B, 256, D2],
 *   `text_embedding_mask_t5` [B, 256] int64, `cos_cis_img` / `sin_cis_img` [N, head_dim] float32 → `output`
 *   [B, 8, H, W] (learned σ: the first 4 channels are the v-prediction).
 *
 * Toy computation: every input moves the output — the masks gate their sequences, the rotary tables add a
 * per-patch term, t a per-channel phase — with out[:4] = x + ½·tanh(conv3×3(x) + cond + rot).
 */
import { a as attr, GraphBuilder, WeightRng, type TinyElementType } from '../graph.js';

/** Shape of the tiny BERT. */
export interface TinyBertSpec {
  vocabSize: number;
  maxLength: number;
  dim: number;
  layers: number;
  floatType: 'float32' | 'float16';
  seed: number;
}

/** Builds a tiny BertModel: embeddings (token + position + type), tanh residual layers gated by the mask, LayerNorm. */
export function buildTinyBert(spec: TinyBertSpec): Uint8Array {
  const { vocabSize: V, maxLength: S, dim: D, layers: L } = spec;
  const w = new WeightRng(spec.seed);
  const g = new GraphBuilder('tiny_bert');
  const ft: TinyElementType = spec.floatType;
  const ids = g.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
  const mask = g.input('attention_mask', 'int64', ['batch_size', 'sequence_length']);
  const types = g.input('token_type_ids', 'int64', ['batch_size', 'sequence_length']);
  const tok = g.op('Gather', [g.floats('word_embeddings', [V, D], w.uniform(V * D, 1)), ids], [attr.int('axis', 0)]);
  const typ = g.op(
    'Gather',
    [g.floats('token_type_embeddings', [2, D], w.uniform(2 * D, 0.3)), types],
    [attr.int('axis', 0)],
  );
  let h = g.op('Add', [g.op('Add', [tok, typ]), g.floats('position_embeddings', [S, D], w.uniform(S * D, 0.5))]);
  // mask gate: padded positions are damped (a real BERT keeps them out of attention).
  const gate = g.op('Unsqueeze', [
    g.op('Add', [g.op('Mul', [g.toFloat(mask), g.floats('gate_a', [], [0.7])]), g.floats('gate_b', [], [0.3])]),
    g.int64s('axes', [2]),
  ]);
  for (let l = 0; l < L; l++) {
    const upd = g.op('Tanh', [
      g.linear(
        h,
        g.floats(`l${l}_w`, [D, D], w.uniform(D * D, 1.2 / Math.sqrt(D))),
        g.floats(`l${l}_b`, [D], w.uniform(D, 0.2)),
      ),
    ]);
    h = g.op('Add', [h, g.op('Mul', [g.op('Mul', [upd, g.floats('half', [], [0.5])]), gate])]);
  }
  const last = g.op(
    'LayerNormalization',
    [h, g.floats('ln_gamma', [D], w.uniform(D, 0.2, 1)), g.floats('ln_beta', [D], w.uniform(D, 0.1))],
    [attr.int('axis', -1), attr.float('epsilon', 1e-12)],
  );
  g.emit(last, 'last_hidden_state', ft);
  g.output('last_hidden_state', ft, ['batch_size', 'sequence_length', D]);
  const first = g.op('Squeeze', [
    g.op('Slice', [last, g.int64s('s', [0]), g.int64s('e', [1]), g.int64s('ax', [1])]),
    g.int64s('axes', [1]),
  ]);
  g.emit(
    g.op('Tanh', [g.linear(first, g.floats('pooler_w', [D, D], w.uniform(D * D, 1 / Math.sqrt(D))))]),
    'pooler_output',
    ft,
  );
  g.output('pooler_output', ft, ['batch_size', D]);
  return g.encode("tiny BertModel with Optimum's I/O names; for tests only");
}

/** Shape of the tiny Hunyuan-DiT transformer. */
export interface TinyHunyuanDitSpec {
  clipDim: number;
  clipLength: number;
  t5Dim: number;
  t5Length: number;
  headDim: number;
  patchSize: number;
  /**
   * v1.0 / v1.1 signature: also `image_meta_size` [2B, 6] (float) and `style` [2B] int64 after the rotary tables,
   * as Tencent's export declares them when the model uses size and style conditions. Default false (v1.2).
   */
  sizeStyle?: boolean;
  floatType: 'float32' | 'float16';
  seed: number;
}

/** Builds the tiny transformer with the v1.2 export's signature (or v1.1's with `sizeStyle`). */
export function buildTinyHunyuanDit(spec: TinyHunyuanDitSpec): Uint8Array {
  const C = 4;
  const H = 8;
  const w = new WeightRng(spec.seed);
  const g = new GraphBuilder('tiny_hunyuan_dit');
  const ft: TinyElementType = spec.floatType;
  const x = g.floatInput('x', ft, ['2B', C, 'H', 'W']);
  const t = g.floatInput('t', ft, ['2B']);
  const seq = (name: string, maskName: string, S: number, D: number) => {
    const v = g.floatInput(name, ft, ['2B', S, D]);
    const m = g.toFloat(g.input(maskName, 'int64', ['2B', S]));
    const hid = g.op('Tanh', [g.linear(v, g.floats(`${name}_a`, [D, H], w.uniform(D * H, 1.5 / Math.sqrt(D))))]);
    const gated = g.op('Mul', [hid, g.op('Unsqueeze', [m, g.int64s('axes', [2])])]);
    const pos = g.floats(`${name}_pos`, [1, S], w.uniform(S, 2 / S, 2 / S));
    const pooled = g.op('Reshape', [g.op('MatMul', [pos, gated]), g.int64s('shape', [-1, H])]);
    return g.linear(pooled, g.floats(`${name}_b`, [H, C], w.uniform(H * C, 1.5)));
  };
  const clip = seq('encoder_hidden_states', 'text_embedding_mask', spec.clipLength, spec.clipDim);
  const t5 = seq('encoder_hidden_states_t5', 'text_embedding_mask_t5', spec.t5Length, spec.t5Dim);
  const cos = g.input('cos_cis_img', 'float32', ['seqlen', spec.headDim]);
  const sin = g.input('sin_cis_img', 'float32', ['seqlen', spec.headDim]);

  const t2 = g.op('Reshape', [t, g.int64s('shape', [-1, 1])]);
  const temb = g.op('Sin', [
    g.op('Add', [
      g.op('Mul', [
        g.op('Mul', [t2, g.floats('t_scale', [], [1 / 1000])]),
        g.floats('t_freq', [1, C], w.uniform(C, 3, 4)),
      ]),
      g.floats('t_phase', [1, C], w.uniform(C, 1.5)),
    ]),
  ]);
  let cond = g.op('Add', [g.op('Add', [temb, clip]), t5]);
  if (spec.sizeStyle) {
    // Size condition sin(meta / 1024 · k) · M and a learned style embedding, as v1.1's extra time embedding.
    const meta = g.floatInput('image_meta_size', ft, ['2B', 6]);
    const style = g.input('style', 'int64', ['2B']);
    const metaTerm = g.linear(
      g.op('Sin', [g.op('Mul', [meta, g.floats('meta_k', [6], w.uniform(6, 0.002, 0.003))])]),
      g.floats('meta_w', [6, C], w.uniform(6 * C, 1)),
    );
    const styleTerm = g.op(
      'Gather',
      [g.floats('style_embedding', [2, C], w.uniform(2 * C, 1)), style],
      [attr.int('axis', 0)],
    );
    cond = g.op('Add', [g.op('Add', [cond, metaTerm]), styleTerm]);
  }
  // Rotary term: (cos·a + sin·b) per patch [N, 1] → [1, 1, H/p, W/p] → nearest ×p → × a channel vector.
  const hd = spec.headDim;
  const rot = g.op('Add', [
    g.linear(cos, g.floats('rot_a', [hd, 1], w.uniform(hd, 1 / Math.sqrt(hd)))),
    g.linear(sin, g.floats('rot_b', [hd, 1], w.uniform(hd, 1 / Math.sqrt(hd)))),
  ]);
  const p = spec.patchSize;
  const hw = g.op('Div', [g.op('Shape', [x], [attr.int('start', 2)]), g.int64s('patch', [p, p])]);
  const rotGrid = g.op('Reshape', [rot, g.op('Concat', [g.int64s('ones', [1, 1]), hw], [attr.int('axis', 0)])]);
  const rotUp = g.op('Resize', [rotGrid, '', g.floats('scales', [4], [1, 1, p, p])], [attr.str('mode', 'nearest')]);
  const rotC = g.op('Mul', [rotUp, g.floats('rot_c', [1, C, 1, 1], w.uniform(C, 1))]);

  const conv = g.op(
    'Conv',
    [
      x,
      g.floats('conv_w', [C, C, 3, 3], w.uniform(C * C * 9, 0.8 / Math.sqrt(C * 9))),
      g.floats('conv_b', [C], w.uniform(C, 0.1)),
    ],
    [attr.ints('kernel_shape', [3, 3]), attr.ints('pads', [1, 1, 1, 1])],
  );
  const pre = g.op('Add', [g.op('Add', [conv, g.op('Unsqueeze', [cond, g.int64s('axes', [2, 3])])]), rotC]);
  const v = g.op('Add', [x, g.op('Mul', [g.op('Tanh', [pre]), g.floats('half', [], [0.5])])]);
  const sigma = g.op('Tanh', [
    g.op('Conv', [x, g.floats('sigma_w', [C, C, 1, 1], w.uniform(C * C, 0.5))], [attr.ints('kernel_shape', [1, 1])]),
  ]);
  g.emit(g.op('Concat', [v, sigma], [attr.int('axis', 1)]), 'output', ft);
  g.output('output', ft, ['2B', 2 * C, 'H', 'W']);
  return g.encode("tiny Hunyuan-DiT v1.2 transformer with the I/O of Tencent's ONNX export; for tests only");
}
