/**
 * The Tessera SVD model directory (docs/svd-models.md): which files it holds, the configs the pipeline
 * reads from it, and the sub-models' signatures resolved from session metadata (exporters differ in
 * timestep dtype/shape, fp16 I/O, whether the decoder takes num_frames). Reading is I/O; resolving is pure.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UnknownModelError, UnsupportedModelError } from '../../errors.js';
import type { TensorInfo } from '../../ort-session.js';
import { FLOAT_TYPES } from './svd-tensors.js';

/** The four ONNX sub-models, each `<name>/model.onnx` in the directory. */
export const SVD_COMPONENTS = ['image_encoder', 'vae_encoder', 'unet', 'vae_decoder'] as const;
export type SvdComponent = (typeof SVD_COMPONENTS)[number];

/** What the pipeline reads from the directory's JSON files (defaults: SVD-XT as diffusers ships it). */
export interface SvdModelConfig {
  /** scheduler/scheduler_config.json as diffusers writes it (snake_case). */
  schedulerConfig: Record<string, unknown>;
  /** CLIP normalisation and input size (feature_extractor/preprocessor_config.json). */
  imageMean: [number, number, number];
  imageStd: [number, number, number];
  clipSize: number;
  /** Latents are divided by it before decoding (vae config `scaling_factor`, 0.18215). */
  vaeScalingFactor: number;
  /** Pixels per latent along each axis: 2^(len(block_out_channels) − 1) = 8. */
  vaeScaleFactor: number;
  /** Frames when a request gives none (unet config `num_frames`: 25 for SVD-XT, 14 for SVD). */
  defaultNumFrames: number;
}

/** A graph input or output the pipeline uses: its name in this export and its element type. */
export interface SvdPort {
  name: string;
  type: string;
}

/** A port fed with one number: a scalar, a [1] tensor, or one value per batch item. */
export interface SvdScalarPort extends SvdPort {
  dims: 'scalar' | 'one' | 'batch';
}

/** The sub-models' resolved signatures. */
export interface SvdSignatures {
  imageEncoder: { pixelValues: SvdPort; imageEmbeds: SvdPort };
  vaeEncoder: { sample: SvdPort; latentSample: SvdPort };
  unet: {
    sample: SvdPort;
    timestep: SvdScalarPort;
    encoderHiddenStates: SvdPort;
    addedTimeIds: SvdPort;
    outSample: SvdPort;
  };
  /** `numFrames` is null for a decoder exported without it (then every chunk is decoded as one clip). */
  vaeDecoder: { latentSample: SvdPort; numFrames: SvdScalarPort | null; sample: SvdPort };
}

const DEFAULT_SCHEDULER = {
  _class_name: 'EulerDiscreteScheduler',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  interpolation_type: 'linear',
  num_train_timesteps: 1000,
  prediction_type: 'v_prediction',
  sigma_max: 700.0,
  sigma_min: 0.002,
  steps_offset: 1,
  timestep_spacing: 'leading',
  timestep_type: 'continuous',
  use_karras_sigmas: true,
};

/**
 * Checks the layout of `dir` and reads its configs. Throws UnknownModelError when the directory, its
 * model_index.json or a model.onnx is missing, UnsupportedModelError when it is not an SVD pipeline or its
 * scheduler is not EulerDiscreteScheduler.
 */
export async function readSvdModelDir(
  dir: string,
): Promise<{ config: SvdModelConfig; modelPaths: Record<SvdComponent, string> }> {
  const index = await readJson(join(dir, 'model_index.json'));
  if (!index) throw new UnknownModelError(dir, `${dir} is not an SVD model directory: no model_index.json`);
  if (index._class_name !== 'StableVideoDiffusionPipeline') {
    throw new UnsupportedModelError(
      '',
      `${dir}: model_index.json names ${String(index._class_name)}, want StableVideoDiffusionPipeline`,
    );
  }
  const modelPaths = {} as Record<SvdComponent, string>;
  for (const c of SVD_COMPONENTS) {
    modelPaths[c] = join(dir, c, 'model.onnx');
    if (!existsSync(modelPaths[c])) {
      throw new UnknownModelError(dir, `${dir}: ${c}/model.onnx is missing (see docs/svd-models.md for the layout)`);
    }
  }
  const scheduler = (await readJson(join(dir, 'scheduler', 'scheduler_config.json'))) ?? DEFAULT_SCHEDULER;
  if (scheduler._class_name !== undefined && scheduler._class_name !== 'EulerDiscreteScheduler') {
    throw new UnsupportedModelError(
      '',
      `${dir}: scheduler ${String(scheduler._class_name)} is not supported, SVD uses EulerDiscreteScheduler`,
    );
  }
  const pre = (await readJson(join(dir, 'feature_extractor', 'preprocessor_config.json'))) ?? {};
  const vae =
    (await readJson(join(dir, 'vae_decoder', 'config.json'))) ??
    (await readJson(join(dir, 'vae', 'config.json'))) ??
    {};
  const unet = (await readJson(join(dir, 'unet', 'config.json'))) ?? {};
  const triple = (v: unknown, d: [number, number, number]): [number, number, number] =>
    Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number') ? (v as [number, number, number]) : d;
  const crop = pre.crop_size as { height?: number } | number | undefined;
  const blocks = vae.block_out_channels;
  return {
    modelPaths,
    config: {
      schedulerConfig: scheduler,
      imageMean: triple(pre.image_mean, [0.48145466, 0.4578275, 0.40821073]),
      imageStd: triple(pre.image_std, [0.26862954, 0.26130258, 0.27577711]),
      clipSize: typeof crop === 'number' ? crop : (crop?.height ?? 224),
      vaeScalingFactor: typeof vae.scaling_factor === 'number' ? vae.scaling_factor : 0.18215,
      vaeScaleFactor: Array.isArray(blocks) ? 2 ** (blocks.length - 1) : 8,
      defaultNumFrames: typeof unet.num_frames === 'number' ? unet.num_frames : 25,
    },
  };
}

