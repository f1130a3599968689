/**
 * The engine's one onnxruntime-node adapter: the only module that imports `onnxruntime-node` (a lint
 * rule keeps it so). Every session — the upscalers' and the diffusion pipelines' encoders, UNets and
 * VAEs — is created here, by one `OrtModel.load`, and runs plain typed arrays by name, so everything
 * above it stays pure and can be run against fakes. Signatures (names, element types, symbolic dims)
 * come from the session metadata; execution providers are chosen explicitly; every runtime failure
 * is translated into the engine's named errors.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { classifyEngineError, EngineError, ExecutionProviderUnavailableError, UnknownModelError } from './errors.js';

/**
 * Execution providers the engine can request. 'webgpu' is compiled into onnxruntime-node's own
 * Linux, Windows and macOS binaries (Dawn; on Linux it drives the GPU through Vulkan), so it needs no
 * extra download, only a GPU driver with a Vulkan ICD and libvulkan.so.1.
 */
export type ExecutionProviderName = 'cpu' | 'cuda' | 'webgpu';

/** One execution provider as this onnxruntime-node installation reports it. */
export interface ExecutionProviderInfo {
  name: string;
  /** Shipped inside the npm package's binary. */
  bundled: boolean;
  /** Usable now: bundled, or its provider library was installed next to the binding. */
  available: boolean;
}

const CUDA_INSTALL_HINT =
  'install the CUDA 12 build of onnxruntime-node: allow its install script ' +
  '(`npm pkg set allowScripts.onnxruntime-node=true --json`, npm 11+), then `ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci`; ' +
  'needs CUDA 12 + cuDNN 9 runtime libraries';

/** Execution providers reported by onnxruntime-node's listSupportedBackends, with availability. */
export function executionProviders(): ExecutionProviderInfo[] {
  const dir = bindingDir();
  return ort.listSupportedBackends().map(({ name, bundled }) => ({
    name,
    bundled,
    available: bundled || (dir !== undefined && providerLibraryPresent(dir, name)),
  }));
}

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
  async run(
    feeds: Record<string, HostTensor>,
    outputNames?: readonly string[],
    /** What is run, for error messages (e.g. "512x512 on "). */
    what = '',
  ): Promise<Record<string, HostTensor>> {
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
      throw classifyEngineError(err, `inference of ${what}${this.modelPath}`);
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

/**
 * Translates a session-creation failure: missing CUDA libraries or devices become
 * ExecutionProviderUnavailableError, the rest goes through classifyEngineError. Internal.
 */
function translateCreateError(err: unknown, provider: ExecutionProviderName, modelPath: string): EngineError {
  const message = err instanceof Error ? err.message : String(err);
  if (provider === 'webgpu' && /WebGPU adapter|No supported adapters|libvulkan|Couldn't load Vulkan/i.test(message)) {
    return new ExecutionProviderUnavailableError(
      'webgpu',
      `no WebGPU adapter: the WebGPU execution provider drives the GPU through Vulkan, so it needs the GPU's Vulkan driver (ICD) and libvulkan.so.1 (Debian: libvulkan1): ${message.split('\n')[0]}`,
      { cause: err },
    );
  }
  if (provider === 'cuda') {
    if (
      /Failed to load|cannot open shared object|providers_(shared|cuda)|libcudnn|libcublas|libcudart/i.test(message)
    ) {
      return new ExecutionProviderUnavailableError(
        'cuda',
        `CUDA execution provider cannot be loaded; ${CUDA_INSTALL_HINT}`,
        {
          cause: err,
        },
      );
    }
    if (/no CUDA-capable device|CUDA driver version|cudaErrorNoDevice|invalid device ordinal/i.test(message)) {
      return new ExecutionProviderUnavailableError(
        'cuda',
        `no usable CUDA device (check the NVIDIA driver, CUDA_VISIBLE_DEVICES and deviceId): ${message}`,
        { cause: err },
      );
    }
  }
  return classifyEngineError(err, `loading ${modelPath} on ${provider}`);
}

/**
 * The onnxruntime execution-provider list of a session. WebGPU keeps the CPU EP behind it for the
 * few operators WebGPU lacks. Internal.
 */
function sessionProviders(
  provider: ExecutionProviderName,
  deviceId = 0,
): ort.InferenceSession.SessionOptions['executionProviders'] {
  if (provider === 'cuda') return [{ name: 'cuda', deviceId }];
  if (provider === 'webgpu') return ['webgpu', 'cpu'];
  return ['cpu'];
}

/** Throws ExecutionProviderUnavailableError unless the CUDA EP is installed. Internal. */
function assertCudaInstalled(): void {
  const cuda = executionProviders().find((p) => p.name === 'cuda');
  if (!cuda) {
    throw new ExecutionProviderUnavailableError(
      'cuda',
      `this onnxruntime-node build has no CUDA execution provider; ${CUDA_INSTALL_HINT}`,
    );
  }
  if (!cuda.available) {
    throw new ExecutionProviderUnavailableError(
      'cuda',
      `CUDA execution provider is not installed; ${CUDA_INSTALL_HINT}`,
    );
  }
}

/** Folder holding onnxruntime_binding.node (where the install script puts provider libraries). */
function bindingDir(): string | undefined {
  try {
    const root = dirname(dirname(createRequire(import.meta.url).resolve('onnxruntime-node')));
    const bin = join(root, 'bin');
    for (const napi of readdirSync(bin).sort().reverse()) {
      const dir = join(bin, napi, process.platform, process.arch);
      if (existsSync(join(dir, 'onnxruntime_binding.node'))) return dir;
    }
  } catch {
    // fall through: availability then equals `bundled`
  }
  return undefined;
}

function providerLibraryPresent(dir: string, name: string): boolean {
  const base = `onnxruntime_providers_${name}`;
  return [`lib${base}.so`, `${base}.dll`, `lib${base}.dylib`].some((f) => existsSync(join(dir, f)));
}
