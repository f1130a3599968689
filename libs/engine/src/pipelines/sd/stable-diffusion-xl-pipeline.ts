/**
 * SDXL base (diffusers' StableDiffusionXLPipeline, and StableDiffusionXLImg2ImgPipeline with a base checkpoint)
 * on Optimum ONNX sub-models.
 *
 * Conditioning: both CLIP encoders' penultimate layers (`hidden_states.11` of CLIP-L, `hidden_states.31` of
 * OpenCLIP-G) concatenated on the feature axis; `text_embeds` = the second encoder's pooled projection;
 * `time_ids` = (original h, w, crop top, left, target h, w) = (h, w, 0, 0, h, w). A missing negative prompt is all
 * zeros when model_index.json says `force_zeros_for_empty_prompt` (the base does).
 *
 * `denoisingEnd` stops early and `outputType: 'latent'` returns the latents, for the base → refiner hand-off in
 * latent space (diffusers' "ensemble of expert denoisers").
 */
import type { RgbImage } from '../../rgb-image.js';
import { ControlNetStack, type ControlNetSupport } from '../controlnet/controlnet.js';
import { createGenerator, type NoiseGenerator } from '../../schedulers/generator.js';
import type { ClipTokenizer } from '../../tokenizer/clip-tokenizer.js';
import { concatFeatures, encodeClip, requirePooled } from './clip-text.js';
import { SdModelLayoutError, SdParamsError } from './errors.js';
import type { SdVaeConfig } from './optimum-layout.js';
import { floatFeed, floatOutput, requireInput, timestepFeed, type SdModel } from './sd-model.js';
import {
  compileSdParams,
  concatBatch,
  cutAtDenoisingEnd,
  guide,
  img2imgTimesteps,
  scaleF32,
  throwIfAborted,
  type SdDefaults,
  type SdRunOptions,
  type SdRunParams,
  type SdRunResult,
} from './sd-params.js';
import { chooseSdScheduler, createSdScheduler, numTrainTimesteps, type SdSchedulerChoice } from './sd-scheduler.js';
import { toDenoiserLatents, toVaeLatents, vaeDecode, vaeEncode, type SdLatents } from './vae.js';

/** The loaded parts of an SDXL base model. */
export interface StableDiffusionXLComponents {
  textEncoder: SdModel;
  tokenizer: ClipTokenizer;
  textEncoder2: SdModel;
  tokenizer2: ClipTokenizer;
  unet: SdModel;
  vaeEncoder?: SdModel;
  vaeDecoder: SdModel;
  schedulerConfig: Record<string, unknown>;
  vae: SdVaeConfig;
  defaultSize: number;
  /** model_index.json `force_zeros_for_empty_prompt` (true for the base). */
  forceZerosForEmptyPrompt: boolean;
  /** ControlNets (needs a UNet with residual inputs). */
  controlNet?: ControlNetSupport;
}

/** SDXL base: txt2img, img2img (from an image or latents), denoisingEnd / denoisingStart, latent output. */
export class StableDiffusionXLPipeline {
  readonly family = 'sdxl' as const;
  readonly scheduler: SdSchedulerChoice;
  /** diffusers' defaults: 50 steps, guidance 5.0, img2img strength 0.3. */
  readonly defaults: SdDefaults;

