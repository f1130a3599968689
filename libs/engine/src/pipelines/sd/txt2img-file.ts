/**
 * One txt2img / img2img generation from a model directory to a PNG file, in this process — what
 * `tessera-agent run txt2img` runs. Loads the pipeline, runs it, writes the image, releases the sessions.
 */
import { readFile, writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import { decodeToRgb, encodeRgbPng } from '../../image-codec.js';
import type { ExecutionProviderName } from '../../ort-upscaler.js';
import type { RgbImage } from '../../rgb-image.js';
import { SdParamsError } from './errors.js';
import { loadSdPipeline, type SdPipeline } from './load-sd-pipeline.js';
import type { SdFamily } from './optimum-layout.js';
import type { SdRunParams } from './sd-params.js';
import type { CascadeStage } from '../cascade/cascade-layout.js';
import { runCascadeChain } from '../cascade/cascade-chain.js';
import type { ControlNetParams } from '../controlnet/controlnet.js';

/** Options of txt2imgFile: the generation parameters of SdRunParams, plus files and runtime. */
export interface Txt2ImgFileOptions {
  /** Optimum ONNX model directory (model_index.json at its root). */
  modelDir: string;
  /** Where the PNG goes. */
  outputPath: string;
  prompt: string;
  negativePrompt?: string;
  steps?: number;
  seed?: number;
  guidanceScale?: number;
  width?: number;
  height?: number;
  /** img2img: input image file (PNG, JPEG, WebP, …), resized (Lanczos) to width×height, or to its own size
   * rounded down to the model's size multiple when width/height are not given. */
  imagePath?: string;
  strength?: number;
  /** Scheduler override (see SdRunParams.scheduler). */
  scheduler?: string;
  /**
   * Stable Cascade (`modelDir` is a prior, stage C): the decoder (stage B) and VQGAN (stage A) directories, by default
   * `<modelDir>-b` and `<modelDir>-a` (the farm's names), and the seeds of those stages (default: `seed`; the farm
   * derives them from the job seed — `deriveStageSeed` of @tessera/protocol).
   */
  cascade?: { decoderDir?: string; vqganDir?: string; decoderSeed?: number; vqganSeed?: number };
  /** A VAE directory replacing the model's (pipelines/vae-swap/). */
  vaeDir?: string;
  /** ControlNets: directory, control image file (resized, Lanczos, to the output size) and settings. */
  controlNets?: (Omit<ControlNetParams, 'image'> & { imagePath: string })[];
  /** Default 'cpu'. */
  executionProvider?: ExecutionProviderName;
  deviceId?: number;
  intraOpThreads?: number;
  signal?: AbortSignal;
  onStep?: (step: number, total: number) => void;
}

/** What txt2imgFile did. */
export interface Txt2ImgFileResult {
  width: number;
  height: number;
  seed: number;
  /** Denoising steps run (floor(steps·strength) for img2img). */
  steps: number;
  family: SdFamily | CascadeStage | 'hunyuan-dit';
  /** Scheduler used, and the model's class when it was substituted. */
  scheduler: string;
  schedulerSubstitutedFor?: string;
  loadMs: number;
  /** Wall time of the generation (encoders, denoising, VAE), model load and codecs excluded. */
  inferenceMs: number;
}

/** Generates one image into `outputPath`. Errors: SdModelLayoutError, SdParamsError, EngineAbortedError, EngineError. */
export async function txt2imgFile(o: Txt2ImgFileOptions): Promise<Txt2ImgFileResult> {
  const started = performance.now();
  const pipeline = await loadSdPipeline(o.modelDir, {
    executionProvider: o.executionProvider,
    deviceId: o.deviceId,
    intraOpThreads: o.intraOpThreads,
    vaeDir: o.vaeDir,
  });
  try {
    const loadMs = performance.now() - started;
    const image = o.imagePath ? await readResized(o.imagePath, pipeline, o.width, o.height) : undefined;
    const seed = o.seed ?? 0;
    const outW = image?.width ?? o.width ?? pipeline.defaults.width;
    const outH = image?.height ?? o.height ?? pipeline.defaults.height;
    const controlNets: ControlNetParams[] = [];
    for (const { imagePath, ...c } of o.controlNets ?? []) {
      controlNets.push({ ...c, image: await readResized(imagePath, pipeline, outW, outH) });
    }
    const params: SdRunParams = {
      prompt: o.prompt,
      negativePrompt: o.negativePrompt,
      steps: o.steps,
      seed,
      guidanceScale: o.guidanceScale,
      ...(image ? { image } : { width: o.width, height: o.height }),
      strength: o.strength,
      scheduler: o.scheduler,
      ...(controlNets.length ? { controlNets } : {}),
    };
    let steps = 0;
    const t0 = performance.now();
    const onStep = (i: number, n: number) => {
      steps = i;
      o.onStep?.(i, n);
    };
    const result =
      pipeline.family === 'cascade-prior'
        ? await runCascadeChain(
            pipeline,
            params,
            { ...o.cascade, priorDir: o.modelDir, loadOptions: o },
            { signal: o.signal, onStep },
          )
        : await pipeline.run(params, { signal: o.signal, onStep });
    const inferenceMs = performance.now() - t0;
    if (!('images' in result)) throw new SdParamsError('outputType', 'txt2imgFile writes images');
    const out = result.images[0];
    await writeFile(o.outputPath, await encodeRgbPng(out));
    const choice = o.scheduler === undefined ? pipeline.scheduler : undefined;
    return {
      width: out.width,
      height: out.height,
      seed,
      steps,
      family: pipeline.family,
      scheduler: choice?.name ?? o.scheduler!,
      ...(choice?.substitutedFor ? { schedulerSubstitutedFor: choice.substitutedFor } : {}),
      loadMs,
      inferenceMs,
    };
  } finally {
    await pipeline.close();
  }
}

/** Decodes an image file and resizes it (Lanczos 3, as diffusers' PIL LANCZOS resize) to what the pipeline accepts. */
async function readResized(path: string, pipeline: SdPipeline, width?: number, height?: number): Promise<RgbImage> {
  const img = await decodeToRgb(await readFile(path));
  const m = pipeline.defaults.sizeMultiple;
  const w = width ?? img.width - (img.width % m);
  const h = height ?? img.height - (img.height % m);
  if (w <= 0 || h <= 0) throw new SdParamsError('image', `${img.width}x${img.height} is smaller than ${m}x${m}`);
  if (w === img.width && h === img.height) return img;
  const { data, info } = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(w, h, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return {
    width: info.width,
    height: info.height,
    data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
  };
}
