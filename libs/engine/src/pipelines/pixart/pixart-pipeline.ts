/**
 * PixArt-α and PixArt-Σ (diffusers' PixArtAlphaPipeline and PixArtSigmaPipeline; txt2img only — diffusers has no
 * PixArt img2img) on ONNX sub-models: `text_encoder/` (T5 `last_hidden_state`, fed `attention_mask` when the export
 * declares it), `tokenizer/` (T5, padded to max_sequence_length: 120 for α, 300 for Σ), `transformer/`
 * (PixArtTransformer2DModel: `hidden_states` [B, 4, h, w], `encoder_hidden_states` [B, S, D],
 * `encoder_attention_mask` [B, S], `timestep` [B], and for α at 1024 px (sample_size 128) `resolution` [B, 2] and
 * `aspect_ratio` [B, 1] → `out_hidden_states` [B, 8, h, w] (learned σ: the first 4 channels are ε)) and the VAE.
 *
 * The loop: resolution binning of the requested size; the prompt lower-cased and stripped (diffusers' text
 * preprocessing without bs4/ftfy caption cleaning); CFG batch [negative ("" by default), positive] when guidance > 1;
 * DPM-Solver++ (the model's scheduler) with noise × init σ; decode latents / scaling_factor; resize and crop back to
 * the requested size (see pixart-bins.ts). Defaults: 20 steps, guidance 4.5.
 */
import { createGenerator } from '../../schedulers/generator.js';
import { SdModelLayoutError, SdParamsError } from '../sd/errors.js';
import type { SdVaeConfig } from '../sd/optimum-layout.js';
import { floatFeed, floatOutput, hasInput, idsFeed, requireInput, timestepFeed, type SdModel } from '../sd/sd-model.js';
import {
  compileSdParams,
  concatBatch,
  guide,
  scaleF32,
  throwIfAborted,
  type SdDefaults,
  type SdRunOptions,
  type SdRunParams,
  type SdRunResult,
} from '../sd/sd-params.js';
import { chooseSdScheduler, createSdScheduler, type SdSchedulerChoice } from '../sd/sd-scheduler.js';
import { toVaeLatents, vaeOutputToRgb, type SdLatents } from '../sd/vae.js';
import { aspectRatioBins, classifyHeightWidthBin, resizeAndCrop, type AspectBin } from './pixart-bins.js';

/** T5 with its tokenizer (ids padded to max_sequence_length, `</s>` appended). */
export interface PixArtT5Encoder {
  model: SdModel;
  tokenize(text: string): Int32Array;
  /** `</s>`: the attention mask covers the ids up to and including it. */
  eosId: number;
}

/** The loaded parts of a PixArt model. */
export interface PixArtComponents {
  variant: 'alpha' | 'sigma';
  t5: PixArtT5Encoder;
  transformer: SdModel;
  vaeDecoder: SdModel;
  schedulerConfig: Record<string, unknown>;
  vae: SdVaeConfig;
  /** transformer/config.json `sample_size` (latent pixels): picks the bin table and α's extra conditions. */
  sampleSize: number;
  /** transformer/config.json `out_channels` (8 with learned σ). */
  outChannels: number;
}

/** PixArt-α / PixArt-Σ txt2img. */
export class PixArtPipeline {
  readonly family = 'pixart' as const;
  readonly scheduler: SdSchedulerChoice;
  readonly defaults: SdDefaults;
  private readonly bins: AspectBin[];

  constructor(
    private readonly c: PixArtComponents,
    opts: { scheduler?: string } = {},
  ) {
    this.scheduler = chooseSdScheduler(c.schedulerConfig, opts.scheduler);
    const bins = aspectRatioBins(c.sampleSize, c.variant);
    if (!bins) {
      throw new SdModelLayoutError(
        c.transformer.modelPath,
        `sample_size ${c.sampleSize} has no resolution bins (PixArt-${c.variant === 'alpha' ? 'α: 32, 64 or 128' : 'Σ: 32, 64, 128 or 256'})`,
      );
    }
    this.bins = bins;
    const size = c.sampleSize * c.vae.scaleFactor;
    this.defaults = { width: size, height: size, steps: 20, guidanceScale: 4.5, strength: 1, sizeMultiple: 8 };
  }

