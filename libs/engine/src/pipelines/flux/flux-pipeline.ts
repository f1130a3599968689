/**
 * Flux.1 [schnell] and [dev] (diffusers' FluxPipeline and FluxImg2ImgPipeline) on Optimum ONNX sub-models:
 * `text_encoder/` (CLIP-L: only its `pooler_output` is used), `text_encoder_2/` (T5-XXL `last_hidden_state`,
 * `tokenizer_2/` padded to max_sequence_length: 256 for schnell, 512 for dev), `transformer/`
 * (FluxTransformerOnnxConfig: `hidden_states` [B, tokens, 64], `encoder_hidden_states`, `pooled_projections`,
 * `timestep` = t / 1000, `img_ids` [tokens, 3], `txt_ids` [seq, 3], and `guidance` [B] when the transformer was
 * trained with the guidance embedding (dev) → `out_hidden_states`), and the 16-channel VAE.
 *
 * The loop: noise [16, h, w] from the seeded generator, packed into 2×2 patches; FlowMatchEulerDiscreteScheduler
 * with sigmas linspace(1, 1/N, N) and, when its config says `use_dynamic_shifting` (dev), μ from the packed token
 * count; one transformer call per step (guidance is distilled into the model: no classifier-free batch, the
 * negative prompt is not used, as diffusers with `true_cfg_scale` 1); unpack, (z / scaling) + shift, decode.
 * Defaults follow the model cards: schnell 4 steps (guidance ignored), dev 28 steps with guidance 3.5.
 */
import type { RgbImage } from '../../rgb-image.js';
import { FlowMatchEulerDiscreteScheduler } from '../../schedulers/flow-match-euler-discrete.js';
import { createGenerator, type NoiseGenerator } from '../../schedulers/generator.js';
import type { ClipTokenizer } from '../../tokenizer/clip-tokenizer.js';
import { encodeClip, requirePooled } from '../sd/clip-text.js';
import { SdModelLayoutError, SdParamsError } from '../sd/errors.js';
import type { SdVaeConfig } from '../sd/optimum-layout.js';
import { floatFeed, floatOutput, idsFeed, requireInput, type SdModel, type TensorInfo } from '../sd/sd-model.js';
import {
  compileSdParams,
  throwIfAborted,
  type SdDefaults,
  type SdRunOptions,
  type SdRunParams,
  type SdRunResult,
} from '../sd/sd-params.js';
import { chooseSdScheduler, type SdSchedulerChoice } from '../sd/sd-scheduler.js';
import { toDenoiserLatents, toVaeLatents, vaeDecode, vaeEncode, type SdLatents } from '../sd/vae.js';
import {
  fluxImg2ImgStart,
  fluxMu,
  fluxSigmas,
  imageSeqLen,
  latentImageIds,
  packLatents,
  unpackLatents,
} from './flux-latents.js';

/** The T5 encoder of Flux with its tokenizer (ids padded to max_sequence_length, `</s>` appended). */
export interface FluxT5Encoder {
  model: SdModel;
  tokenize(text: string): Int32Array;
}

/** The loaded parts of a Flux.1 model. */
export interface FluxComponents {
  textEncoder: SdModel;
  tokenizer: ClipTokenizer;
  t5: FluxT5Encoder;
  transformer: SdModel;
  vaeEncoder?: SdModel;
  vaeDecoder: SdModel;
  schedulerConfig: Record<string, unknown>;
  vae: SdVaeConfig;
  defaultSize: number;
  /** transformer/config.json `guidance_embeds` (dev true, schnell false); the `guidance` input must match. */
  guidanceEmbeds: boolean;
}

/** Flux.1 txt2img and img2img. */
export class FluxPipeline {
  readonly family = 'flux' as const;
  readonly scheduler: SdSchedulerChoice;
  readonly defaults: SdDefaults;

