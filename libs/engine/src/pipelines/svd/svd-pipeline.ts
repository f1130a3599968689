/**
 * Stable Video Diffusion (SVD / SVD-XT) image-to-video on ONNX: diffusers' StableVideoDiffusionPipeline,
 * step for step, with the whole denoising loop in `run` below. Sub-models come from a directory in the
 * Tessera SVD layout (docs/svd-models.md) or, for tests, from anything that implements SvdSubModel.
 */
import { EngineAbortedError, EngineError } from '../../errors.js';
import { OrtModel, type HostTensor, type OrtModelOptions, type TensorInfo } from '../../ort-session.js';
import type { RgbImage } from '../../rgb-image.js';
import { EulerDiscreteScheduler } from '../../schedulers/euler-discrete.js';
import { createGenerator } from '../../schedulers/generator.js';
import {
  addedTimeIds,
  applyGuidance,
  encoderHiddenStates,
  guidanceScales,
  unetSample,
  usesGuidance,
} from './svd-math.js';
import {
  readSvdModelDir,
  resolveSvdSignatures,
  SVD_COMPONENTS,
  type SvdScalarPort,
  type SvdComponent,
  type SvdModelConfig,
  type SvdSignatures,
} from './svd-model-dir.js';
import { compileSvdParams, type SvdRunParams } from './svd-params.js';
import { clipPixelValues, framesToRgb, resizeRgbLanczos, rgbToChw } from './svd-preprocess.js';
import { filledTensor, floatTensor, toFloat32 } from './svd-tensors.js';

const f32 = Math.fround;

/** What the pipeline needs of a sub-model (OrtModel implements it; tests may pass fakes). */
export interface SvdSubModel {
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  run(feeds: Record<string, HostTensor>, outputNames?: readonly string[]): Promise<Record<string, HostTensor>>;
  close(): Promise<void>;
}

/** The four sub-models by component name. */
export type SvdSubModels = Record<SvdComponent, SvdSubModel>;

/** Options of SvdPipeline.load (onnxruntime session options of all four sub-models). */
export type SvdPipelineOptions = OrtModelOptions;

/** Per-run options: cancellation and progress. */
export interface SvdRunOptions {
  /** Checked before every model call; an abort rejects with EngineAbortedError (a running call finishes first). */
  signal?: AbortSignal;
  /** After each denoising step: `i` steps of `n` done (1 … n). */
  onStep?: (i: number, n: number) => void;
  /** After each decoded chunk: `done` frames of `total` decoded. */
  onDecode?: (done: number, total: number) => void;
}

/**
 * A loaded SVD pipeline. Invariants: `run` never mutates the pipeline's state (a fresh scheduler and
 * generator per run), so runs are independent and the same params give the same frames byte for byte on
 * every machine and every decode chunking of a frame-local decoder; runs on one instance must not overlap
 * (onnxruntime sessions are used one call at a time).
 */
export class SvdPipeline {
  /** Resolved input/output names and dtypes of the four sub-models. */
  readonly signatures: SvdSignatures;

  constructor(
    private readonly models: SvdSubModels,
    /** Configs read from the model directory. */
    readonly config: SvdModelConfig,
  ) {
    this.signatures = resolveSvdSignatures(models);
  }

  /**
   * Loads the four sessions of an SVD model directory. Throws UnknownModelError (missing files),
   * UnsupportedModelError (wrong layout or signatures), ExecutionProviderUnavailableError, EngineError.
   */
  static async load(dir: string, opts: SvdPipelineOptions = {}): Promise<SvdPipeline> {
    const { config, modelPaths } = await readSvdModelDir(dir);
    const loaded: Partial<SvdSubModels> = {};
    try {
      for (const c of SVD_COMPONENTS) loaded[c] = await OrtModel.load(modelPaths[c], opts);
      return new SvdPipeline(loaded as SvdSubModels, config);
    } catch (err) {
      await Promise.allSettled(Object.values(loaded).map((m) => m.close()));
      throw err;
    }
  }

