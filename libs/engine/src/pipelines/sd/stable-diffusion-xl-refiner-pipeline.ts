/**
 * The SDXL refiner (diffusers' StableDiffusionXLImg2ImgPipeline with `requires_aesthetics_score`) on Optimum ONNX
 * sub-models: img2img only, from an image or from the base's latents.
 *
 * Conditioning: only `text_encoder_2` (OpenCLIP-G): its penultimate layer `hidden_states.31` and pooled
 * `text_embeds`; `time_ids` of 5 values = (original h, w, crop top, left, aesthetic score), 6.0 for the prompt and
 * 2.5 for the negative by default. The refiner's model_index.json has `force_zeros_for_empty_prompt: false`, so a
 * missing negative prompt is the encoded empty string.
 *
 * Hand-off: base `{ denoisingEnd: 0.8, outputType: 'latent' }` → refiner `{ latents, denoisingStart: 0.8 }` with
 * the same `steps`; the refiner then runs the timesteps below round(1000 − 0.8·1000) and adds no noise.
 */
import type { RgbImage } from '../../rgb-image.js';
import { createGenerator, type NoiseGenerator } from '../../schedulers/generator.js';
import type { ClipTokenizer } from '../../tokenizer/clip-tokenizer.js';
import { encodeClip, requirePooled } from './clip-text.js';
import { SdParamsError } from './errors.js';
import type { SdVaeConfig } from './optimum-layout.js';
import { floatFeed, floatOutput, requireInput, timestepFeed, type SdModel } from './sd-model.js';
import {
  compileSdParams,
  concatBatch,
  cutAtDenoisingEnd,
  guide,
  img2imgTimesteps,
  throwIfAborted,
  type SdDefaults,
  type SdRunOptions,
  type SdRunParams,
  type SdRunResult,
} from './sd-params.js';
import { chooseSdScheduler, createSdScheduler, numTrainTimesteps, type SdSchedulerChoice } from './sd-scheduler.js';
import { checkTimeIds } from './stable-diffusion-xl-pipeline.js';
import { toDenoiserLatents, toVaeLatents, vaeDecode, vaeEncode, type SdLatents } from './vae.js';

/** The loaded parts of an SDXL refiner. */
export interface StableDiffusionXLRefinerComponents {
  textEncoder2: SdModel;
  tokenizer2: ClipTokenizer;
  unet: SdModel;
  vaeEncoder?: SdModel;
  vaeDecoder: SdModel;
  schedulerConfig: Record<string, unknown>;
  vae: SdVaeConfig;
  defaultSize: number;
  /** model_index.json `force_zeros_for_empty_prompt` (false for the refiner). */
  forceZerosForEmptyPrompt: boolean;
}

/** SDXL refiner: img2img with aesthetic-score micro-conditioning. */
export class StableDiffusionXLRefinerPipeline {
  readonly family = 'sdxl-refiner' as const;
  readonly scheduler: SdSchedulerChoice;
  /** diffusers' defaults: 50 steps, guidance 5.0, strength 0.3. */
  readonly defaults: SdDefaults;

  constructor(
    private readonly c: StableDiffusionXLRefinerComponents,
    opts: { scheduler?: string } = {},
  ) {
    this.scheduler = chooseSdScheduler(c.schedulerConfig, opts.scheduler);
    this.defaults = {
      width: c.defaultSize,
      height: c.defaultSize,
      steps: 50,
      guidanceScale: 5.0,
      strength: 0.3,
      sizeMultiple: c.vae.scaleFactor,
    };
  }