async function readJson(path: string): Promise<Record<string, unknown> | undefined> {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new UnsupportedModelError('', `${path}: not valid JSON (${(err as Error).message})`);
  }
}

interface Signature {
  inputs: readonly TensorInfo[];
  outputs: readonly TensorInfo[];
}

/**
 * Finds each port by its layout name (then by known aliases of other exporters), checks ranks, fixed channel
 * dims and element types, and rejects a model with inputs the pipeline would not feed. Throws
 * UnsupportedModelError naming the sub-model and what it has instead. Pure.
 */
export function resolveSvdSignatures(models: Record<SvdComponent, Signature>): SvdSignatures {
  const ie = new Ports('image_encoder', models.image_encoder);
  const ve = new Ports('vae_encoder', models.vae_encoder);
  const un = new Ports('unet', models.unet);
  const vd = new Ports('vae_decoder', models.vae_decoder);
  const sig: SvdSignatures = {
    imageEncoder: {
      pixelValues: ie.floatInput(['pixel_values', 'images', 'image'], [null, 3, null, null]),
      imageEmbeds: ie.floatOutput(['image_embeds'], [null, null]),
    },
    vaeEncoder: {
      sample: ve.floatInput(['sample', 'images', 'image'], [null, 3, null, null]),
      latentSample: ve.floatOutput(['latent_sample', 'latent', 'latents', 'latent_mean'], [null, 4, null, null]),
    },
    unet: {
      sample: un.floatInput(['sample', 'latent_model_input'], [null, null, 8, null, null]),
      timestep: un.scalarInput(['timestep', 'timesteps', 't'], true),
      encoderHiddenStates: un.floatInput(['encoder_hidden_states'], [null, 1, null]),
      addedTimeIds: un.floatInput(['added_time_ids'], [null, 3]),
      outSample: un.floatOutput(['out_sample', 'noise_pred', 'sample'], [null, null, 4, null, null]),
    },
    vaeDecoder: {
      latentSample: vd.floatInput(['latent_sample', 'latents', 'z'], [null, 4, null, null]),
      numFrames: vd.has(['num_frames']) ? vd.scalarInput(['num_frames'], false) : null,
      sample: vd.floatOutput(['sample', 'images'], [null, 3, null, null]),
    },
  };
  for (const p of [ie, ve, un, vd]) p.assertAllInputsUsed();
  return sig;
}

class Ports {
  private readonly used = new Set<string>();

  constructor(
    private readonly component: SvdComponent,
    private readonly sig: Signature,
  ) {}

  has(names: string[]): boolean {
    return this.sig.inputs.some((i) => names.includes(i.name));
  }

  floatInput(names: string[], shape: (number | null)[]): SvdPort {
    return this.checkFloat(this.find(this.sig.inputs, names, 'input'), shape, 'input');
  }

  floatOutput(names: string[], shape: (number | null)[]): SvdPort {
    const outs = this.sig.outputs;
    const info = outs.find((o) => names.includes(o.name)) ?? (outs.length === 1 ? outs[0] : undefined);
    if (!info) this.fail(`no output named ${names.join(' / ')} (outputs: ${describe(outs)})`);
    return this.checkFloat(info, shape, 'output');
  }

  scalarInput(names: string[], allowBatch: boolean): SvdScalarPort {
    const info = this.find(this.sig.inputs, names, 'input');
    const ok = [...FLOAT_TYPES, 'int64', 'int32'] as string[];
    if (!ok.includes(info.type)) this.fail(`input '${info.name}' is ${info.type}, want a float or integer tensor`);
    const { shape } = info;
    if (shape.length === 0) return { name: info.name, type: info.type, dims: 'scalar' };
    if (shape.length === 1 && shape[0] === 1) return { name: info.name, type: info.type, dims: 'one' };
    if (shape.length === 1 && allowBatch) return { name: info.name, type: info.type, dims: 'batch' };
    return this.fail(
      `input '${info.name}' has shape [${shape}], want a scalar or [1]${allowBatch ? ' or [batch]' : ''}`,
    );
  }

  assertAllInputsUsed(): void {
    const extra = this.sig.inputs.filter((i) => !this.used.has(i.name));
    if (extra.length > 0) this.fail(`has inputs the SVD pipeline does not feed: ${describe(extra)}`);
  }

  private find(list: readonly TensorInfo[], names: string[], what: string): TensorInfo {
    const info = list.find((i) => names.includes(i.name));
    if (!info) this.fail(`no ${what} named ${names.join(' / ')} (${what}s: ${describe(list)})`);
    this.used.add(info.name);
    return info;
  }

  private checkFloat(info: TensorInfo, shape: (number | null)[], what: string): SvdPort {
    if (!(FLOAT_TYPES as readonly string[]).includes(info.type)) {
      this.fail(`${what} '${info.name}' is ${info.type}, want float32/float16`);
    }
    const fixedOk = shape.every((d, i) => d === null || typeof info.shape[i] !== 'number' || info.shape[i] === d);
    if (info.shape.length !== shape.length || !fixedOk) {
      const want = shape.map((d) => d ?? '?').join(',');
      this.fail(`${what} '${info.name}' has shape [${info.shape}], want [${want}]`);
    }
    return { name: info.name, type: info.type };
  }

  private fail(message: string): never {
    throw new UnsupportedModelError('', `${this.component}/model.onnx ${message}`);
  }
}

function describe(list: readonly TensorInfo[]): string {
  return list.map((i) => `${i.name}: ${i.type}[${i.shape}]`).join(', ') || 'none';
}
