/**
 * The upscaler: image-to-image models on the engine's one onnxruntime adapter (ort-session.ts). It
 * reads the input/output names and the layout (NHWC or NCHW) from the model's metadata, feeds float32
 * 0–255 pixels and returns RGB8 or the raw float output.
 */
import { existsSync } from 'node:fs';
import { EngineError, UnknownModelError } from './errors.js';
import { ensureUpscalerModel } from './model-cache.js';
import { OrtModel, type ExecutionProviderName, type TensorInfo } from './ort-session.js';
import { assertRgbImage, rgb8ToFloat32, toRgb8, type RgbFloatImage, type RgbImage } from './rgb-image.js';
import { isUpscalerId } from './zoo.js';

export { executionProviders, type ExecutionProviderInfo, type ExecutionProviderName } from './ort-session.js';

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

/**
 * A loaded upscaler session. `run` takes and returns RgbImage; pixel values go in as float32 0–255 and
 * come out through toRgb8 (clamp, round). Accepts NHWC `[N,H,W,3]` or NCHW `[N,3,H,W]` float32 models.
 */
export class Upscaler {
  private constructor(
    private readonly model: OrtModel,
    private readonly inputName: string,
    private readonly outputName: string,
    /** Layout of the model's image tensors, read from the input metadata. */
    readonly layout: 'NHWC' | 'NCHW',
  ) {}

  /** The .onnx file the session was created from. */
  get modelPath(): string {
    return this.model.modelPath;
  }

  /** Loads a zoo id (converted and cached on first use) or a path to an .onnx file. */
  static async load(idOrPath: string, opts: UpscalerOptions = {}): Promise<Upscaler> {
    let modelPath: string;
    if (isUpscalerId(idOrPath)) modelPath = await ensureUpscalerModel(idOrPath, { cacheDir: opts.cacheDir });
    else if (idOrPath.endsWith('.onnx') && existsSync(idOrPath)) modelPath = idOrPath;
    else throw new UnknownModelError(idOrPath);
    const model = await OrtModel.load(modelPath, opts);
    try {
      const { input, output, layout } = readSignature(model.inputs, model.outputs);
      return new Upscaler(model, input, output, layout);
    } catch (err) {
      await model.close();
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
        ? { type: 'float32', dims: [1, height, width, 3], data: hwc }
        : { type: 'float32', dims: [1, 3, height, width], data: hwcToChw(hwc, width, height) };
    const result = await this.model.run({ [this.inputName]: input }, [this.outputName], `${width}x${height} on `);
    const out = result[this.outputName];
    const dims = out.dims;
    const [oh, ow] = this.layout === 'NHWC' ? [dims[1], dims[2]] : [dims[2], dims[3]];
    const channels = this.layout === 'NHWC' ? dims[3] : dims[1];
    if (dims.length !== 4 || dims[0] !== 1 || channels !== 3 || out.type !== 'float32') {
      throw new EngineError(`model output ${this.outputName} is ${out.type}[${dims}], want float32 RGB ${this.layout}`);
    }
    const data = out.data as Float32Array;
    return { width: ow, height: oh, data: this.layout === 'NHWC' ? data : chwToHwc(data, ow, oh) };
  }

  /** Releases the session; the instance must not be used afterwards. */
  async close(): Promise<void> {
    await this.model.close();
  }
}

function readSignature(
  ins: readonly TensorInfo[],
  outs: readonly TensorInfo[],
): { input: string; output: string; layout: 'NHWC' | 'NCHW' } {
  if (ins.length !== 1 || outs.length < 1) {
    throw new EngineError(`upscaler models take one image input, this one has ${ins.length} inputs`);
  }
  const input = ins[0];
  const output = outs[0];
  if (input.type !== 'float32' || input.shape.length !== 4) {
    const desc = input.type !== 'non-tensor' ? `${input.type}[${input.shape}]` : 'a non-tensor';
    throw new EngineError(`upscaler input '${input.name}' is ${desc}; want float32 rank 4`);
  }
  if (output.type !== 'float32') {
    throw new EngineError(`upscaler output '${output.name}' is not a float32 tensor`);
  }
  const layout = input.shape[3] === 3 ? 'NHWC' : input.shape[1] === 3 ? 'NCHW' : undefined;
  if (!layout) throw new EngineError(`upscaler input '${input.name}' [${input.shape}] has no 3-channel axis`);
  return { input: input.name, output: output.name, layout };
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
