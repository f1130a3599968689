/**
 * Hunyuan-DiT v1.2 (diffusers' HunyuanDiTPipeline) on ONNX sub-models: a bilingual BERT "CLIP" encoder (77 tokens)
 * and an mT5 encoder (256 tokens), both with their attention masks, condition a DiT with 2-D rotary position
 * embeddings, driven by DDPMScheduler with v-prediction. Resolution binning maps the size to the trained shapes.
 *
 * Loop (as diffusers): latents [1, 4, H/8, W/8] ~ N(0, 1)·init_noise_sigma; each step the transformer sees
 * `x` = [latents; latents] under CFG (batch [negative, prompt]), `t` = t broadcast, both encoders' states and masks,
 * and `cos_cis_img` / `sin_cis_img`; of its 8 output channels the first 4 are the prediction (learned σ dropped);
 * guidance uncond + g·(cond − uncond). v1.0/1.1 exports that also declare `image_meta_size` and `style` get
 * (1024, 1024, H, W, 0, 0) and style 0. Decode: latents / scaling_factor through the VAE.
 */
import { createGenerator } from '../../schedulers/generator.js';
import type { DDPMScheduler } from '../../schedulers/ddpm.js';
import type { BertWordPieceTokenizer } from '../../tokenizer/bert-wordpiece.js';
import { SdModelLayoutError, SdParamsError } from '../sd/errors.js';
import type { SdVaeConfig } from '../sd/optimum-layout.js';
import {
  floatFeed,
  floatOutput,
  hasInput,
  idsFeed,
  requireInput,
  timestepFeed,
  type HostTensor,
  type SdModel,
} from '../sd/sd-model.js';
import {
  compileSdParams,
  concatBatch,
  guide,
  throwIfAborted,
  type SdDefaults,
  type SdRunOptions,
  type SdRunParams,
  type SdRunResult,
} from '../sd/sd-params.js';
import { toVaeLatents, vaeDecode } from '../sd/vae.js';
import { binHunyuanResolution, hunyuanRotaryEmbedding } from './hunyuan-math.js';

/** A tokenizer returning ids and the attention mask. */
export interface MaskedTokenizer {
  encodeForModel(text: string): { inputIds: Int32Array; attentionMask: Int32Array };
}

/** The loaded parts of a Hunyuan-DiT model. */
export interface HunyuanDiTComponents {
  textEncoder: SdModel;
  tokenizer: BertWordPieceTokenizer | MaskedTokenizer;
  textEncoder2: SdModel;
  tokenizer2: MaskedTokenizer;
  transformer: SdModel;
  vaeDecoder: SdModel;
  scheduler: () => DDPMScheduler;
  schedulerName: { name: string; className: string };
  vae: SdVaeConfig;
  /** transformer/config.json (patch_size, attention_head_dim, sample_size, in_channels). */
  transformerConfig: Record<string, unknown>;
}

/** Hunyuan-DiT txt2img with classifier-free guidance. */
export class HunyuanDiTPipeline {
  readonly family = 'hunyuan-dit' as const;
  readonly scheduler: { name: string; className: string };
  /** diffusers' defaults: 1024², 50 steps, guidance 5.0; sizes multiples of 16 (VAE 8 × patch 2), binned. */
  readonly defaults: SdDefaults;

  constructor(private readonly c: HunyuanDiTComponents) {
    this.scheduler = c.schedulerName;
    const size = this.num('sample_size', 128) * c.vae.scaleFactor;
    this.defaults = {
      width: size,
      height: size,
      steps: 50,
      guidanceScale: 5.0,
      strength: 1,
      sizeMultiple: 8 * this.num('patch_size', 2),
    };
  }