  async run(raw: SdRunParams, opts: SdRunOptions = {}): Promise<SdRunResult> {
    const { transformer, vae } = this.c;
    const p = compileSdParams(raw, this.defaults, vae.scaleFactor);
    if (raw.controlNets?.length)
      throw new SdParamsError('controlNets', 'ControlNet runs with SD 1.x and SDXL base only');
    if (p.image || p.latents)
      throw new SdParamsError('image', 'PixArt is txt2img only (diffusers has no img2img for it)');
    if (p.denoisingStart !== undefined || p.denoisingEnd !== undefined) {
      throw new SdParamsError(p.denoisingStart !== undefined ? 'denoisingStart' : 'denoisingEnd', 'is an SDXL option');
    }
    throwIfAborted(opts.signal);
    const generator = createGenerator(p.seed);
    const cfg = p.guidanceScale > 1;

    // 1. Resolution binning: generate at the closest trained size, resize back at the end.
    const bin = classifyHeightWidthBin(p.height, p.width, this.bins);
    const C = vae.latentChannels;
    const h = bin.height / vae.scaleFactor;
    const w = bin.width / vae.scaleFactor;

    // 2. Prompt embeddings and masks; CFG batch = [negative, positive].
    const cond = await this.encode(p.prompt);
    let context = cond.hidden;
    let mask = cond.mask;
    if (cfg) {
      const uncond = await this.encode(p.negativePrompt ?? '');
      context = concatBatch(uncond.hidden, cond.hidden);
      mask = concatBatch(uncond.mask, cond.mask);
    }
    const batch = cfg ? 2 : 1;

    // 3. Timesteps and initial noise.
    const scheduler = createSdScheduler(
      this.c.schedulerConfig,
      p.scheduler === undefined ? this.scheduler : chooseSdScheduler(this.c.schedulerConfig, p.scheduler),
    );
    scheduler.setTimesteps(p.steps);
    scheduler.setBeginIndex?.(0);
    const timesteps = Array.from(scheduler.timesteps);
    let latents = scaleF32(generator.randn(C * h * w), scheduler.initNoiseSigma);

    // 4. Denoising loop.
    const info = {
      sample: requireInput(transformer, 'hidden_states'),
      timestep: requireInput(transformer, 'timestep'),
      context: requireInput(transformer, 'encoder_hidden_states'),
      mask: requireInput(transformer, 'encoder_attention_mask'),
    };
    const fixed: Record<string, ReturnType<typeof floatFeed>> = {
      encoder_hidden_states: floatFeed(info.context, context, [batch, cond.seqLen, cond.dim]),
      encoder_attention_mask: maskFeed(info.mask, mask, [batch, cond.seqLen]),
    };
    if (this.c.variant === 'alpha' && this.c.sampleSize === 128) {
      // α-1024's micro-conditions: (height, width) and height / width of the binned size.
      const res = new Float32Array(batch * 2);
      const ar = new Float32Array(batch).fill(bin.height / bin.width);
      for (let b = 0; b < batch; b++) res.set([bin.height, bin.width], b * 2);
      fixed.resolution = floatFeed(requireInput(transformer, 'resolution'), res, [batch, 2]);
      fixed.aspect_ratio = floatFeed(requireInput(transformer, 'aspect_ratio'), ar, [batch, 1]);
    }
    const plane = C * h * w;
    for (let i = 0; i < timesteps.length; i++) {
      throwIfAborted(opts.signal);
      const t = timesteps[i];
      const input = scheduler.scaleModelInput(cfg ? concatBatch(latents, latents) : latents, t);
      const out = await transformer.run({
        hidden_states: floatFeed(info.sample, input, [batch, C, h, w]),
        timestep: timestepFeed(info.timestep, t, batch),
        ...fixed,
      });
      const { data, dims } = floatOutput(transformer, out, 'out_hidden_states');
      const outC = dims[1];
      if (outC !== C && outC !== 2 * C) {
        throw new SdModelLayoutError(
          transformer.modelPath,
          `out_hidden_states has ${outC} channels, want ${C} or ${2 * C}`,
        );
      }
      // Guidance on the full output, then the ε half when σ is learned (diffusers' order).
      const per = outC * h * w;
      let pred = cfg ? guide(data.subarray(0, per), data.subarray(per), p.guidanceScale) : data.subarray(0, per);
      if (outC === 2 * C) pred = pred.slice(0, plane);
      latents = scheduler.step(pred, t, latents, { generator, eta: p.eta }).prevSample;
      opts.onStep?.(i + 1, timesteps.length);
    }

    const final: SdLatents = { channels: C, height: h, width: w, data: latents };
    if (p.outputType === 'latent') return { latents: final };
    throwIfAborted(opts.signal);
    const z = toVaeLatents(final, vae, 'scale');
    const dec = this.c.vaeDecoder;
    const res = await dec.run({ latent_sample: floatFeed(requireInput(dec, 'latent_sample'), z.data, [1, C, h, w]) });
    const { data, dims } = floatOutput(dec, res, 'sample');
    if (dims.length !== 4 || dims[1] !== 3) throw new SdModelLayoutError(dec.modelPath, `sample has dims [${dims}]`);
    const pixels = resizeAndCrop(data, 3, dims[2], dims[3], p.height, p.width);
    return { images: [vaeOutputToRgb(pixels, p.width, p.height)] };
  }

  async close(): Promise<void> {
    const { t5, transformer, vaeDecoder } = this.c;
    await Promise.all([t5.model, transformer, vaeDecoder].map((m) => m.close()));
  }

  /** T5 on `text.toLowerCase().trim()`: hidden [S, D] and the attention mask (1 up to and including `</s>`). */
  private async encode(
    text: string,
  ): Promise<{ hidden: Float32Array; mask: Float32Array; seqLen: number; dim: number }> {
    const { model, tokenize, eosId } = this.c.t5;
    const ids = tokenize(text.toLowerCase().trim());
    const eos = ids.indexOf(eosId);
    const mask = new Float32Array(ids.length).map((_, i) => (i <= eos ? 1 : 0));
    const feeds: Record<string, ReturnType<typeof idsFeed>> = {
      input_ids: idsFeed(requireInput(model, 'input_ids'), ids, [1, ids.length]),
    };
    if (hasInput(model, 'attention_mask')) {
      feeds.attention_mask = idsFeed(requireInput(model, 'attention_mask'), Int32Array.from(mask), [1, ids.length]);
    }
    const out = await model.run(feeds, ['last_hidden_state']);
    const { data, dims } = floatOutput(model, out, 'last_hidden_state');
    if (dims.length !== 3) throw new SdModelLayoutError(model.modelPath, `last_hidden_state has dims [${dims}]`);
    return { hidden: data, mask, seqLen: dims[1], dim: dims[2] };
  }
}

/** The attention mask as the export declares it: int64 / int32 ids-like, or float. */
function maskFeed(info: ReturnType<typeof requireInput>, mask: Float32Array, dims: number[]) {
  if (info.type === 'int64' || info.type === 'int32') return idsFeed(info, Int32Array.from(mask), dims);
  return floatFeed(info, mask, dims);
}
