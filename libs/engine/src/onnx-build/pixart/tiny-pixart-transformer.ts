/**
 * A tiny PixArt transformer with the signature this project defines for PixArtTransformer2DModel exports (no
 * maintained Optimum config exists; docs/image-models.md gives the export script): `hidden_states` [B, 4, h, w],
 * `encoder_hidden_states` [B, S, D], `encoder_attention_mask` [B, S] (int64), `timestep` [B] (int64), and with
 * α-1024's micro-conditions `resolution` [B, 2] and `aspect_ratio` [B, 1] (float) → `out_hidden_states`
 * [B, 8, h, w] (ε ‖ learned variance).
 *
 * The toy computation: out = x‖x + ½·tanh(conv(x) + cond) per half, cond[b] = sin(t/1000·f + φ) + (mask-weighted mean
 * of tanh(ehs·A))·B (+ sin(resolution·k)·R + aspect·Q). Masked-out tokens do not move the output, as in the real
 * cross-attention.
 */
import { a as attr, GraphBuilder, WeightRng, type TinyElementType } from '../graph.js';

/** Shape and I/O of a tiny PixArt transformer. */
export interface TinyPixArtTransformerSpec {
  contextDim: number;
  /** α at 1024 px: `resolution` and `aspect_ratio` inputs. */
  microConditions: boolean;
  floatType: 'float32' | 'float16';
  seed: number;
}

/** Builds the ONNX bytes. */
export function buildTinyPixArtTransformer(spec: TinyPixArtTransformerSpec): Uint8Array {
  const C = 4;
  const D = spec.contextDim;
  const H = 8;
  const ft: TinyElementType = spec.floatType;
  const w = new WeightRng(spec.seed);
  const g = new GraphBuilder('tiny_pixart_transformer');

  const x = g.floatInput('hidden_states', ft, ['batch_size', C, 'height', 'width']);
  const ehs = g.floatInput('encoder_hidden_states', ft, ['batch_size', 'sequence_length', D]);
  const mask = g.toFloat(g.input('encoder_attention_mask', 'int64', ['batch_size', 'sequence_length']));
  const t = g.toFloat(g.input('timestep', 'int64', ['batch_size']));
  const col = (v: string) => g.op('Reshape', [v, g.int64s('shape', [-1, 1])]);

  let cond = g.op('Sin', [
    g.op('Add', [
      g.op('Mul', [
        g.op('Mul', [col(t), g.floats('t_scale', [], [1 / 1000])]),
        g.floats('t_freq', [1, C], w.uniform(C, 3, 4)),
      ]),
      g.floats('t_phase', [1, C], w.uniform(C, 1.5)),
    ]),
  ]);
  // Mask-weighted mean over the sequence: Σ mask·tanh(ehs·A) / Σ mask.
  const a = g.op('Tanh', [g.linear(ehs, g.floats('ctx_a', [D, H], w.uniform(D * H, 1.5 / Math.sqrt(D))))]);
  const m3 = g.op('Unsqueeze', [mask, g.int64s('axes', [2])]);
  const num = g.op('ReduceSum', [g.op('Mul', [a, m3]), g.int64s('axes', [1])], [attr.int('keepdims', 0)]);
  const den = g.op('Add', [
    g.op('ReduceSum', [mask, g.int64s('axes', [1])], [attr.int('keepdims', 1)]),
    g.floats('eps', [], [1e-6]),
  ]);
  cond = g.op('Add', [cond, g.linear(g.op('Div', [num, den]), g.floats('ctx_b', [H, C], w.uniform(H * C, 1.5)))]);
  if (spec.microConditions) {
    const res = g.floatInput('resolution', ft, ['batch_size', 2]);
    const ar = g.floatInput('aspect_ratio', ft, ['batch_size', 1]);
    const rs = g.op('Sin', [g.op('Mul', [res, g.floats('res_k', [2], w.uniform(2, 0.01, 0.02))])]);
    cond = g.op('Add', [cond, g.linear(rs, g.floats('res_w', [2, C], w.uniform(2 * C, 0.6)))]);
    cond = g.op('Add', [cond, g.linear(ar, g.floats('ar_w', [1, C], w.uniform(C, 0.6)))]);
  }
  const cond4 = g.op('Unsqueeze', [cond, g.int64s('axes', [2, 3])]);
  const half = (name: string) => {
    const conv = g.op(
      'Conv',
      [
        x,
        g.floats(`${name}_w`, [C, C, 3, 3], w.uniform(C * C * 9, 0.8 / Math.sqrt(C * 9))),
        g.floats(`${name}_b`, [C], w.uniform(C, 0.1)),
      ],
      [attr.ints('kernel_shape', [3, 3]), attr.ints('pads', [1, 1, 1, 1])],
    );
    return g.op('Add', [x, g.op('Mul', [g.op('Tanh', [g.op('Add', [conv, cond4])]), g.floats('half', [], [0.5])])]);
  };
  const out = g.op('Concat', [half('eps'), half('var')], [attr.int('axis', 1)]);
  g.emit(out, 'out_hidden_states', ft);
  g.output('out_hidden_states', ft, ['batch_size', 2 * C, 'height', 'width']);
  return g.encode('tiny PixArt transformer with the documented export I/O names; for tests only');
}
