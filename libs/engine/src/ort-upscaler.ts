/**
 * The onnxruntime-node adapter for image-to-image models. With its sibling ort-session.ts (generic named
 * tensors in and out, for the diffusion pipelines) it is the only module that imports `onnxruntime-node`.
 * It chooses the execution provider explicitly, reads names/dtypes/layout from session metadata and
 * translates every runtime failure into the named errors of errors.ts.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { classifyEngineError, EngineError, ExecutionProviderUnavailableError, UnknownModelError } from './errors.js';
import { ensureUpscalerModel } from './model-cache.js';
import { assertRgbImage, rgb8ToFloat32, toRgb8, type RgbFloatImage, type RgbImage } from './rgb-image.js';
import { isUpscalerId } from './zoo.js';

/**
 * Execution providers the engine can request. 'webgpu' is compiled into onnxruntime-node's own
 * Linux, Windows and macOS binaries (Dawn; on Linux it drives the GPU through Vulkan), so it needs no
 * extra download, only a GPU driver with a Vulkan ICD and libvulkan.so.1.
 */
export type ExecutionProviderName = 'cpu' | 'cuda' | 'webgpu';

/** Options of Upscaler.load; every field is optional with the documented default. */
export interface UpscalerOptions {
  /**
   * Default 'cpu'. 'cuda' needs the CUDA EP binaries (ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci);
   * 'webgpu' needs a Vulkan driver (Linux).
   */
  executionProvider?: ExecutionProviderName;
  /** CUDA device ordinal (after CUDA_VISIBLE_DEVICES remapping). Default 0. */
  deviceId?: number;
  /** onnxruntime intra-op threads. Default: onnxruntime's choice (one per physical core). */
  intraOpThreads?: number;
  /** Cache folder for converted zoo models (see ensureUpscalerModel). */
  cacheDir?: string;
}

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

/**
 * A loaded upscaler session. `run` takes and returns RgbImage; pixel values go in as float32 0–255 and
 * come out through toRgb8 (clamp, round). Accepts NHWC `[N,H,W,3]` or NCHW `[N,3,H,W]` float32 models.
 */
export class Upscaler {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly inputName: string,
    private readonly outputName: string,
    /** Layout of the model's image tensors, read from the input metadata. */
    readonly layout: 'NHWC' | 'NCHW',
    /** The .onnx file the session was created from. */
    readonly modelPath: string,
  ) {}

  /** Loads a zoo id (converted and cached on first use) or a path to an .onnx file. */
  static async load(idOrPath: string, opts: UpscalerOptions = {}): Promise<Upscaler> {
    const provider = opts.executionProvider ?? 'cpu';
    let modelPath: string;
    if (isUpscalerId(idOrPath)) modelPath = await ensureUpscalerModel(idOrPath, { cacheDir: opts.cacheDir });
    else if (idOrPath.endsWith('.onnx') && existsSync(idOrPath)) modelPath = idOrPath;
    else throw new UnknownModelError(idOrPath);
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
    try {
      const { input, output, layout } = readSignature(session);
      return new Upscaler(session, input, output, layout, modelPath);
    } catch (err) {
      await session.release();
      throw err;
    }
  }

  /** Upscales one image to RGB8 (runFloat, then toRgb8). Same errors as runFloat. */
  async run(img: RgbImage): Promise<RgbImage> {
    const out = await this.runFloat(img);
    return { width: out.width, height: out.height, data: toRgb8(out.data) };
  }

  /**
   * Upscales one image and returns the model's raw output: interleaved RGB float32, 0–255 scale, not
   * clamped or rounded (for blending tiles before the one toRgb8 quantisation). Throws
   * InvalidImageError for a malformed image, EngineOutOfMemoryError, EngineError.
   */
  async runFloat(img: RgbImage): Promise<RgbFloatImage> {
    assertRgbImage(img, 'upscaler input');
    const { width, height } = img;
    const hwc = rgb8ToFloat32(img.data);
    const input =
      this.layout === 'NHWC'
        ? new ort.Tensor('float32', hwc, [1, height, width, 3])
        : new ort.Tensor('float32', hwcToChw(hwc, width, height), [1, 3, height, width]);
    let result: ort.InferenceSession.ReturnType;
    try {
      result = await this.session.run({ [this.inputName]: input });
    } catch (err) {
      throw classifyEngineError(err, `inference of ${width}x${height} on ${this.modelPath}`);
    } finally {
      input.dispose();
    }
    const out = result[this.outputName];
    try {
      const dims = out.dims;
      const [oh, ow] = this.layout === 'NHWC' ? [dims[1], dims[2]] : [dims[2], dims[3]];
      const channels = this.layout === 'NHWC' ? dims[3] : dims[1];
      if (dims.length !== 4 || dims[0] !== 1 || channels !== 3 || out.type !== 'float32') {
        throw new EngineError(
          `model output ${this.outputName} is ${out.type}[${dims}], want float32 RGB ${this.layout}`,
        );
      }
      const data = out.data as Float32Array;
      return { width: ow, height: oh, data: this.layout === 'NHWC' ? data.slice() : chwToHwc(data, ow, oh) };
    } finally {
      out.dispose();
    }
  }

  /** Releases the session; the instance must not be used afterwards. */
  async close(): Promise<void> {
    await this.session.release();
  }
}

