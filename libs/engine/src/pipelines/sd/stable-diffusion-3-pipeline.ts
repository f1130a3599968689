/**
 * Stable Diffusion 3 / 3.5 (diffusers' StableDiffusion3Pipeline and StableDiffusion3Img2ImgPipeline) on Optimum
 * ONNX sub-models: an MM-DiT `transformer/` trained for flow matching, driven by FlowMatchEulerDiscreteScheduler.
 *
 * Conditioning: CLIP-L and OpenCLIP-G penultimate layers (`hidden_states[-2]`) concatenated on the feature axis,
 * zero-padded to the transformer's `joint_attention_dim`, followed on the sequence axis by T5's `last_hidden_state`
 * (256 tokens) — or, when the directory has no `text_encoder_3` (allowed by diffusers), by zeros of the CLIP length
 * (77 tokens), exactly as diffusers does; `pooled_projections` = both CLIP `text_embeds` concatenated.
 * The transformer's `timestep` is the flow-matching timestep (σ·1000) broadcast to the batch.
 * Latents: 16 channels; decode with latents / scaling_factor + shift_factor.
 */
import type { RgbImage } from '../../rgb-image.js';
import { createGenerator, type NoiseGenerator } from '../../schedulers/generator.js';
import { calculateShift, FlowMatchEulerDiscreteScheduler } from '../../schedulers/flow-match-euler-discrete.js';
import type { ClipTokenizer } from '../../tokenizer/clip-tokenizer.js';
import { encodeClip, requirePooled } from './clip-text.js';
import { SdModelLayoutError, SdParamsError } from './errors.js';
import type { SdVaeConfig } from './optimum-layout.js';
import { floatFeed, floatOutput, idsFeed, requireInput, timestepFeed, type SdModel } from './sd-model.js';
import {
  compileSdParams,
  concatBatch,
  guide,
  img2imgTimesteps,
  throwIfAborted,
  type SdDefaults,
  type SdRunOptions,
  type SdRunParams,
  type SdRunResult,
} from './sd-params.js';
import { chooseSdScheduler, createSdScheduler, numTrainTimesteps, type SdSchedulerChoice } from './sd-scheduler.js';
import { toDenoiserLatents, toVaeLatents, vaeDecode, vaeEncode, type SdLatents } from './vae.js';

/** A T5 encoder with its tokenizer (ids padded/truncated to the encoder's length, eos appended). */
export interface Sd3T5Encoder {
  model: SdModel;
  /** `tokenizer_3(text, padding="max_length", max_length=256, truncation=True)` ids. */
  tokenize(text: string): Int32Array;
}

/** The loaded parts of an SD3 model. */
export interface StableDiffusion3Components {
  textEncoder: SdModel;
  tokenizer: ClipTokenizer;
  textEncoder2: SdModel;
  tokenizer2: ClipTokenizer;
  /** Absent: T5 contributes zeros (diffusers' behaviour without text_encoder_3). */
  t5?: Sd3T5Encoder;
  transformer: SdModel;
  vaeEncoder?: SdModel;
  vaeDecoder: SdModel;
  schedulerConfig: Record<string, unknown>;
  vae: SdVaeConfig;
  defaultSize: number;
  /** transformer/config.json `joint_attention_dim` (4096 for SD3); read from the session when the config lacks it. */
  jointAttentionDim?: number;
  /** transformer/config.json `patch_size` (2). */
  patchSize: number;
}

/** SD3 / SD3.5: flow-matching txt2img and img2img with classifier-free guidance. */
export class StableDiffusion3Pipeline {
  readonly family = 'sd3' as const;
  readonly scheduler: SdSchedulerChoice;
  /** diffusers' defaults: 28 steps, guidance 7.0, img2img strength 0.6. */
  readonly defaults: SdDefaults;

  constructor(
    private readonly c: StableDiffusion3Components,
    opts: { scheduler?: string } = {},
  ) {
    this.scheduler = chooseSdScheduler(c.schedulerConfig, opts.scheduler);
    this.defaults = {
      width: c.defaultSize,
      height: c.defaultSize,
      steps: 28,
      guidanceScale: 7.0,
      strength: 0.6,
      sizeMultiple: c.vae.scaleFactor * c.patchSize,
    };
  }

