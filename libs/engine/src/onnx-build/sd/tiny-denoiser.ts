/**
 * Tiny denoisers with Optimum's export signatures (optimum/exporters/onnx/model_configs.py):
 *
 * - UNet (UNetOnnxConfig): `sample` [B, C, h, w], `timestep` (a scalar in current exports, [1] or [B] in older
 *   ones; float or int64), `encoder_hidden_states` [B, S, D], and for SDXL (`addition_embed_type: text_time`)
 *   `text_embeds` [B, P] and `time_ids` [B, 6] (base) / [B, 5] (refiner) → `out_sample`.
 * - SD3 MM-DiT (SD3TransformerOnnxConfig): `hidden_states` [B, C, h, w], `encoder_hidden_states` [B, S, D],
 *   `pooled_projections` [B, P], `timestep` [B] (float) → `out_hidden_states`.
 *
 * The toy computation: out = x + ½·tanh(conv3×3(x) + cond), cond[b, c] = sin(t·f + φ) + (position-weighted mean over
 * the sequence of tanh(ehs·A))·B + text_embeds·T + sin(time_ids·k)·K (or pooled·T). Every input, every
 * sequence position and every feature column of every input moves the output, so a miswired feed is visible.
 */
import { a as attr, GraphBuilder, WeightRng, type TinyElementType } from '../graph.js';

/** How the tiny denoiser's `timestep` input is declared. */
export interface TinyTimestepSpec {
  type: 'float32' | 'float16' | 'int64';
  /** [] scalar, [1] fixed, or ['batch'] symbolic batch dim. */
  dims: (number | string)[];
}

/** Shape and I/O names of a tiny denoiser. */
export interface TinyDenoiserSpec {
  kind: 'unet' | 'sd3-transformer';
  latentChannels: number;
  /** Sequence length of encoder_hidden_states (77 CLIP; SD3: 77 + 256 T5 tokens, or 77 + 77 zeros without T5). */
  sequenceLength: number;
  /** Feature size of encoder_hidden_states (cross_attention_dim / joint_attention_dim). */
  contextDim: number;
  /** SDXL: text_embeds size and time_ids length (6 base, 5 refiner). SD3: pooled_projections size. */
  added?: { textEmbedsDim: number; timeIds: number } | { pooledDim: number };
  timestep: TinyTimestepSpec;
  floatType: 'float32' | 'float16';
  seed: number;
  /**
   * UNet only: ControlNet residual inputs `down_block_additional_residual_k` ([B, channels, …] per entry) and
   * `mid_block_additional_residual`; each adds mean over its pixels · W to the conditioning (zeros add nothing).
   */
  residuals?: { down: number[]; mid: number };
}

