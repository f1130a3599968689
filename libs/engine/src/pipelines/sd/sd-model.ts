/**
 * What the Stable-Diffusion pipelines need from an ONNX session (declared here, by the consumer): its input and
 * output signatures and `run` by name. `OrtModel` (ort-session.ts) implements it; tests may pass fakes.
 * The helpers below turn the pipelines' float32 / int32 arrays into feeds of whatever element type the session
 * declares (float16 as raw bits, int64 as BigInt64Array) and back, so fp16 exports and both `input_ids` dtypes work.
 */
import { float16BitsToFloat32, float32ToFloat16Bits } from '../../fp16.js';
import type { HostTensor, TensorInfo } from '../../ort-session.js';
import { SdModelLayoutError } from './errors.js';

export type { HostTensor, TensorInfo };

/** One loaded sub-model (text encoder, UNet/transformer, VAE half). */
export interface SdModel {
  /** The .onnx file it came from (for error messages). */
  readonly modelPath: string;
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  run(feeds: Record<string, HostTensor>, outputNames?: readonly string[]): Promise<Record<string, HostTensor>>;
  close(): Promise<void>;
}

/** Opens one sub-model file (the pipelines never construct sessions themselves). */
export type SdModelLoader = (modelPath: string) => Promise<SdModel>;

/** The declared input `name`, or SdModelLayoutError listing what the model has. */
export function requireInput(model: SdModel, name: string): TensorInfo {
  const info = model.inputs.find((i) => i.name === name);
  if (!info) {
    throw new SdModelLayoutError(
      model.modelPath,
      `has no input '${name}' (inputs: ${model.inputs.map((i) => i.name).join(', ')})`,
    );
  }
  return info;
}

/** Whether the model declares input `name`. */
export function hasInput(model: SdModel, name: string): boolean {
  return model.inputs.some((i) => i.name === name);
}

/** Whether the model declares output `name`. */
export function hasOutput(model: SdModel, name: string): boolean {
  return model.outputs.some((o) => o.name === name);
}

/** float32 values as a feed of the input's float type (float32, float16 bits, or float64). */
export function floatFeed(info: TensorInfo, data: Float32Array, dims: readonly number[]): HostTensor {
  switch (info.type) {
    case 'float32':
      return { type: 'float32', dims, data };
    case 'float16':
      return { type: 'float16', dims, data: float32ToFloat16Bits(data) };
    case 'float64':
      return { type: 'float64', dims, data: Float64Array.from(data) };
    default:
      throw new SdModelLayoutError(info.name, `input type ${info.type} where a float tensor is expected`);
  }
}

/** Token ids as a feed of the input's integer type (int32 or int64, as the export declares). */
export function idsFeed(info: TensorInfo, ids: Int32Array, dims: readonly number[]): HostTensor {
  if (info.type === 'int32') return { type: 'int32', dims, data: ids };
  if (info.type === 'int64') return { type: 'int64', dims, data: BigInt64Array.from(ids, (v) => BigInt(v)) };
  throw new SdModelLayoutError(info.name, `input type ${info.type} where int32/int64 token ids are expected`);
}

/**
 * The timestep feed in the shape and type the export declares: a scalar (current Optimum UNets), [1] (older
 * exports) or [batch] (SD3 transformers, symbolic `step`). Integer inputs get the timestep truncated, as numpy's
 * `astype(int64)` does in Optimum's feed conversion.
 */
export function timestepFeed(info: TensorInfo, t: number, batch: number): HostTensor {
  const dims = info.shape.length === 0 ? [] : [typeof info.shape[0] === 'number' ? info.shape[0] : batch];
  const n = dims.length === 0 ? 1 : dims[0];
  switch (info.type) {
    case 'int64':
      return { type: 'int64', dims, data: new BigInt64Array(n).fill(BigInt(Math.trunc(t))) };
    case 'int32':
      return { type: 'int32', dims, data: new Int32Array(n).fill(Math.trunc(t)) };
    default:
      return floatFeed(info, new Float32Array(n).fill(t), dims);
  }
}

/** A float output (float32, float16 or float64) as float32 values and its dims. */
export function floatOutput(
  model: SdModel,
  result: Record<string, HostTensor>,
  name: string,
): { data: Float32Array; dims: number[] } {
  const t = result[name];
  if (!t) throw new SdModelLayoutError(model.modelPath, `produced no output '${name}'`);
  const dims = [...t.dims];
  if (t.type === 'float32') return { data: t.data as Float32Array, dims };
  if (t.type === 'float16') return { data: float16BitsToFloat32(t.data as Uint16Array), dims };
  if (t.type === 'float64') return { data: Float32Array.from(t.data as Float64Array), dims };
  throw new SdModelLayoutError(model.modelPath, `output '${name}' is ${t.type}, want a float tensor`);
}