  /**
   * Generates `numFrames` RGB8 frames of width×height from `params.image`. Throws InvalidVideoParamsError /
   * InvalidImageError for bad params, EngineAbortedError when `signal` aborts, EngineOutOfMemoryError,
   * EngineError.
   */
  async run(params: SvdRunParams, opts: SvdRunOptions = {}): Promise<RgbImage[]> {
    const p = compileSvdParams(params, { numFrames: this.config.defaultNumFrames });
    const { signal } = opts;
    const frames = p.numFrames;
    const scale = this.config.vaeScaleFactor;
    if (p.width % scale !== 0 || p.height % scale !== 0) {
      throw new EngineError(`width and height must be multiples of the VAE scale factor ${scale}`);
    }
    const [h, w] = [p.height / scale, p.width / scale];
    const guidance = usesGuidance(p.minGuidanceScale, p.maxGuidanceScale);
    const batch = guidance ? 2 : 1;
    const generator = createGenerator(p.seed);

    // 1. CLIP image embedding of the original image; zeros for the unconditional half.
    checkAbort(signal);
    const embedding = await this.encodeImage(
      clipPixelValues(p.image, this.config.imageMean, this.config.imageStd, this.config.clipSize),
    );
    const hiddenStates = encoderHiddenStates(embedding, guidance);

    // 2. Conditioning image at width×height in [−1, 1], noise-augmented, VAE-encoded (latent mode, unscaled).
    const condImage = rgbToChw(resizeRgbLanczos(p.image, p.width, p.height), 2 / 255, -1).data;
    const augNoise = generator.randn(condImage.length);
    const aug = f32(p.noiseAugStrength);
    for (let i = 0; i < condImage.length; i++) condImage[i] = f32(condImage[i] + f32(aug * augNoise[i]));
    checkAbort(signal);
    const imageLatent = await this.encodeVae(condImage, p.height, p.width, h, w);

    // 3. Micro-conditioning: [fps − 1, motion bucket, noise augmentation] per batch item.
    const timeIds = addedTimeIds(p.fps, p.motionBucketId, p.noiseAugStrength, batch);

    // 4. Timesteps and initial noise (drawn after the augmentation noise, as diffusers does).
    const scheduler = EulerDiscreteScheduler.fromDiffusersConfig(this.config.schedulerConfig);
    scheduler.setTimesteps(p.steps);
    const initSigma = f32(scheduler.initNoiseSigma);
    let latents: Float32Array = generator.randn(frames * imageLatent.length).map((v) => f32(v * initSigma));

    // 5. Guidance ramps linearly over the frames.
    const scales = guidanceScales(p.minGuidanceScale, p.maxGuidanceScale, frames);

    // 6. Denoising loop. The conditioning feeds are the same at every step: built once.
    const conditioning = this.conditioningFeeds(hiddenStates, timeIds, batch);
    const timesteps = scheduler.timesteps;
    for (let i = 0; i < timesteps.length; i++) {
      checkAbort(signal);
      const t = timesteps[i];
      const modelInput = unetSample(scheduler.scaleModelInput(latents, t), imageLatent, frames, guidance);
      const prediction = await this.predict(modelInput, t, conditioning, batch, frames, h, w);
      const noisePred = guidance ? applyGuidance(prediction, scales) : prediction;
      latents = scheduler.step(noisePred, t, latents).prevSample;
      opts.onStep?.(i + 1, timesteps.length);
    }

    // 7. Decode in chunks of decodeChunkSize frames (latents / scaling_factor), to RGB8.
    const invScaling = f32(1 / this.config.vaeScalingFactor);
    const z = latents.map((v) => f32(v * invScaling));
    const out: RgbImage[] = [];
    for (let start = 0; start < frames; start += p.decodeChunkSize) {
      checkAbort(signal);
      const count = Math.min(p.decodeChunkSize, frames - start);
      const chunk = z.subarray(start * imageLatent.length, (start + count) * imageLatent.length);
      out.push(...framesToRgb(await this.decode(chunk, count, h, w), count, p.height, p.width));
      opts.onDecode?.(start + count, frames);
    }
    return out;
  }

  /** Releases all four sessions. */
  async close(): Promise<void> {
    await Promise.allSettled(Object.values(this.models).map((m) => m.close()));
  }

