/**
 * Stable Diffusion 1.x / 2.x (diffusers' StableDiffusionPipeline and StableDiffusionImg2ImgPipeline) on Optimum
 * ONNX sub-models. The prediction type (epsilon for 1.5, v-prediction for 2.1) lives in the scheduler config.
 *
 * Noise: one torch-compatible CPU generator seeded with `seed` feeds, in diffusers' order, the VAE posterior sample
 * (img2img with a `latent_parameters` export), the initial noise, then the scheduler's stochastic steps — so a run
 * equals diffusers' with `generator=torch.Generator("cpu").manual_seed(seed)` and float32 weights, up to the
 * float32 rounding of exp/log/sin inside kernels (see README).
 */
import type { RgbImage } from '../../rgb-image.js';
import { ControlNetStack, type ControlNetSupport } from '../controlnet/controlnet.js';
import { createGenerator } from '../../schedulers/generator.js';
import type { ClipTokenizer } from '../../tokenizer/clip-tokenizer.js';
import { encodeClip } from './clip-text.js';
import { SdParamsError } from './errors.js';
import type { SdVaeConfig } from './optimum-layout.js';
import { floatFeed, floatOutput, requireInput, timestepFeed, type SdModel } from './sd-model.js';
import {
  compileSdParams,
  concatBatch,
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

/** The loaded parts of an SD 1.x / 2.x model. */
export interface StableDiffusionComponents {
  textEncoder: SdModel;
  tokenizer: ClipTokenizer;
  unet: SdModel;
  /** Needed for img2img from an image only. */
  vaeEncoder?: SdModel;
  vaeDecoder: SdModel;
  schedulerConfig: Record<string, unknown>;
  vae: SdVaeConfig;
  /** Default width/height (unet sample_size × VAE scale factor). */
  defaultSize: number;
  /** ControlNets (needs a UNet with residual inputs). */
  controlNet?: ControlNetSupport;
}

/** txt2img and img2img with classifier-free guidance for SD 1.x / 2.x. */
export class StableDiffusionPipeline {
  readonly family = 'sd' as const;
  /** The scheduler runs use (the model's, an override, or the documented substitute). */
  readonly scheduler: SdSchedulerChoice;
  /** diffusers' defaults: 50 steps, guidance 7.5, img2img strength 0.8. */
  readonly defaults: SdDefaults;

  constructor(
    private readonly c: StableDiffusionComponents,
    opts: { scheduler?: string } = {},
  ) {
    this.scheduler = chooseSdScheduler(c.schedulerConfig, opts.scheduler);
    this.defaults = {
      width: c.defaultSize,
      height: c.defaultSize,
      steps: 50,
      guidanceScale: 7.5,
      strength: 0.8,
      sizeMultiple: c.vae.scaleFactor,
    };
  }

  async run(raw: SdRunParams, opts: SdRunOptions = {}): Promise<SdRunResult> {
    const { unet, vaeDecoder } = this.c;
    const p = compileSdParams(raw, this.defaults, this.c.vae.scaleFactor);
    if (p.denoisingStart !== undefined || p.denoisingEnd !== undefined) {
      throw new SdParamsError(p.denoisingStart !== undefined ? 'denoisingStart' : 'denoisingEnd', 'is an SDXL option');
    }
    throwIfAborted(opts.signal);
    const generator = createGenerator(p.seed);
    const cfg = p.guidanceScale > 1;

    // 1. Prompt embeddings: last_hidden_state; CFG batch = [negative, positive].
    const cond = await encodeClip(this.c.textEncoder, this.c.tokenizer, p.prompt, 'last');
    let context = cond.hidden;
    if (cfg) {
      const uncond = await encodeClip(this.c.textEncoder, this.c.tokenizer, p.negativePrompt ?? '', 'last');
      context = concatBatch(uncond.hidden, cond.hidden);
    }
    const batch = cfg ? 2 : 1;
    const contextDims = [batch, cond.seqLen, cond.dim];

    // 2. Timesteps.
    const scheduler = createSdScheduler(
      this.c.schedulerConfig,
      p.scheduler === undefined ? this.scheduler : chooseSdScheduler(this.c.schedulerConfig, p.scheduler),
    );
    scheduler.setTimesteps(p.steps);
    const img2img = p.image !== undefined || p.latents !== undefined;
    const timesteps = img2img
      ? img2imgTimesteps(scheduler, p.steps, p.strength, undefined, numTrainTimesteps(this.c.schedulerConfig))
      : Array.from(scheduler.timesteps);

    // 3. Initial latents: noise × init σ, or the encoded image noised to the first timestep.
    const C = this.c.vae.latentChannels;
    const h = p.height / this.c.vae.scaleFactor;
    const w = p.width / this.c.vae.scaleFactor;
    let latents: Float32Array;
    if (img2img) {
      const init = p.latents ?? (await this.encodeImage(p.image!, generator));
      if (init.channels !== C || init.height !== h || init.width !== w) {
        throw new SdParamsError('latents', `are ${init.channels}x${init.height}x${init.width}, want ${C}x${h}x${w}`);
      }
      latents = scheduler.addNoise(init.data, generator.randn(C * h * w), timesteps[0]);
    } else {
      latents = scaleF32(generator.randn(C * h * w), scheduler.initNoiseSigma);
    }

    // 4. Denoising loop.
    const sampleInfo = requireInput(unet, 'sample');
    const timestepInfo = requireInput(unet, 'timestep');
    const contextInfo = requireInput(unet, 'encoder_hidden_states');
    const contextFeed = floatFeed(contextInfo, context, contextDims);
    const control = await ControlNetStack.create(this.c.controlNet, raw.controlNets, unet, p, { height: h, width: w });
    for (let i = 0; i < timesteps.length; i++) {
      throwIfAborted(opts.signal);
      const t = timesteps[i];
      const input = scheduler.scaleModelInput(cfg ? concatBatch(latents, latents) : latents, t);
      const feeds = {
        sample: floatFeed(sampleInfo, input, [batch, C, h, w]),
        timestep: timestepFeed(timestepInfo, t, batch),
        encoder_hidden_states: contextFeed,
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
    return { images: [await vaeDecode(vaeDecoder, toVaeLatents(final, this.c.vae, 'scale'))] };
  }

  /** Releases every session. */
  async close(): Promise<void> {
    const { textEncoder, unet, vaeEncoder, vaeDecoder, controlNet } = this.c;
    await Promise.all([textEncoder, unet, vaeEncoder, vaeDecoder, controlNet].map((m) => m?.close()));
  }

  private async encodeImage(image: RgbImage, generator: ReturnType<typeof createGenerator>): Promise<SdLatents> {
    if (!this.c.vaeEncoder) throw new SdParamsError('image', 'img2img from an image needs vae_encoder/model.onnx');
    return toDenoiserLatents(await vaeEncode(this.c.vaeEncoder, image, generator), this.c.vae, 'scale');
  }
}