/** Builds the ONNX bytes of a tiny UNet / SD3 transformer. */
export function buildTinyDenoiser(spec: TinyDenoiserSpec): Uint8Array {
  const C = spec.latentChannels;
  const S = spec.sequenceLength;
  const D = spec.contextDim;
  const H = 8; // hidden width of the context path
  const ft: TinyElementType = spec.floatType;
  const w = new WeightRng(spec.seed);
  const unet = spec.kind === 'unet';
  const g = new GraphBuilder(unet ? 'tiny_unet' : 'tiny_sd3_transformer');
  const sampleName = unet ? 'sample' : 'hidden_states';
  const outName = unet ? 'out_sample' : 'out_hidden_states';

  const x = g.floatInput(sampleName, ft, ['batch_size', C, 'height', 'width']);
  // SD3 exports list the inputs in this order: hidden_states, encoder_hidden_states, pooled_projections, timestep.
  let t = '';
  if (unet) t = g.floatInput('timestep', spec.timestep.type, spec.timestep.dims);
  const ehs = g.floatInput('encoder_hidden_states', ft, ['batch_size', 'sequence_length', D]);
  let addedTerm: string | null = null;
  const added = spec.added;
  if (added && 'textEmbedsDim' in added) {
    const te = g.floatInput('text_embeds', ft, ['batch_size', added.textEmbedsDim]);
    const ids = g.floatInput('time_ids', ft, ['batch_size', added.timeIds]);
    const teTerm = g.linear(te, g.floats('text_w', [added.textEmbedsDim, C], w.uniform(added.textEmbedsDim * C, 0.6)));
    const idsSin = g.op('Sin', [
      g.op('Mul', [ids, g.floats('time_ids_k', [added.timeIds], w.uniform(added.timeIds, 0.01, 0.02))]),
    ]);
    const idsTerm = g.linear(idsSin, g.floats('time_ids_w', [added.timeIds, C], w.uniform(added.timeIds * C, 0.6)));
    addedTerm = g.op('Add', [teTerm, idsTerm]);
  } else if (added && 'pooledDim' in added) {
    const pooled = g.floatInput('pooled_projections', ft, ['batch_size', added.pooledDim]);
    addedTerm = g.linear(pooled, g.floats('pooled_w', [added.pooledDim, C], w.uniform(added.pooledDim * C, 0.6)));
  }
  if (!unet) t = g.floatInput('timestep', spec.timestep.type, spec.timestep.dims);
  const residualTerms: string[] = [];
  if (unet && spec.residuals) {
    const named: [string, number][] = [
      ...spec.residuals.down.map((c, k): [string, number] => [`down_block_additional_residual_${k}`, c]),
      ['mid_block_additional_residual', spec.residuals.mid],
    ];
    for (const [name, c] of named) {
      const r = g.floatInput(name, ft, ['batch_size', c, `${name}_h`, `${name}_w`]);
      const m = g.op('ReduceMean', [r], [attr.ints('axes', [2, 3]), attr.int('keepdims', 0)]);
      residualTerms.push(g.linear(m, g.floats(`${name}_w`, [c, C], w.uniform(c * C, 2))));
    }
  }

  // Timestep embedding: [1 or B, C] from t / 1000.
  const tf = spec.timestep.type === 'int64' ? g.toFloat(t) : t;
  const t2 = g.op('Reshape', [tf, g.int64s('shape', [-1, 1])]);
  const tScaled = g.op('Mul', [t2, g.floats('t_scale', [], [1 / 1000])]);
  const temb = g.op('Sin', [
    g.op('Add', [
      g.op('Mul', [tScaled, g.floats('t_freq', [1, C], w.uniform(C, 3, 4))]),
      g.floats('t_phase', [1, C], w.uniform(C, 1.5)),
    ]),
  ]);

  // Context: position-weighted mean over the sequence of tanh(ehs · A), then · B → [B, C].
  const a = g.op('Tanh', [g.linear(ehs, g.floats('ctx_a', [D, H], w.uniform(D * H, 1.5 / Math.sqrt(D))))]);
  const posW = g.floats('ctx_pos', [1, S], w.uniform(S, 1 / S, 1 / S));
  const ctx = g.op('Reshape', [g.op('MatMul', [posW, a]), g.int64s('shape', [-1, H])]);
  let cond = g.op('Add', [g.linear(ctx, g.floats('ctx_b', [H, C], w.uniform(H * C, 1.5))), temb]);
  if (addedTerm) cond = g.op('Add', [cond, addedTerm]);
  for (const r of residualTerms) cond = g.op('Add', [cond, r]);
  const cond4 = g.op('Unsqueeze', [cond, g.int64s('axes', [2, 3])]);

  const conv = g.op(
    'Conv',
    [
      x,
      g.floats('conv_w', [C, C, 3, 3], w.uniform(C * C * 9, 0.8 / Math.sqrt(C * 9))),
      g.floats('conv_b', [C], w.uniform(C, 0.1)),
    ],
    [attr.ints('kernel_shape', [3, 3]), attr.ints('pads', [1, 1, 1, 1])],
  );
  // out = x + ½·tanh(…): close to what a denoiser predicts for unit-variance latents at high noise (ε ≈ scaled input,
  // v ≈ x_t for flow matching), so schedules converge to moderate latents instead of saturating the decoder.
  const out = g.op('Add', [x, g.op('Mul', [g.op('Tanh', [g.op('Add', [conv, cond4])]), g.floats('half', [], [0.5])])]);
  g.emit(out, outName, ft);
  g.output(outName, ft, ['batch_size', C, 'height', 'width']);
  return g.encode(`tiny ${unet ? 'UNet' : 'SD3 transformer'} with Optimum's I/O names; for tests only`);
}