  private async encodeImage(pixels: Float32Array): Promise<Float32Array> {
    const { pixelValues, imageEmbeds } = this.signatures.imageEncoder;
    const size = this.config.clipSize;
    const res = await this.models.image_encoder.run(
      { [pixelValues.name]: floatTensor(pixelValues.type, [1, 3, size, size], pixels) },
      [imageEmbeds.name],
    );
    const out = expectOutput(res, imageEmbeds.name, 'image_encoder');
    if (out.dims.length !== 2 || out.dims[0] !== 1) throw badShape('image_encoder', imageEmbeds.name, out, '[1,D]');
    return toFloat32(out, 'image_encoder output');
  }

  private async encodeVae(
    image: Float32Array,
    height: number,
    width: number,
    h: number,
    w: number,
  ): Promise<Float32Array> {
    const { sample, latentSample } = this.signatures.vaeEncoder;
    const res = await this.models.vae_encoder.run(
      { [sample.name]: floatTensor(sample.type, [1, 3, height, width], image) },
      [latentSample.name],
    );
    const out = expectOutput(res, latentSample.name, 'vae_encoder');
    if (out.dims.join() !== [1, 4, h, w].join())
      throw badShape('vae_encoder', latentSample.name, out, `[1,4,${h},${w}]`);
    return toFloat32(out, 'vae_encoder output');
  }

  /** The UNet's image-embedding and added-time-id feeds (the same at every denoising step). */
  private conditioningFeeds(
    hiddenStates: Float32Array,
    timeIds: Float32Array,
    batch: number,
  ): Record<string, HostTensor> {
    const sig = this.signatures.unet;
    return {
      [sig.encoderHiddenStates.name]: floatTensor(
        sig.encoderHiddenStates.type,
        [batch, 1, hiddenStates.length / batch],
        hiddenStates,
      ),
      [sig.addedTimeIds.name]: floatTensor(sig.addedTimeIds.type, [batch, 3], timeIds),
    };
  }

  private async predict(
    sample: Float32Array,
    t: number,
    conditioning: Record<string, HostTensor>,
    batch: number,
    frames: number,
    h: number,
    w: number,
  ): Promise<Float32Array> {
    const sig = this.signatures.unet;
    const res = await this.models.unet.run(
      {
        [sig.sample.name]: floatTensor(sig.sample.type, [batch, frames, 8, h, w], sample),
        [sig.timestep.name]: filledTensor(sig.timestep.type, scalarDims(sig.timestep, batch), t),
        ...conditioning,
      },
      [sig.outSample.name],
    );
    const out = expectOutput(res, sig.outSample.name, 'unet');
    const want = [batch, frames, 4, h, w];
    if (out.dims.join() !== want.join()) throw badShape('unet', sig.outSample.name, out, `[${want}]`);
    return toFloat32(out, 'unet output');
  }

  private async decode(latents: Float32Array, count: number, h: number, w: number): Promise<Float32Array> {
    const { latentSample, numFrames, sample } = this.signatures.vaeDecoder;
    const feeds: Record<string, HostTensor> = {
      [latentSample.name]: floatTensor(latentSample.type, [count, 4, h, w], latents),
    };
    if (numFrames) feeds[numFrames.name] = filledTensor(numFrames.type, scalarDims(numFrames, 1), count);
    const res = await this.models.vae_decoder.run(feeds, [sample.name]);
    const out = expectOutput(res, sample.name, 'vae_decoder');
    const want = [count, 3, h * this.config.vaeScaleFactor, w * this.config.vaeScaleFactor];
    if (out.dims.join() !== want.join()) throw badShape('vae_decoder', sample.name, out, `[${want}]`);
    return toFloat32(out, 'vae_decoder output');
  }
}

function checkAbort(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new EngineAbortedError('SVD run aborted', { cause: signal.reason });
}

function scalarDims(port: SvdScalarPort, batch: number): number[] {
  return port.dims === 'scalar' ? [] : port.dims === 'one' ? [1] : [batch];
}

function expectOutput(res: Record<string, HostTensor>, name: string, component: string): HostTensor {
  const out = res[name];
  if (!out) throw new EngineError(`${component} returned no '${name}'`);
  return out;
}

function badShape(component: string, name: string, t: HostTensor, want: string): EngineError {
  return new EngineError(`${component} output '${name}' is ${t.type}[${t.dims}], want ${want}`);
}
