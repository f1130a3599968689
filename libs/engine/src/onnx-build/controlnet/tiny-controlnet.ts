/**
 * Tiny ControlNets and the residual shapes of tiny ControlNet-capable UNets, with the signatures of
 * pipelines/controlnet/controlnet.ts: a UNet whose unet/config.json says block_out_channels [4, 8] and
 * layers_per_block 1 takes four down residuals ([4, h, w], [4, h, w], [4, h/2, w/2], [8, h/2, w/2]) and a mid one
 * ([8, h/2, w/2]); the ControlNet produces exactly those, each × `conditioning_scale`.
 *
 * The toy ControlNet: hint = 8×8 average pool of `controlnet_cond`; base = tanh(conv3×3([sample ‖ hint]) +
 * t/1000·k + mean(ehs)·m (+ SDXL: mean(text_embeds)·p + mean(sin(time_ids/100))·q)); r0 = base,
 * r1 = tanh(conv1×1(r0)), r2 = 2×2 average pool of r1, r3 = tanh(conv1×1(r2) → 8 channels), mid = tanh(conv1×1(r3)).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { a as attr, GraphBuilder, WeightRng, type TinyElementType } from '../graph.js';
import type { TinyTimestepSpec } from '../sd/tiny-denoiser.js';

/** unet/config.json keys of a tiny ControlNet-capable UNet (residual shapes follow from them). */
export const TINY_CONTROLNET_UNET_CONFIG = { block_out_channels: [4, 8], layers_per_block: 1 } as const;

/** Residual inputs of a tiny ControlNet-capable UNet: [channels, downscale] of each down residual, then the mid one. */
export const TINY_RESIDUALS = {
  down: [
    [4, 1],
    [4, 1],
    [4, 2],
    [8, 2],
  ] as [number, number][],
  mid: [8, 2] as [number, number],
};

/** Shape and I/O of a tiny ControlNet. */
export interface TinyControlNetSpec {
  latentChannels: number;
  contextDim: number;
  timestep: TinyTimestepSpec;
  /** SDXL: `text_embeds` [B, P] and `time_ids` [B, 6] inputs. */
  sdxl?: { textEmbedsDim: number };
  floatType: 'float32' | 'float16';
  seed: number;
}

