/**
 * Stable Cascade stage C (diffusers' StableCascadePriorPipeline) on Tessera's ONNX export: the text-conditional
 * prior generates the compressed image embeddings [16, ⌈H/42.67⌉, ⌈W/42.67⌉] that stage B decodes.
 *
 * Conditioning: CLIP-bigG `hidden_states[-1]` as `clip_text`, its `text_embeds` as `clip_text_pooled` [B, 1, P], and
 * zeros as `clip_img` [B, 1, I] (no image prompt). CFG when guidance > 1, batch [prompt, negative] combined by
 * torch.lerp(uncond, text, g). Scheduler: DDPMWuerstchenScheduler, looping over timesteps[:-1] with
 * `timestep_ratio` = t. The output is always the final latents (the image embeddings).
 */
import { createGenerator } from '../../schedulers/generator.js';
import type { ClipTokenizer } from '../../tokenizer/clip-tokenizer.js';
import { SdModelLayoutError, SdParamsError } from '../sd/errors.js';
import { floatFeed, floatOutput, requireInput, type SdModel } from '../sd/sd-model.js';
import {
  throwIfAborted,
  type SdDefaults,
  type SdRunOptions,
  type SdRunParams,
  type SdRunResult,
} from '../sd/sd-params.js';
import {
  CASCADE_SCHEDULER,
  cascadeScheduler,
  cat2,
  compileCascadeParams,
  encodeCascadePrompt,
  timestepRatioFeed,
  torchLerp,
} from './cascade-common.js';

/** The loaded parts of a Stable Cascade prior. */
export interface StableCascadePriorComponents {
  textEncoder: SdModel;
  tokenizer: ClipTokenizer;
  prior: SdModel;
  schedulerConfig: Record<string, unknown>;
  /** prior/config.json (in_channels, clip_image_in_channels). */
  priorConfig: Record<string, unknown>;
  /** model_index `resolution_multiple` (42.67). */
  resolutionMultiple: number;
}

/** Stage C: prompt → image embeddings. */
export class StableCascadePriorPipeline {
  readonly family = 'cascade-prior' as const;
  readonly scheduler = CASCADE_SCHEDULER;
  /**
   * diffusers' defaults: 1024², 20 steps, guidance 4.0. Sizes are multiples of 128, where C → B → A gives back exactly
   * the requested size (⌈H/42.67⌉·10.67 truncated, ×4 = H).
   */
  readonly defaults: SdDefaults = {
    width: 1024,
    height: 1024,
    steps: 20,
    guidanceScale: 4.0,
    strength: 1,
    sizeMultiple: 128,
  };

  constructor(private readonly c: StableCascadePriorComponents) {}

  async run(raw: SdRunParams, opts: SdRunOptions = {}): Promise<SdRunResult> {
    const { prior } = this.c;
    const p = compileCascadeParams(raw, this.defaults, false);
    if (p.outputType !== 'latent') {
      throw new SdParamsError('outputType', "the Stable Cascade prior returns image embeddings: ask for 'latent'");
    }
    throwIfAborted(opts.signal);
    const generator = createGenerator(p.seed);
    const cfg = p.guidanceScale > 1;
    const batch = cfg ? 2 : 1;

    // 1. Prompt embeddings; CFG batch = [prompt, negative] (diffusers' Cascade order).
    const cond = await encodeCascadePrompt(this.c.textEncoder, this.c.tokenizer, p.prompt);
    let clipText = cond.hidden;
    let clipPooled = cond.pooled;
    if (cfg) {
      const neg = await encodeCascadePrompt(this.c.textEncoder, this.c.tokenizer, p.negativePrompt ?? '');
      clipText = cat2(cond.hidden, neg.hidden);
      clipPooled = cat2(cond.pooled, neg.pooled);
    }
    const clipImgDim = this.clipImageChannels();

    // 2. Timesteps and initial noise [1, 16, ⌈H/r⌉, ⌈W/r⌉] × init_noise_sigma.
    const scheduler = cascadeScheduler(this.c.schedulerConfig, p.scheduler);
    scheduler.setTimesteps(p.steps);
    const C = this.inChannels();
    const h = Math.ceil(p.height / this.c.resolutionMultiple);
    const w = Math.ceil(p.width / this.c.resolutionMultiple);
    let latents: Float32Array = generator.randn(C * h * w).map((v) => Math.fround(v * scheduler.initNoiseSigma));

    // 3. Denoising loop over timesteps[:-1].
    const fixed = {
      clip_text_pooled: floatFeed(requireInput(prior, 'clip_text_pooled'), clipPooled, [batch, 1, cond.pooled.length]),
      clip_text: floatFeed(requireInput(prior, 'clip_text'), clipText, [batch, cond.seqLen, cond.dim]),
      clip_img: floatFeed(requireInput(prior, 'clip_img'), new Float32Array(batch * clipImgDim), [
        batch,
        1,
        clipImgDim,
      ]),
    };
    const sampleInfo = requireInput(prior, 'sample');
    const ts = Array.from(scheduler.timesteps).slice(0, -1);
    for (let i = 0; i < ts.length; i++) {
      throwIfAborted(opts.signal);
      const t = ts[i];
      const out = await prior.run({
        sample: floatFeed(sampleInfo, cfg ? cat2(latents) : latents, [batch, C, h, w]),
        timestep_ratio: timestepRatioFeed(prior, t, batch),
        ...fixed,
      });
      let eps: Float32Array = floatOutput(prior, out, 'out_sample').data;
      if (cfg) eps = torchLerp(eps.subarray(latents.length), eps.subarray(0, latents.length), p.guidanceScale);
      latents = scheduler.step(eps, t, latents, { generator }).prevSample;
      opts.onStep?.(i + 1, ts.length);
    }
    return { latents: { channels: C, height: h, width: w, data: latents } };
  }

  async close(): Promise<void> {
    await Promise.all([this.c.textEncoder.close(), this.c.prior.close()]);
  }

  private inChannels(): number {
    const c = this.c.priorConfig.in_channels;
    if (typeof c === 'number' && c > 0) return c;
    const d = requireInput(this.c.prior, 'sample').shape[1];
    return typeof d === 'number' ? d : 16;
  }

  private clipImageChannels(): number {
    const d = requireInput(this.c.prior, 'clip_img').shape[2];
    if (typeof d === 'number') return d;
    const c = this.c.priorConfig.clip_image_in_channels;
    if (typeof c === 'number' && c > 0) return c;
    throw new SdModelLayoutError(this.c.prior.modelPath, 'clip_img width is neither static nor in prior/config.json');
  }
}