  async run(raw: SdRunParams, opts: SdRunOptions = {}): Promise<SdRunResult> {
    if (raw.image || raw.latents)
      throw new SdParamsError(raw.image ? 'image' : 'latents', 'Hunyuan-DiT has no img2img pipeline');
    if (raw.denoisingStart !== undefined || raw.denoisingEnd !== undefined)
      throw new SdParamsError(
        raw.denoisingStart !== undefined ? 'denoisingStart' : 'denoisingEnd',
        'is an SDXL option',
      );
    if (
      raw.scheduler !== undefined &&
      raw.scheduler !== this.scheduler.name &&
      raw.scheduler !== this.scheduler.className
    )
      throw new SdParamsError('scheduler', `Hunyuan-DiT runs its DDPMScheduler (v-prediction), not '${raw.scheduler}'`);
    // diffusers' use_resolution_binning: sizes outside the trained shapes move to the closest one.
    // (diffusers first floors the size to multiples of 16.)
    const floor16 = (v: number) => Math.floor(v / 16) * 16;
    const binned = binHunyuanResolution(
      floor16(raw.width ?? this.defaults.width),
      floor16(raw.height ?? this.defaults.height),
    );
    const p = compileSdParams({ ...raw, ...binned, scheduler: undefined }, this.defaults, this.c.vae.scaleFactor);
    const { transformer, vae } = this.c;
    throwIfAborted(opts.signal);
    const generator = createGenerator(p.seed);
    const cfg = p.guidanceScale > 1;
    const batch = cfg ? 2 : 1;

    // 1. Both encoders; CFG batch = [negative, prompt].
    const cond = await this.encode(p.prompt);
    let enc = cond;
    if (cfg) {
      const neg = await this.encode(p.negativePrompt ?? '');
      enc = {
        clip: concatBatch(neg.clip, cond.clip),
        clipMask: concatInts(neg.clipMask, cond.clipMask),
        t5: concatBatch(neg.t5, cond.t5),
        t5Mask: concatInts(neg.t5Mask, cond.t5Mask),
        clipShape: cond.clipShape,
        t5Shape: cond.t5Shape,
      };
    }

    // 2. Timesteps, noise, rotary tables.
    const scheduler = this.c.scheduler();
    scheduler.setTimesteps(p.steps);
    const C = this.num('in_channels', 4);
    const h = p.height / vae.scaleFactor;
    const w = p.width / vae.scaleFactor;
    let latents: Float32Array = generator.randn(C * h * w).map((v) => Math.fround(v * scheduler.initNoiseSigma));
    const patch = this.num('patch_size', 2);
    const headDim = this.headDim();
    const rope = hunyuanRotaryEmbedding(
      headDim,
      Math.floor(h / patch),
      Math.floor(w / patch),
      Math.floor(512 / 8 / patch),
    );
    const n = (rope.cos.length / headDim) | 0;

    const fixed: Record<string, HostTensor> = {
      encoder_hidden_states: floatFeed(requireInput(transformer, 'encoder_hidden_states'), enc.clip, [
        batch,
        ...enc.clipShape,
      ]),
      text_embedding_mask: idsFeed(requireInput(transformer, 'text_embedding_mask'), enc.clipMask, [
        batch,
        enc.clipShape[0],
      ]),
      encoder_hidden_states_t5: floatFeed(requireInput(transformer, 'encoder_hidden_states_t5'), enc.t5, [
        batch,
        ...enc.t5Shape,
      ]),
      text_embedding_mask_t5: idsFeed(requireInput(transformer, 'text_embedding_mask_t5'), enc.t5Mask, [
        batch,
        enc.t5Shape[0],
      ]),
      cos_cis_img: floatFeed(requireInput(transformer, 'cos_cis_img'), rope.cos, [n, headDim]),
      sin_cis_img: floatFeed(requireInput(transformer, 'sin_cis_img'), rope.sin, [n, headDim]),
    };
    if (hasInput(transformer, 'image_meta_size')) {
      const meta = new Float32Array(batch * 6);
      for (let b = 0; b < batch; b++) meta.set([1024, 1024, p.height, p.width, 0, 0], b * 6);
      fixed.image_meta_size = floatFeed(requireInput(transformer, 'image_meta_size'), meta, [batch, 6]);
    }
    if (hasInput(transformer, 'style'))
      fixed.style = idsFeed(requireInput(transformer, 'style'), new Int32Array(batch), [batch]);

    // 3. Denoising loop.
    const xInfo = requireInput(transformer, 'x');
    const tInfo = requireInput(transformer, 't');
    const timesteps = Array.from(scheduler.timesteps);
    const plane = C * h * w;
    for (let i = 0; i < timesteps.length; i++) {
      throwIfAborted(opts.signal);
      const t = timesteps[i];
      const out = await transformer.run({
        x: floatFeed(xInfo, cfg ? concatBatch(latents, latents) : latents, [batch, C, h, w]),
        t: timestepFeed(tInfo, t, batch),
        ...fixed,
      });
      const o = floatOutput(transformer, out, 'output');
      const outC = o.dims[1];
      if (outC !== C && outC !== 2 * C)
        throw new SdModelLayoutError(transformer.modelPath, `output has ${outC} channels, want ${C} or ${2 * C}`);
      // noise_pred.chunk(2, dim=1)[0]: the first C channels of each batch item.
      const pred = new Float32Array(batch * plane);
      for (let b = 0; b < batch; b++) pred.set(o.data.subarray(b * outC * h * w, b * outC * h * w + plane), b * plane);
      const v = cfg ? guide(pred.subarray(0, plane), pred.subarray(plane), p.guidanceScale) : pred;
      latents = scheduler.step(v, t, latents, { generator }).prevSample;
      opts.onStep?.(i + 1, timesteps.length);
    }
    const final = { channels: C, height: h, width: w, data: latents };
    if (p.outputType === 'latent') return { latents: final };
    throwIfAborted(opts.signal);
    return { images: [await vaeDecode(this.c.vaeDecoder, toVaeLatents(final, vae, 'scale'))] };
  }