  async run(raw: SdRunParams, opts: SdRunOptions = {}): Promise<SdRunResult> {
    const { transformer, vae } = this.c;
    const p = compileSdParams(raw, this.defaults, vae.scaleFactor);
    if (raw.controlNets?.length)
      throw new SdParamsError('controlNets', 'ControlNet runs with SD 1.x and SDXL base only');
    if (p.denoisingStart !== undefined || p.denoisingEnd !== undefined) {
      throw new SdParamsError(p.denoisingStart !== undefined ? 'denoisingStart' : 'denoisingEnd', 'is an SDXL option');
    }
    throwIfAborted(opts.signal);
    const generator = createGenerator(p.seed);
    const cfg = p.guidanceScale > 1;

    // 1. Prompt embeddings [CLIP-L ‖ CLIP-G padded to J ; T5] and pooled [CLIP-L ‖ CLIP-G]; CFG = [negative, positive].
    const cond = await this.encodePrompt(p.prompt);
    let context = cond.embeds;
    let pooled = cond.pooled;
    if (cfg) {
      const uncond = await this.encodePrompt(p.negativePrompt ?? '');
      context = concatBatch(uncond.embeds, cond.embeds);
      pooled = concatBatch(uncond.pooled, cond.pooled);
    }
    const batch = cfg ? 2 : 1;

    // 2. Timesteps (resolution-dependent shift when the scheduler config asks for it).
    const C = vae.latentChannels;
    const h = p.height / vae.scaleFactor;
    const w = p.width / vae.scaleFactor;
    const scheduler = createSdScheduler(
      this.c.schedulerConfig,
      p.scheduler === undefined ? this.scheduler : chooseSdScheduler(this.c.schedulerConfig, p.scheduler),
    );
    if (scheduler instanceof FlowMatchEulerDiscreteScheduler && scheduler.config.useDynamicShifting) {
      const sc = this.c.schedulerConfig;
      const num = (k: string, d: number) => (typeof sc[k] === 'number' ? (sc[k] as number) : d);
      const seqLen = Math.floor(h / this.c.patchSize) * Math.floor(w / this.c.patchSize);
      const mu = calculateShift(
        seqLen,
        num('base_image_seq_len', 256),
        num('max_image_seq_len', 4096),
        num('base_shift', 0.5),
        num('max_shift', 1.16),
      );
      scheduler.setTimesteps(p.steps, { mu });
    } else {
      scheduler.setTimesteps(p.steps);
    }
    const img2img = p.image !== undefined || p.latents !== undefined;
    const timesteps = img2img
      ? img2imgTimesteps(scheduler, p.steps, p.strength, undefined, numTrainTimesteps(this.c.schedulerConfig))
      : Array.from(scheduler.timesteps);

    // 3. Initial latents: pure noise (σ_max = 1), or the encoded image moved to the first σ by scale_noise.
    let latents: Float32Array;
    if (img2img) {
      const init = p.latents ?? (await this.encodeImage(p.image!, generator));
      if (init.channels !== C || init.height !== h || init.width !== w) {
        throw new SdParamsError('latents', `are ${init.channels}x${init.height}x${init.width}, want ${C}x${h}x${w}`);
      }
      latents = scheduler.addNoise(init.data, generator.randn(C * h * w), timesteps[0]);
    } else {
      latents = generator.randn(C * h * w);
    }

    // 4. Denoising loop.
    const info = {
      sample: requireInput(transformer, 'hidden_states'),
      timestep: requireInput(transformer, 'timestep'),
      context: requireInput(transformer, 'encoder_hidden_states'),
      pooled: requireInput(transformer, 'pooled_projections'),
    };
    const fixed = {
      encoder_hidden_states: floatFeed(info.context, context, [batch, cond.seqLen, cond.dim]),
      pooled_projections: floatFeed(info.pooled, pooled, [batch, cond.pooled.length]),
    };
    for (let i = 0; i < timesteps.length; i++) {
      throwIfAborted(opts.signal);
      const t = timesteps[i];
      const out = await transformer.run({
        hidden_states: floatFeed(info.sample, cfg ? concatBatch(latents, latents) : latents, [batch, C, h, w]),
        timestep: timestepFeed(info.timestep, t, batch),
        ...fixed,
      });
      let velocity = floatOutput(transformer, out, 'out_hidden_states').data;
      if (cfg)
        velocity = guide(velocity.subarray(0, latents.length), velocity.subarray(latents.length), p.guidanceScale);
      latents = scheduler.step(velocity, t, latents, { generator }).prevSample;
      opts.onStep?.(i + 1, timesteps.length);
    }

    const final: SdLatents = { channels: C, height: h, width: w, data: latents };
    if (p.outputType === 'latent') return { latents: final };
    throwIfAborted(opts.signal);
    return { images: [await vaeDecode(this.c.vaeDecoder, toVaeLatents(final, vae, 'scale-shift'))] };
  }