  constructor(
    private readonly c: StableDiffusionXLComponents,
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
    if (p.denoisingStart !== undefined && p.denoisingEnd !== undefined && p.denoisingStart >= p.denoisingEnd) {
      throw new SdParamsError('denoisingStart', 'must be below denoisingEnd');
    }
    const img2img = p.image !== undefined || p.latents !== undefined;
    if (p.denoisingStart !== undefined && !img2img) throw new SdParamsError('denoisingStart', 'needs image or latents');
    throwIfAborted(opts.signal);
    const generator = createGenerator(p.seed);
    const cfg = p.guidanceScale > 1;

    // 1. Prompt embeddings, pooled embeddings and micro-conditioning; CFG batch = [negative, positive].
    const cond = await this.encodePrompt(p.prompt);
    let context = cond.embeds;
    let textEmbeds = cond.pooled;
    const timeIds = Float32Array.from([p.height, p.width, 0, 0, p.height, p.width]);
    let timeIdsBatch: Float32Array = timeIds;
    if (cfg) {
      const zeros = p.negativePrompt === undefined && this.c.forceZerosForEmptyPrompt;
      const uncond = zeros
        ? { embeds: new Float32Array(cond.embeds.length), pooled: new Float32Array(cond.pooled.length) }
        : await this.encodePrompt(p.negativePrompt ?? '');
      context = concatBatch(uncond.embeds, cond.embeds);
      textEmbeds = concatBatch(uncond.pooled, cond.pooled);
      timeIdsBatch = concatBatch(timeIds, timeIds);
    }
    const batch = cfg ? 2 : 1;

    // 2. Timesteps (img2img: by strength or denoisingStart), then denoisingEnd.
    const scheduler = createSdScheduler(
      this.c.schedulerConfig,
      p.scheduler === undefined ? this.scheduler : chooseSdScheduler(this.c.schedulerConfig, p.scheduler),
    );
    scheduler.setTimesteps(p.steps);
    const N = numTrainTimesteps(this.c.schedulerConfig);
    let timesteps = img2img
      ? img2imgTimesteps(scheduler, p.steps, p.strength, p.denoisingStart, N)
      : Array.from(scheduler.timesteps);
    timesteps = cutAtDenoisingEnd(timesteps, p.denoisingEnd, N);

    // 3. Initial latents.
    const C = vae.latentChannels;
    const h = p.height / vae.scaleFactor;
    const w = p.width / vae.scaleFactor;
    let latents: Float32Array;
    if (img2img) {
      const init = p.latents ?? (await this.encodeImage(p.image!, generator));
      if (init.channels !== C || init.height !== h || init.width !== w) {
        throw new SdParamsError('latents', `are ${init.channels}x${init.height}x${init.width}, want ${C}x${h}x${w}`);
      }
      // diffusers adds noise only when not resuming a hand-off (denoising_start unset).
      latents =
        p.denoisingStart === undefined
          ? scheduler.addNoise(init.data, generator.randn(C * h * w), timesteps[0])
          : init.data.slice();
    } else {
      latents = scaleF32(generator.randn(C * h * w), scheduler.initNoiseSigma);
    }

    // 4. Denoising loop.
    const info = {
      sample: requireInput(unet, 'sample'),
      timestep: requireInput(unet, 'timestep'),
      context: requireInput(unet, 'encoder_hidden_states'),
      textEmbeds: requireInput(unet, 'text_embeds'),
      timeIds: requireInput(unet, 'time_ids'),
    };
    checkTimeIds(unet, info.timeIds.shape, 6);
    const fixed = {
      encoder_hidden_states: floatFeed(info.context, context, [batch, cond.seqLen, cond.dim]),
      text_embeds: floatFeed(info.textEmbeds, textEmbeds, [batch, cond.pooled.length]),
      time_ids: floatFeed(info.timeIds, timeIdsBatch, [batch, 6]),
    };
    const control = await ControlNetStack.create(this.c.controlNet, raw.controlNets, unet, p, { height: h, width: w });
    for (let i = 0; i < timesteps.length; i++) {
      throwIfAborted(opts.signal);
      const t = timesteps[i];
      const input = scheduler.scaleModelInput(cfg ? concatBatch(latents, latents) : latents, t);
      const feeds = {
        sample: floatFeed(info.sample, input, [batch, C, h, w]),
        timestep: timestepFeed(info.timestep, t, batch),
        ...fixed,
      };
      const out = await unet.run({ ...feeds, ...(await control.residuals(i, timesteps.length, feeds, batch)) });
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
    const { textEncoder, textEncoder2, unet, vaeEncoder, vaeDecoder, controlNet } = this.c;
    await Promise.all([textEncoder, textEncoder2, unet, vaeEncoder, vaeDecoder, controlNet].map((m) => m?.close()));
  }

  /** diffusers' `encode_prompt` for one prompt (prompt_2 = prompt): [77, d1 + d2] penultimate states and the pooled vector. */
  private async encodePrompt(
    text: string,
  ): Promise<{ embeds: Float32Array; pooled: Float32Array; seqLen: number; dim: number }> {
    const e1 = await encodeClip(this.c.textEncoder, this.c.tokenizer, text, 'penultimate');
    const e2 = await encodeClip(this.c.textEncoder2, this.c.tokenizer2, text, 'penultimate');
    if (e1.seqLen !== e2.seqLen) {
      throw new SdModelLayoutError(
        this.c.textEncoder2.modelPath,
        `sequence length ${e2.seqLen} ≠ text_encoder's ${e1.seqLen}`,
      );
    }
    return {
      embeds: concatFeatures(e1.hidden, e1.dim, e2.hidden, e2.dim, e1.seqLen),
      pooled: requirePooled(this.c.textEncoder2, e2),
      seqLen: e1.seqLen,
      dim: e1.dim + e2.dim,
    };
  }

  private async encodeImage(image: RgbImage, generator: NoiseGenerator): Promise<SdLatents> {
    if (!this.c.vaeEncoder) throw new SdParamsError('image', 'img2img from an image needs vae_encoder/model.onnx');
    return toDenoiserLatents(await vaeEncode(this.c.vaeEncoder, image, generator), this.c.vae, 'scale-mean-std');
  }
}

/** Throws SdModelLayoutError when a static `time_ids` length contradicts the pipeline's (6 base, 5 refiner). */
export function checkTimeIds(unet: SdModel, shape: readonly (number | string)[], want: number): void {
  const n = shape[1];
  if (typeof n === 'number' && n !== want) {
    throw new SdModelLayoutError(
      unet.modelPath,
      `time_ids has ${n} values, this pipeline sends ${want} (${want === 5 ? 'refiner: aesthetic score' : 'base: original/crop/target size'}); check model_index.json requires_aesthetics_score`,
    );
  }
}
