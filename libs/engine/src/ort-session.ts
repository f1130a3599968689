/**
 * The onnxruntime-node adapter for models with several named tensor inputs and outputs (the diffusion
 * pipelines' text/image encoders, UNets and VAEs). With ort-upscaler.ts it is the only module that imports
 * `onnxruntime-node`: the upscaler adapter is specialised to one RGB image in and out, this one passes plain
 * typed arrays by name, so pipelines stay pure and can be run against fakes. Signatures (names, element
 * types, symbolic dims) come from the session metadata; execution providers are chosen explicitly; every
 * runtime failure is translated into the engine's named errors.
 */
import { existsSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { classifyEngineError, EngineError, UnknownModelError } from './errors.js';
import {
  assertCudaInstalled,
  sessionProviders,
  translateCreateError,
  type ExecutionProviderName,
} from './ort-upscaler.js';

/** Element type names as onnxruntime reports them ('float32', 'float16', 'int64', …). */
export type TensorElementType = string;

/** Data of a host tensor: float16 travels as raw IEEE binary16 bits in a Uint16Array. */
export type TensorData = Float32Array | Float64Array | Uint16Array | Int32Array | BigInt64Array | Uint8Array;

/** A tensor on the host: element type, dims (row-major), data. */
export interface HostTensor {
  type: TensorElementType;
  dims: readonly number[];
  data: TensorData;
}

/** One input or output as the model declares it; a string dim is symbolic (dynamic). */
export interface TensorInfo {
  name: string;
  /** Element type, or 'non-tensor' for sequence/map values. */
  type: TensorElementType;
  shape: readonly (number | string)[];
}

/** Options of OrtModel.load; every field is optional with the documented default. */
export interface OrtModelOptions {
  /** Default 'cpu'. */
  executionProvider?: ExecutionProviderName;
  /** CUDA device ordinal. Default 0. */
  deviceId?: number;
  /** onnxruntime intra-op threads. Default: onnxruntime's choice. */
  intraOpThreads?: number;
}

/**
 * One loaded ONNX model. `run` takes and returns HostTensors by name; outputs are copied out of onnxruntime's
 * buffers, so they stay valid after the next run. Loading from a path (not bytes) lets external-data files
 * (`model.onnx_data`, needed by >2 GB UNets) resolve next to the model.
 */
export class OrtModel {
  private constructor(
    private readonly session: ort.InferenceSession,
    /** The .onnx file the session was created from. */
    readonly modelPath: string,
    /** Inputs in declaration order, from the session metadata. */
    readonly inputs: readonly TensorInfo[],
    /** Outputs in declaration order, from the session metadata. */
    readonly outputs: readonly TensorInfo[],
  ) {}

  /** Creates a session for `modelPath`. Throws UnknownModelError (no file), ExecutionProviderUnavailableError, EngineError. */
  static async load(modelPath: string, opts: OrtModelOptions = {}): Promise<OrtModel> {
    if (!existsSync(modelPath)) throw new UnknownModelError(modelPath, `model file ${modelPath} does not exist`);
    const provider = opts.executionProvider ?? 'cpu';
    if (provider === 'cuda') assertCudaInstalled();
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(modelPath, {
        executionProviders: sessionProviders(provider, opts.deviceId),
        ...(opts.intraOpThreads ? { intraOpNumThreads: opts.intraOpThreads } : {}),
        graphOptimizationLevel: 'all',
      });
    } catch (err) {
      throw translateCreateError(err, provider, modelPath);
    }
    const info = (m: ort.InferenceSession.ValueMetadata): TensorInfo =>
      m.isTensor
        ? { name: m.name, type: m.type, shape: [...m.shape] }
        : { name: m.name, type: 'non-tensor', shape: [] };
    return new OrtModel(session, modelPath, session.inputMetadata.map(info), session.outputMetadata.map(info));
  }

  /**
   * Runs the model on `feeds` and returns the requested outputs (default: all). Throws
   * EngineOutOfMemoryError or EngineError naming the model.
   */
  async run(feeds: Record<string, HostTensor>, outputNames?: readonly string[]): Promise<Record<string, HostTensor>> {
    const inputs: Record<string, ort.Tensor> = {};
    try {
      for (const [name, t] of Object.entries(feeds)) {
        inputs[name] = new ort.Tensor(t.type as ort.Tensor.Type, t.data as ort.Tensor.DataType, [...t.dims]);
      }
    } catch (err) {
      Object.values(inputs).forEach((t) => t.dispose());
      throw new EngineError(`bad input tensor for ${this.modelPath}: ${(err as Error).message}`, { cause: err });
    }
    let result: ort.InferenceSession.ReturnType;
    try {
      result = outputNames ? await this.session.run(inputs, [...outputNames]) : await this.session.run(inputs);
    } catch (err) {
      throw classifyEngineError(err, `inference of ${this.modelPath}`);
    } finally {
      Object.values(inputs).forEach((t) => t.dispose());
    }
    const out: Record<string, HostTensor> = {};
    for (const [name, t] of Object.entries(result)) {
      try {
        out[name] = { type: t.type, dims: [...t.dims], data: (t.data as TensorData).slice() };
      } finally {
        t.dispose();
      }
    }
    return out;
  }

  /** Releases the session; the instance must not be used afterwards. */
  async close(): Promise<void> {
    await this.session.release();
  }
}