  async close(): Promise<void> {
    const { textEncoder, textEncoder2, transformer, vaeDecoder } = this.c;
    await Promise.all([textEncoder, textEncoder2, transformer, vaeDecoder].map((m) => m.close()));
  }

  /** diffusers' `encode_prompt` with both encoders: last_hidden_state and the attention mask of each. */
  private async encode(text: string) {
    const one = async (model: SdModel, tok: MaskedTokenizer) => {
      const e = tok.encodeForModel(text);
      const dims = [1, e.inputIds.length];
      const feeds: Record<string, HostTensor> = {
        input_ids: idsFeed(requireInput(model, 'input_ids'), e.inputIds, dims),
      };
      if (hasInput(model, 'attention_mask'))
        feeds.attention_mask = idsFeed(requireInput(model, 'attention_mask'), e.attentionMask, dims);
      if (hasInput(model, 'token_type_ids'))
        feeds.token_type_ids = idsFeed(requireInput(model, 'token_type_ids'), new Int32Array(e.inputIds.length), dims);
      const out = await model.run(feeds, ['last_hidden_state']);
      const hs = floatOutput(model, out, 'last_hidden_state');
      return { data: hs.data, shape: [hs.dims[1], hs.dims[2]] as [number, number], mask: e.attentionMask };
    };
    const a = await one(this.c.textEncoder, this.c.tokenizer);
    const b = await one(this.c.textEncoder2, this.c.tokenizer2);
    return { clip: a.data, clipMask: a.mask, clipShape: a.shape, t5: b.data, t5Mask: b.mask, t5Shape: b.shape };
  }

  private headDim(): number {
    const d = requireInput(this.c.transformer, 'cos_cis_img').shape[1];
    if (typeof d === 'number') return d;
    return this.num('attention_head_dim', 88);
  }

  private num(key: string, d: number): number {
    const v = this.c.transformerConfig[key];
    return typeof v === 'number' && v > 0 ? v : d;
  }
}

function concatInts(a: Int32Array, b: Int32Array): Int32Array {
  const out = new Int32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