  async close(): Promise<void> {
    const { textEncoder, textEncoder2, t5, transformer, vaeEncoder, vaeDecoder } = this.c;
    await Promise.all(
      [textEncoder, textEncoder2, t5?.model, transformer, vaeEncoder, vaeDecoder].map((m) => m?.close()),
    );
  }

  /** diffusers' SD3 `encode_prompt` for one prompt (prompt_2 = prompt_3 = prompt). */
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
    const J = this.jointAttentionDim();
    const clipDim = e1.dim + e2.dim;
    if (clipDim > J) {
      throw new SdModelLayoutError(this.c.transformer.modelPath, `joint_attention_dim ${J} < CLIP features ${clipDim}`);
    }
    const t5 = await this.encodeT5(text, e1.seqLen, J);
    const seqLen = e1.seqLen + t5.seqLen;
    const embeds = new Float32Array(seqLen * J); // zero padding of the CLIP rows comes free
    for (let s = 0; s < e1.seqLen; s++) {
      embeds.set(e1.hidden.subarray(s * e1.dim, (s + 1) * e1.dim), s * J);
      embeds.set(e2.hidden.subarray(s * e2.dim, (s + 1) * e2.dim), s * J + e1.dim);
    }
    embeds.set(t5.hidden, e1.seqLen * J);
    const p1 = requirePooled(this.c.textEncoder, e1);
    const p2 = requirePooled(this.c.textEncoder2, e2);
    return { embeds, pooled: concatBatch(p1, p2), seqLen, dim: J };
  }

  private async encodeT5(
    text: string,
    clipLength: number,
    J: number,
  ): Promise<{ hidden: Float32Array; seqLen: number }> {
    const t5 = this.c.t5;
    if (!t5) return { hidden: new Float32Array(clipLength * J), seqLen: clipLength };
    const ids = t5.tokenize(text);
    const out = await t5.model.run({ input_ids: idsFeed(requireInput(t5.model, 'input_ids'), ids, [1, ids.length]) }, [
      'last_hidden_state',
    ]);
    const { data, dims } = floatOutput(t5.model, out, 'last_hidden_state');
    if (dims[2] !== J)
      throw new SdModelLayoutError(
        t5.model.modelPath,
        `last_hidden_state has ${dims[2]} features, the transformer wants ${J}`,
      );
    return { hidden: data, seqLen: dims[1] };
  }

  private jointAttentionDim(): number {
    if (this.c.jointAttentionDim) return this.c.jointAttentionDim;
    const d = requireInput(this.c.transformer, 'encoder_hidden_states').shape[2];
    if (typeof d !== 'number') {
      throw new SdModelLayoutError(
        this.c.transformer.modelPath,
        'joint_attention_dim is neither in transformer/config.json nor static in the graph',
      );
    }
    return d;
  }

  private async encodeImage(image: RgbImage, generator: NoiseGenerator): Promise<SdLatents> {
    if (!this.c.vaeEncoder) throw new SdParamsError('image', 'img2img from an image needs vae_encoder/model.onnx');
    return toDenoiserLatents(await vaeEncode(this.c.vaeEncoder, image, generator), this.c.vae, 'scale-shift');
  }
}
