/**
 * Host tensors in whatever element type a sub-model declares: the pipeline computes in float32 and converts
 * at the model boundary (float16 as raw binary16 bits, as onnxruntime-node takes and returns them). Pure.
 */
import { EngineError } from '../../errors.js';
import { float16BitsToFloat32, float32ToFloat16Bits } from '../../fp16.js';
import type { HostTensor } from '../../ort-session.js';

/** Float element types a float port may declare. */
export const FLOAT_TYPES = ['float32', 'float16', 'float64'] as const;
export type FloatType = (typeof FLOAT_TYPES)[number];

/** float32 values as a tensor of the model's float type. */
export function floatTensor(type: string, dims: readonly number[], values: Float32Array): HostTensor {
  switch (type) {
    case 'float32':
      return { type, dims, data: values };
    case 'float16':
      return { type, dims, data: float32ToFloat16Bits(values) };
    case 'float64':
      return { type, dims, data: Float64Array.from(values) };
    default:
      throw new EngineError(`cannot feed float values to a ${type} input`);
  }
}

/** A model's float output as float32 (float16 bits decoded exactly). */
export function toFloat32(t: HostTensor, what: string): Float32Array {
  switch (t.type) {
    case 'float32':
      return t.data as Float32Array;
    case 'float16':
      return float16BitsToFloat32(t.data as Uint16Array);
    case 'float64':
      return Float32Array.from(t.data as Float64Array);
    default:
      throw new EngineError(`${what} is ${t.type}, want a float tensor`);
  }
}

/** One number as a tensor of `type` and `dims` (every element equal): the timestep, num_frames. */
export function filledTensor(type: string, dims: readonly number[], value: number): HostTensor {
  const count = dims.reduce((a, b) => a * b, 1);
  switch (type) {
    case 'int64':
      return { type, dims, data: new BigInt64Array(count).fill(BigInt(Math.round(value))) };
    case 'int32':
      return { type, dims, data: new Int32Array(count).fill(Math.round(value)) };
    default:
      return floatTensor(type, dims, new Float32Array(count).fill(value));
  }
}