  constructor(
    private readonly c: FluxComponents,
    opts: { scheduler?: string } = {},
  ) {
    this.scheduler = chooseSdScheduler(c.schedulerConfig, opts.scheduler);
    const hasGuidance = c.transformer.inputs.some((i) => i.name === 'guidance');
    if (hasGuidance !== c.guidanceEmbeds) {
      throw new SdModelLayoutError(
        c.transformer.modelPath,
        `guidance_embeds is ${c.guidanceEmbeds} in transformer/config.json but the graph ${hasGuidance ? 'has' : 'lacks'} a 'guidance' input`,
      );
    }
    this.defaults = {
      width: c.defaultSize,
      height: c.defaultSize,
      steps: c.guidanceEmbeds ? 28 : 4,
      guidanceScale: c.guidanceEmbeds ? 3.5 : 0,
      strength: 0.6,
      sizeMultiple: c.vae.scaleFactor * 2,
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
    if (p.scheduler !== undefined) chooseSdScheduler(this.c.schedulerConfig, p.scheduler); // validates the override
    throwIfAborted(opts.signal);
    const generator = createGenerator(p.seed);

    // 1. Prompt: CLIP pooled vector and T5 sequence; text ids are zeros.
    const clip = await encodeClip(this.c.textEncoder, this.c.tokenizer, p.prompt, 'last');
    const pooled = requirePooled(this.c.textEncoder, clip);
    const t5 = await this.encodeT5(p.prompt);

    // 2. Timesteps: linspace(1, 1/N, N), shifted by μ of the packed token count when the config asks for it.
    const C = vae.latentChannels;
    const h = p.height / vae.scaleFactor;
    const w = p.width / vae.scaleFactor;
    const scheduler = FlowMatchEulerDiscreteScheduler.fromDiffusersConfig(this.c.schedulerConfig);
    scheduler.setTimesteps(null, {
      sigmas: fluxSigmas(p.steps),
      mu: fluxMu(imageSeqLen(h, w), this.c.schedulerConfig),
    });
    let timesteps = Array.from(scheduler.timesteps);
    const img2img = p.image !== undefined || p.latents !== undefined;

    // 3. Initial latents (unpacked [C, h, w]), then packed.
    let latents: Float32Array;
    if (img2img) {
      const start = fluxImg2ImgStart(p.steps, p.strength);
      timesteps = timesteps.slice(start);
      if (timesteps.length === 0)
        throw new SdParamsError('strength', `leaves no step to run with steps=${p.steps} (steps·strength < 1)`);
      scheduler.setBeginIndex(start);
      const init = p.latents ?? (await this.encodeImage(p.image!, generator));
      if (init.channels !== C || init.height !== h || init.width !== w) {
        throw new SdParamsError('latents', `are ${init.channels}x${init.height}x${init.width}, want ${C}x${h}x${w}`);
      }
      latents = scheduler.addNoise(init.data, generator.randn(C * h * w), timesteps[0]);
    } else {
      latents = generator.randn(C * h * w);
    }
    let packed = packLatents(latents, C, h, w);
    const tokens = imageSeqLen(h, w);

    // 4. Denoising loop: one transformer call per step.
    const info = {
      sample: requireInput(transformer, 'hidden_states'),
      timestep: requireInput(transformer, 'timestep'),
      context: requireInput(transformer, 'encoder_hidden_states'),
      pooled: requireInput(transformer, 'pooled_projections'),
      imgIds: requireInput(transformer, 'img_ids'),
      txtIds: requireInput(transformer, 'txt_ids'),
    };
    const fixed = {
      encoder_hidden_states: floatFeed(info.context, t5.hidden, [1, t5.seqLen, t5.dim]),
      pooled_projections: floatFeed(info.pooled, pooled, [1, pooled.length]),
      img_ids: idsTable(info.imgIds, latentImageIds(h, w), tokens),
      txt_ids: idsTable(info.txtIds, new Float32Array(t5.seqLen * 3), t5.seqLen),
      ...(this.c.guidanceEmbeds
        ? { guidance: floatFeed(requireInput(transformer, 'guidance'), Float32Array.of(p.guidanceScale), [1]) }
        : {}),
    };
    for (let i = 0; i < timesteps.length; i++) {
      throwIfAborted(opts.signal);
      const t = timesteps[i];
      const out = await transformer.run({
        hidden_states: floatFeed(info.sample, packed, [1, tokens, C * 4]),
        timestep: floatFeed(info.timestep, Float32Array.of(Math.fround(t / 1000)), [1]),
        ...fixed,
      });
      const velocity = floatOutput(transformer, out, 'out_hidden_states').data;
      packed = scheduler.step(velocity, t, packed).prevSample;
      opts.onStep?.(i + 1, timesteps.length);
    }

    const final: SdLatents = { channels: C, height: h, width: w, data: unpackLatents(packed, C, h, w) };
    if (p.outputType === 'latent') return { latents: final };
    throwIfAborted(opts.signal);
    return { images: [await vaeDecode(this.c.vaeDecoder, toVaeLatents(final, vae, 'scale-shift'))] };
  }

  async close(): Promise<void> {
    const { textEncoder, t5, transformer, vaeEncoder, vaeDecoder } = this.c;
    await Promise.all([textEncoder, t5.model, transformer, vaeEncoder, vaeDecoder].map((m) => m?.close()));
  }

  private async encodeT5(text: string): Promise<{ hidden: Float32Array; seqLen: number; dim: number }> {
    const { model, tokenize } = this.c.t5;
    const ids = tokenize(text);
    const out = await model.run({ input_ids: idsFeed(requireInput(model, 'input_ids'), ids, [1, ids.length]) }, [
      'last_hidden_state',
    ]);
    const { data, dims } = floatOutput(model, out, 'last_hidden_state');
    if (dims.length !== 3) throw new SdModelLayoutError(model.modelPath, `last_hidden_state has dims [${dims}]`);
    return { hidden: data, seqLen: dims[1], dim: dims[2] };
  }

  private async encodeImage(image: RgbImage, generator: NoiseGenerator): Promise<SdLatents> {
    if (!this.c.vaeEncoder) throw new SdParamsError('image', 'img2img from an image needs vae_encoder/model.onnx');
    return toDenoiserLatents(await vaeEncode(this.c.vaeEncoder, image, generator), this.c.vae, 'scale-shift');
  }
}

/** `img_ids` / `txt_ids` as the export declares them: [n, 3] (diffusers ≥ 0.31) or [1, n, 3] (older exports). */
function idsTable(info: TensorInfo, data: Float32Array, n: number) {
  return floatFeed(info, data, info.shape.length === 3 ? [1, n, 3] : [n, 3]);
}