  async run(raw: SdRunParams, opts: SdRunOptions = {}): Promise<SdRunResult> {
    const { unet, vae } = this.c;
    const p = compileSdParams(raw, this.defaults, vae.scaleFactor);
    if (raw.controlNets?.length)
      throw new SdParamsError('controlNets', 'ControlNet runs with SD 1.x and SDXL base only');
    if (!p.image && !p.latents)
      throw new SdParamsError('image', 'the SDXL refiner is img2img only: pass image or latents');
    if (p.denoisingStart !== undefined && p.denoisingEnd !== undefined && p.denoisingStart >= p.denoisingEnd) {
      throw new SdParamsError('denoisingStart', 'must be below denoisingEnd');
    }
    throwIfAborted(opts.signal);
    const generator = createGenerator(p.seed);
    const cfg = p.guidanceScale > 1;

    // 1. Prompt embeddings (text_encoder_2 only), pooled embeddings, aesthetic time_ids; CFG = [negative, positive].
    const cond = await this.encodePrompt(p.prompt);
    let context = cond.embeds;
    let textEmbeds = cond.pooled;
    let timeIds: Float32Array = Float32Array.from([p.height, p.width, 0, 0, p.aestheticScore]);
    if (cfg) {
      const zeros = p.negativePrompt === undefined && this.c.forceZerosForEmptyPrompt;
      const uncond = zeros
        ? { embeds: new Float32Array(cond.embeds.length), pooled: new Float32Array(cond.pooled.length) }
        : await this.encodePrompt(p.negativePrompt ?? '');
      context = concatBatch(uncond.embeds, cond.embeds);
      textEmbeds = concatBatch(uncond.pooled, cond.pooled);
      timeIds = concatBatch(Float32Array.from([p.height, p.width, 0, 0, p.negativeAestheticScore]), timeIds);
    }
    const batch = cfg ? 2 : 1;

    // 2. Timesteps: by strength, or below denoisingStart (hand-off); then denoisingEnd.
    const scheduler = createSdScheduler(
      this.c.schedulerConfig,
      p.scheduler === undefined ? this.scheduler : chooseSdScheduler(this.c.schedulerConfig, p.scheduler),
    );
    scheduler.setTimesteps(p.steps);
    const N = numTrainTimesteps(this.c.schedulerConfig);
    const timesteps = cutAtDenoisingEnd(
      img2imgTimesteps(scheduler, p.steps, p.strength, p.denoisingStart, N),
      p.denoisingEnd,
      N,
    );

    // 3. Initial latents: the base's latents as they are, or the encoded image; noised unless resuming a hand-off.
    const C = vae.latentChannels;
    const h = p.height / vae.scaleFactor;
    const w = p.width / vae.scaleFactor;
    const init = p.latents ?? (await this.encodeImage(p.image!, generator));
    if (init.channels !== C || init.height !== h || init.width !== w) {
      throw new SdParamsError('latents', `are ${init.channels}x${init.height}x${init.width}, want ${C}x${h}x${w}`);
    }
    let latents =
      p.denoisingStart === undefined
        ? scheduler.addNoise(init.data, generator.randn(C * h * w), timesteps[0])
        : init.data.slice();

    // 4. Denoising loop.
    const info = {
      sample: requireInput(unet, 'sample'),
      timestep: requireInput(unet, 'timestep'),
      context: requireInput(unet, 'encoder_hidden_states'),
      textEmbeds: requireInput(unet, 'text_embeds'),
      timeIds: requireInput(unet, 'time_ids'),
    };
    checkTimeIds(unet, info.timeIds.shape, 5);
    const fixed = {
      encoder_hidden_states: floatFeed(info.context, context, [batch, cond.seqLen, cond.dim]),
      text_embeds: floatFeed(info.textEmbeds, textEmbeds, [batch, cond.pooled.length]),
      time_ids: floatFeed(info.timeIds, timeIds, [batch, 5]),
    };
    for (let i = 0; i < timesteps.length; i++) {
      throwIfAborted(opts.signal);
      const t = timesteps[i];
      const input = scheduler.scaleModelInput(cfg ? concatBatch(latents, latents) : latents, t);
      const out = await unet.run({
        sample: floatFeed(info.sample, input, [batch, C, h, w]),
        timestep: timestepFeed(info.timestep, t, batch),
        ...fixed,
      });
      let noisePred = floatOutput(unet, out, 'out_sample').data;
      if (cfg)
        noisePred = guide(noisePred.subarray(0, latents.length), noisePred.subarray(latents.length), p.guidanceScale);
      latents = scheduler.step(noisePred, t, latents, { generator, eta: p.eta }).prevSample;
      opts.onStep?.(i + 1, timesteps.length);
    }

    const final: SdLatents = { channels: C, height: h, width: w, data: latents };
    if (p.outputType === 'latent') return { latents: final };
    throwIfAborted(opts.signal);
    return { images: [await vaeDecode(this.c.vaeDecoder, toVaeLatents(final, vae, 'scale-mean-std'))] };
  }

  async close(): Promise<void> {
    const { textEncoder2, unet, vaeEncoder, vaeDecoder } = this.c;
    await Promise.all([textEncoder2, unet, vaeEncoder, vaeDecoder].map((m) => m?.close()));
  }

  private async encodePrompt(
    text: string,
  ): Promise<{ embeds: Float32Array; pooled: Float32Array; seqLen: number; dim: number }> {
    const e = await encodeClip(this.c.textEncoder2, this.c.tokenizer2, text, 'penultimate');
    return { embeds: e.hidden, pooled: requirePooled(this.c.textEncoder2, e), seqLen: e.seqLen, dim: e.dim };
  }

  private async encodeImage(image: RgbImage, generator: NoiseGenerator): Promise<SdLatents> {
    if (!this.c.vaeEncoder) throw new SdParamsError('image', 'img2img from an image needs vae_encoder/model.onnx');
    return toDenoiserLatents(await vaeEncode(this.c.vaeEncoder, image, generator), this.c.vae, 'scale-mean-std');
  }
}