function readSignature(session: ort.InferenceSession): { input: string; output: string; layout: 'NHWC' | 'NCHW' } {
  const ins = session.inputMetadata;
  const outs = session.outputMetadata;
  if (ins.length !== 1 || outs.length < 1) {
    throw new EngineError(`upscaler models take one image input, this one has ${ins.length} inputs`);
  }
  const input = ins[0];
  const output = outs[0];
  if (!input.isTensor || input.type !== 'float32' || input.shape.length !== 4) {
    const desc = input.isTensor ? `${input.type}[${input.shape}]` : 'a non-tensor';
    throw new EngineError(`upscaler input '${input.name}' is ${desc}; want float32 rank 4`);
  }
  if (!output.isTensor || output.type !== 'float32') {
    throw new EngineError(`upscaler output '${output.name}' is not a float32 tensor`);
  }
  const layout = input.shape[3] === 3 ? 'NHWC' : input.shape[1] === 3 ? 'NCHW' : undefined;
  if (!layout) throw new EngineError(`upscaler input '${input.name}' [${input.shape}] has no 3-channel axis`);
  return { input: input.name, output: output.name, layout };
}

/**
 * Translates a session-creation failure: missing CUDA libraries or devices become
 * ExecutionProviderUnavailableError, the rest goes through classifyEngineError. Internal (shared with
 * ort-session.ts, the engine's other onnxruntime adapter), not exported from index.ts.
 */
export function translateCreateError(err: unknown, provider: ExecutionProviderName, modelPath: string): EngineError {
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
 * few operators WebGPU lacks. Internal (shared with
 * ort-session.ts).
 */
export function sessionProviders(
  provider: ExecutionProviderName,
  deviceId = 0,
): ort.InferenceSession.SessionOptions['executionProviders'] {
  if (provider === 'cuda') return [{ name: 'cuda', deviceId }];
  if (provider === 'webgpu') return ['webgpu', 'cpu'];
  return ['cpu'];
}

/** Throws ExecutionProviderUnavailableError unless the CUDA EP is installed. Internal (shared with ort-session.ts). */
export function assertCudaInstalled(): void {
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

function hwcToChw(hwc: Float32Array, width: number, height: number): Float32Array {
  const plane = width * height;
  const chw = new Float32Array(hwc.length);
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) chw[c * plane + p] = hwc[p * 3 + c];
  return chw;
}

function chwToHwc(chw: Float32Array, width: number, height: number): Float32Array {
  const plane = width * height;
  const hwc = new Float32Array(chw.length);
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) hwc[p * 3 + c] = chw[c * plane + p];
  return hwc;
}
