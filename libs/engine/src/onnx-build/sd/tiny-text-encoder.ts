/**
 * Tiny CLIP text encoders with Optimum's export signatures (optimum/exporters/onnx/model_configs.py):
 *
 * - `CLIPTextModel` (CLIPTextOnnxConfig): `input_ids` → `last_hidden_state`, `pooler_output`
 *   (+ `hidden_states.0 … hidden_states.L` when exported with output_hidden_states, as for SDXL / SD3).
 * - `CLIPTextModelWithProjection` (CLIPTextWithProjectionOnnxConfig): `input_ids` → `text_embeds`,
 *   `last_hidden_state` (+ `hidden_states.0 … hidden_states.L`).
 *
 * The computation keeps CLIP's data flow at toy size: token + position embedding = hidden_states.0; each layer
 * h ← h + ½·tanh(h·W + b) is the next hidden state; last_hidden_state = LayerNorm(h_L); the pooled output is
 * last_hidden_state at the first arg-max id (the eos, as HF CLIP takes it); text_embeds = pooled · W_proj.
 * Every layer has its own weights, so picking the wrong `hidden_states.N` changes the image.
 * With `kind: 't5'` the same body stands in for T5EncoderModel (T5EncoderOnnxConfig): `last_hidden_state` only.
 */
import { a as attr, GraphBuilder, WeightRng, type TinyElementType } from '../graph.js';

/** Shape and I/O types of a tiny CLIP text encoder. */
export interface TinyTextEncoderSpec {
  /** Vocabulary size (ids must be < vocabSize). */
  vocabSize: number;
  /** Sequence length (77 for CLIP). */
  maxLength: number;
  /** Hidden size. */
  dim: number;
  /** Number of layers L; hidden_states.0 … hidden_states.L are emitted when `hiddenStates`. */
  layers: number;
  /** With projection (CLIPTextModelWithProjection): `text_embeds` of this size instead of `pooler_output`. */
  projectionDim?: number;
  /** Emit hidden_states.N outputs. */
  hiddenStates: boolean;
  idsType: 'int32' | 'int64';
  floatType: 'float32' | 'float16';
  seed: number;
  /** 't5': a T5EncoderModel stand-in (T5EncoderOnnxConfig: `input_ids` → `last_hidden_state` only). Default 'clip'. */
  kind?: 'clip' | 't5';
  /**
   * Also take `attention_mask` [B, S] (same int type as the ids), damping the padded positions' updates as masked
   * attention changes them (Stable Cascade's export, which diffusers calls with the mask). Default false.
   */
  attentionMask?: boolean;
}

/** Builds the ONNX bytes of a tiny CLIP text encoder. */
export function buildTinyTextEncoder(spec: TinyTextEncoderSpec): Uint8Array {
  const { vocabSize: V, maxLength: S, dim: D, layers: L } = spec;
  const w = new WeightRng(spec.seed);
  const g = new GraphBuilder(spec.projectionDim ? 'tiny_clip_text_with_projection' : 'tiny_clip_text');
  const ft: TinyElementType = spec.floatType;
  const ids = g.input('input_ids', spec.idsType, ['batch_size', 'sequence_length']);
  const gate = spec.attentionMask
    ? g.op('Unsqueeze', [
        g.op('Add', [
          g.op('Mul', [
            g.toFloat(g.input('attention_mask', spec.idsType, ['batch_size', 'sequence_length'])),
            g.floats('mask_a', [], [0.6]),
          ]),
          g.floats('mask_b', [], [0.4]),
        ]),
        g.int64s('axes', [2]),
      ])
    : null;

  const tok = g.op('Gather', [g.floats('token_embedding', [V, D], w.uniform(V * D, 1)), ids], [attr.int('axis', 0)]);
  let h = g.op('Add', [tok, g.floats('position_embedding', [S, D], w.uniform(S * D, 0.5))]);
  const hidden: string[] = [h];
  for (let l = 0; l < L; l++) {
    const wl = g.floats(`layer${l}_w`, [D, D], w.uniform(D * D, 1.2 / Math.sqrt(D)));
    const bl = g.floats(`layer${l}_b`, [D], w.uniform(D, 0.2));
    let update = g.op('Mul', [g.op('Tanh', [g.linear(h, wl, bl)]), g.floats('half', [], [0.5])]);
    if (gate) update = g.op('Mul', [update, gate]);
    h = g.op('Add', [h, update]);
    hidden.push(h);
  }
  const last = g.op(
    'LayerNormalization',
    [h, g.floats('ln_gamma', [D], w.uniform(D, 0.2, 1)), g.floats('ln_beta', [D], w.uniform(D, 0.1))],
    [attr.int('axis', -1), attr.float('epsilon', 1e-5)],
  );

  if (spec.kind === 't5') {
    g.emit(last, 'last_hidden_state', ft);
    g.output('last_hidden_state', ft, ['batch_size', 'sequence_length', D]);
    return g.encode(`tiny T5 encoder (${L} layers, dim ${D}) with Optimum's I/O names; for tests only`);
  }

  // pooled = last[b, argmax(ids[b]), :] as a one-hot MatMul (first maximum, like torch.argmax).
  const idsF = g.toFloat(ids);
  const eos = g.op('ArgMax', [idsF], [attr.int('axis', 1), attr.int('keepdims', 0)]);
  const oneHot = g.op(
    'OneHot',
    [eos, g.int64s('depth', [S], []), g.floats('onehot_values', [2], [0, 1])],
    [attr.int('axis', -1)],
  );
  const pooled3 = g.op('MatMul', [g.op('Unsqueeze', [oneHot, g.int64s('axes', [1])]), last]);
  const pooled = g.op('Squeeze', [pooled3, g.int64s('axes', [1])]);

  if (spec.projectionDim) {
    const P = spec.projectionDim;
    const proj = g.linear(pooled, g.floats('text_projection', [D, P], w.uniform(D * P, 1 / Math.sqrt(D))));
    g.emit(proj, 'text_embeds', ft);
    g.output('text_embeds', ft, ['batch_size', P]);
    g.emit(last, 'last_hidden_state', ft);
    g.output('last_hidden_state', ft, ['batch_size', 'sequence_length', D]);
  } else {
    g.emit(last, 'last_hidden_state', ft);
    g.output('last_hidden_state', ft, ['batch_size', 'sequence_length', D]);
    g.emit(pooled, 'pooler_output', ft);
    g.output('pooler_output', ft, ['batch_size', D]);
  }
  if (spec.hiddenStates) {
    hidden.forEach((x, i) => {
      const name = `hidden_states.${i}`;
      g.emit(x, name, ft);
      g.output(name, ft, ['batch_size', 'sequence_length', D]);
    });
  }
  return g.encode(`tiny CLIP text encoder (${L} layers, dim ${D}) with Optimum's I/O names; for tests only`);
}
