/**
 * Stable Cascade stage B (diffusers' StableCascadeDecoderPipeline) on Tessera's ONNX export: the decoder turns the
 * prior's image embeddings (passed as `latents`, 16 channels) into stage-B latents [4, ⌊h·10.67⌋, ⌊w·10.67⌋], which
 * the VQGAN (stage A) decodes ×4 to pixels — here when the directory has `vqgan/` and the output type is 'image',
 * or in a stage-A shard of its own (StableCascadeVqganPipeline) when it is 'latent'.
 *
 * Conditioning: `clip_text_pooled` = CLIP-bigG `text_embeds` [B, 1, P] and `effnet` = the image embeddings (zeros for
 * the unconditional half under CFG). diffusers' decoder default guidance is 0 (no CFG), 10 steps.
 */
import { createGenerator } from '../../schedulers/generator.js';
import type { ClipTokenizer } from '../../tokenizer/clip-tokenizer.js';
import { SdParamsError } from '../sd/errors.js';
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
  requireChannels,
  timestepRatioFeed,
  torchLerp,
  vqganDecode,
} from './cascade-common.js';

/** The loaded parts of a Stable Cascade decoder. */
export interface StableCascadeDecoderComponents {
  textEncoder: SdModel;
  tokenizer: ClipTokenizer;
  decoder: SdModel;
  /** Absent: the decoder only returns latents. */
  vqgan?: SdModel;
  schedulerConfig: Record<string, unknown>;
  decoderConfig: Record<string, unknown>;
  /** model_index `latent_dim_scale` (10.67). */
  latentDimScale: number;
  vqganScaleFactor: number;
}

/** Stage B (+ A when it has the VQGAN): image embeddings → stage-B latents (→ image). */
export class StableCascadeDecoderPipeline {
  readonly family = 'cascade-decoder' as const;
  readonly scheduler = CASCADE_SCHEDULER;
  /** diffusers' defaults: 10 steps, guidance 0.0. */
  readonly defaults: SdDefaults = {
    width: 1024,
    height: 1024,
    steps: 10,
    guidanceScale: 0.0,
    strength: 1,
    sizeMultiple: 128,
  };

  constructor(private readonly c: StableCascadeDecoderComponents) {}

  async run(raw: SdRunParams, opts: SdRunOptions = {}): Promise<SdRunResult> {
    const { decoder } = this.c;
    const p = compileCascadeParams(raw, this.defaults, true);
    const embeddings = p.latents!;
    const E = this.effnetChannels();
    requireChannels(embeddings, E, 'the Stable Cascade decoder (image embeddings of stage C)');
    if (p.outputType === 'image' && !this.c.vqgan)
      throw new SdParamsError('outputType', "this decoder directory has no vqgan/: ask for 'latent' and run stage A");
    throwIfAborted(opts.signal);
    const generator = createGenerator(p.seed);
    const cfg = p.guidanceScale > 1;
    const batch = cfg ? 2 : 1;

    // 1. Pooled prompt embedding and effnet; CFG batch = [prompt, negative] with zero embeddings for the negative.
    const cond = await encodeCascadePrompt(this.c.textEncoder, this.c.tokenizer, p.prompt);
    let pooled = cond.pooled;
    let effnet = embeddings.data;
    if (cfg) {
      const neg = await encodeCascadePrompt(this.c.textEncoder, this.c.tokenizer, p.negativePrompt ?? '');
      pooled = cat2(cond.pooled, neg.pooled);
      effnet = cat2(embeddings.data, new Float32Array(embeddings.data.length));
    }

    // 2. Timesteps and noise [1, C, ⌊h·s⌋, ⌊w·s⌋].
    const scheduler = cascadeScheduler(this.c.schedulerConfig, p.scheduler);
    scheduler.setTimesteps(p.steps);
    const C = this.inChannels();
    const h = Math.trunc(embeddings.height * this.c.latentDimScale);
    const w = Math.trunc(embeddings.width * this.c.latentDimScale);
    let latents: Float32Array = generator.randn(C * h * w).map((v) => Math.fround(v * scheduler.initNoiseSigma));

    // 3. Denoising loop over timesteps[:-1].
    const fixed = {
      clip_text_pooled: floatFeed(requireInput(decoder, 'clip_text_pooled'), pooled, [batch, 1, cond.pooled.length]),
      effnet: floatFeed(requireInput(decoder, 'effnet'), effnet, [batch, E, embeddings.height, embeddings.width]),
    };
    const sampleInfo = requireInput(decoder, 'sample');
    const ts = Array.from(scheduler.timesteps).slice(0, -1);
    for (let i = 0; i < ts.length; i++) {
      throwIfAborted(opts.signal);
      const t = ts[i];
      const out = await decoder.run({
        sample: floatFeed(sampleInfo, cfg ? cat2(latents) : latents, [batch, C, h, w]),
        timestep_ratio: timestepRatioFeed(decoder, t, batch),
        ...fixed,
      });
      let eps: Float32Array = floatOutput(decoder, out, 'out_sample').data;
      if (cfg) eps = torchLerp(eps.subarray(latents.length), eps.subarray(0, latents.length), p.guidanceScale);
      latents = scheduler.step(eps, t, latents, { generator }).prevSample;
      opts.onStep?.(i + 1, ts.length);
    }
    const final = { channels: C, height: h, width: w, data: latents };
    if (p.outputType === 'latent') return { latents: final };
    throwIfAborted(opts.signal);
    return { images: [await vqganDecode(this.c.vqgan!, final, this.c.vqganScaleFactor)] };
  }

  async close(): Promise<void> {
    await Promise.all([this.c.textEncoder.close(), this.c.decoder.close(), this.c.vqgan?.close()]);
  }

  private inChannels(): number {
    const c = this.c.decoderConfig.in_channels;
    if (typeof c === 'number' && c > 0) return c;
    const d = requireInput(this.c.decoder, 'sample').shape[1];
    return typeof d === 'number' ? d : 4;
  }

  private effnetChannels(): number {
    const d = requireInput(this.c.decoder, 'effnet').shape[1];
    if (typeof d === 'number') return d;
    const c = this.c.decoderConfig.effnet_in_channels;
    return typeof c === 'number' && c > 0 ? c : 16;
  }
}