/** Builds the ONNX bytes of a tiny ControlNet. */
export function buildTinyControlNet(spec: TinyControlNetSpec): Uint8Array {
  const C = spec.latentChannels;
  const D = spec.contextDim;
  const ft: TinyElementType = spec.floatType;
  const w = new WeightRng(spec.seed);
  const g = new GraphBuilder('tiny_controlnet');
  const x = g.floatInput('sample', ft, ['batch_size', C, 'height', 'width']);
  const t = g.floatInput('timestep', spec.timestep.type, spec.timestep.dims);
  const ehs = g.floatInput('encoder_hidden_states', ft, ['batch_size', 'sequence_length', D]);
  const cond = g.floatInput('controlnet_cond', ft, ['batch_size', 3, 'image_height', 'image_width']);
  const scale = g.floatInput('conditioning_scale', ft, []);

  const hint = g.op('AveragePool', [cond], [attr.ints('kernel_shape', [8, 8]), attr.ints('strides', [8, 8])]);
  const conv = (input: string, cin: number, cout: number, k: number, name: string) =>
    g.op(
      'Conv',
      [
        input,
        g.floats(`${name}_w`, [cout, cin, k, k], w.uniform(cout * cin * k * k, 1.2 / Math.sqrt(cin * k * k))),
        g.floats(`${name}_b`, [cout], w.uniform(cout, 0.1)),
      ],
      [attr.ints('kernel_shape', [k, k]), attr.ints('pads', k === 3 ? [1, 1, 1, 1] : [0, 0, 0, 0])],
    );
  const perBatch = (v: string) => g.op('Reshape', [v, g.int64s('shape', [-1, 1, 1, 1])]);
  const tf = spec.timestep.type === 'int64' ? g.toFloat(t) : t;
  let bias = g.op('Mul', [
    g.op('ReduceMean', [ehs], [attr.ints('axes', [1, 2]), attr.int('keepdims', 0)]),
    g.floats('m', [], [0.9]),
  ]);
  bias = perBatch(bias);
  bias = g.op('Add', [
    bias,
    g.op('Mul', [g.op('ReduceMean', [tf], [attr.int('keepdims', 0)]), g.floats('tk', [], [1 / 1000])]),
  ]);
  if (spec.sdxl) {
    const te = g.floatInput('text_embeds', ft, ['batch_size', spec.sdxl.textEmbedsDim]);
    const ids = g.floatInput('time_ids', ft, ['batch_size', 6]);
    const teMean = g.op('ReduceMean', [te], [attr.ints('axes', [1]), attr.int('keepdims', 0)]);
    const idsMean = g.op(
      'ReduceMean',
      [g.op('Sin', [g.op('Mul', [ids, g.floats('ids_k', [], [0.01])])])],
      [attr.ints('axes', [1]), attr.int('keepdims', 0)],
    );
    bias = g.op('Add', [bias, perBatch(g.op('Add', [teMean, idsMean]))]);
  }
  const r0 = g.op('Tanh', [
    g.op('Add', [conv(g.op('Concat', [x, hint], [attr.int('axis', 1)]), C + 3, 4, 3, 'in'), bias]),
  ]);
  const r1 = g.op('Tanh', [conv(r0, 4, 4, 1, 'r1')]);
  const r2 = g.op(
    'AveragePool',
    [r1],
    [attr.ints('kernel_shape', [2, 2]), attr.ints('strides', [2, 2]), attr.int('ceil_mode', 1)],
  );
  const r3 = g.op('Tanh', [conv(r2, 4, 8, 1, 'r3')]);
  const mid = g.op('Tanh', [conv(r3, 8, 8, 1, 'mid')]);
  [r0, r1, r2, r3].forEach((r, k) => {
    const name = `down_block_res_sample_${k}`;
    g.emit(g.op('Mul', [r, scale]), name, ft);
    g.output(name, ft, ['batch_size', TINY_RESIDUALS.down[k][0], `h${k}`, `w${k}`]);
  });
  g.emit(g.op('Mul', [mid, scale]), 'mid_block_res_sample', ft);
  g.output('mid_block_res_sample', ft, ['batch_size', 8, 'h_mid', 'w_mid']);
  return g.encode('tiny ControlNet with the documented export I/O names; for tests only');
}

/** Options of writeTinyControlNet. */
export interface TinyControlNetOptions {
  /** Whose UNet it conditions: SD 1.5 (CLIP-L context, dim 8, int64 scalar timestep) or SDXL base. */
  base: 'sd15' | 'sdxl-base';
  /** Weight seed: different seeds are different ControlNets (e.g. "canny" and "blur"). */
  seed?: number;
  fp16?: boolean;
}

/** Writes `model.onnx` + `config.json` of a tiny ControlNet into `dir`; returns `dir`. */
export async function writeTinyControlNet(dir: string, opts: TinyControlNetOptions): Promise<string> {
  const sdxl = opts.base === 'sdxl-base';
  const bytes = buildTinyControlNet({
    latentChannels: 4,
    contextDim: sdxl ? 20 : 8,
    timestep: { type: 'int64', dims: [] },
    sdxl: sdxl ? { textEmbedsDim: 12 } : undefined,
    floatType: opts.fp16 ? 'float16' : 'float32',
    seed: opts.seed ?? 901,
  });
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'model.onnx'), bytes);
  await writeFile(
    join(dir, 'config.json'),
    JSON.stringify(
      {
        _class_name: 'ControlNetModel',
        in_channels: 4,
        conditioning_channels: 3,
        ...TINY_CONTROLNET_UNET_CONFIG,
        cross_attention_dim: sdxl ? 20 : 8,
        ...(sdxl ? { addition_embed_type: 'text_time', addition_time_embed_dim: 256 } : {}),
      },
      null,
      2,
    ),
  );
  return dir;
}
