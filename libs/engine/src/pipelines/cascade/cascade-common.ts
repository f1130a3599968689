/**
 * What the three Stable Cascade stages share, as diffusers' StableCascadePriorPipeline / StableCascadeDecoderPipeline
 * do it: the prompt through CLIP-bigG (`hidden_states[-1]` — the last layer before the final LayerNorm, Optimum's
 * `hidden_states.{L}` — and `text_embeds` as the pooled [1, 1, P] vector), classifier-free guidance by `torch.lerp`
 * with the batch in [conditional, unconditional] order, the Würstchen scheduler, parameter checks, and the VQGAN
 * decode (latents × scale_factor → `sample`, clamp to [0, 1], ×255 rounded half to even).
 */
import { InvalidImageError } from '../../errors.js';
import type { RgbImage } from '../../rgb-image.js';
import { DDPMWuerstchenScheduler } from '../../schedulers/ddpm-wuerstchen.js';
import type { ClipTokenizer } from '../../tokenizer/clip-tokenizer.js';
import { SdModelLayoutError, SdParamsError } from '../sd/errors.js';
import {
  floatFeed,
  floatOutput,
  hasInput,
  idsFeed,
  requireInput,
  type HostTensor,
  type SdModel,
} from '../sd/sd-model.js';
import { compileSdParams, type CompiledSdParams, type SdDefaults, type SdRunParams } from '../sd/sd-params.js';
import type { SdLatents } from '../sd/vae.js';

const f32 = Math.fround;

/** The only scheduler the Cascade stages run (their models are trained for its continuous-time schedule). */
export const CASCADE_SCHEDULER = { name: 'ddpm-wuerstchen', className: 'DDPMWuerstchenScheduler' } as const;

/** A fresh Würstchen scheduler from the stage's config; any other `scheduler` override is refused. */
export function cascadeScheduler(
  config: Record<string, unknown>,
  override: string | undefined,
): DDPMWuerstchenScheduler {
  if (override !== undefined && override !== CASCADE_SCHEDULER.name && override !== CASCADE_SCHEDULER.className) {
    throw new SdParamsError('scheduler', `Stable Cascade runs only ${CASCADE_SCHEDULER.name}, not '${override}'`);
  }
  const cls = config._class_name;
  if (cls !== undefined && cls !== CASCADE_SCHEDULER.className) {
    throw new SdParamsError(
      'scheduler',
      `scheduler_config.json names ${String(cls)}; Stable Cascade needs DDPMWuerstchenScheduler`,
    );
  }
  return DDPMWuerstchenScheduler.fromDiffusersConfig(config);
}

/** A prompt encoded for Cascade: hidden [seqLen, dim] and pooled [P]. */
export interface CascadePromptEmbeds {
  hidden: Float32Array;
  seqLen: number;
  dim: number;
  pooled: Float32Array;
}

/** diffusers' Cascade `encode_prompt` for one prompt: hidden_states[-1] and text_embeds. */
export async function encodeCascadePrompt(
  model: SdModel,
  tokenizer: ClipTokenizer,
  text: string,
): Promise<CascadePromptEmbeds> {
  let last = -1;
  for (const o of model.outputs) {
    const m = /^hidden_states\.(\d+)$/.exec(o.name);
    if (m) last = Math.max(last, Number(m[1]));
  }
  if (last < 1) {
    throw new SdModelLayoutError(
      model.modelPath,
      'has no hidden_states.N outputs; Stable Cascade conditions on hidden_states[-1] — export the text encoder with output_hidden_states',
    );
  }
  if (!model.outputs.some((o) => o.name === 'text_embeds'))
    throw new SdModelLayoutError(model.modelPath, "has no 'text_embeds' (want CLIPTextModelWithProjection)");
  const hiddenName = `hidden_states.${last}`;
  const enc = tokenizer.encodeForModel(text);
  const dims = [1, enc.inputIds.length];
  const feeds: Record<string, HostTensor> = {
    input_ids: idsFeed(requireInput(model, 'input_ids'), enc.inputIds, dims),
  };
  if (hasInput(model, 'attention_mask'))
    feeds.attention_mask = idsFeed(requireInput(model, 'attention_mask'), enc.attentionMask, dims);
  const out = await model.run(feeds, [hiddenName, 'text_embeds']);
  const hidden = floatOutput(model, out, hiddenName);
  if (hidden.dims.length !== 3 || hidden.dims[0] !== 1)
    throw new SdModelLayoutError(
      model.modelPath,
      `output '${hiddenName}' has dims [${hidden.dims}], want [1, seq, dim]`,
    );
  return {
    hidden: hidden.data,
    seqLen: hidden.dims[1],
    dim: hidden.dims[2],
    pooled: floatOutput(model, out, 'text_embeds').data,
  };
}

/** `torch.lerp(start, end, w)` in float32 (ATen: start + w·(end − start) when |w| < 0.5, else end − (end − start)·(1 − w)). */
export function torchLerp(start: Float32Array, end: Float32Array, weight: number): Float32Array {
  const w = f32(weight);
  const out = new Float32Array(start.length);
  if (Math.abs(w) < 0.5) {
    for (let i = 0; i < out.length; i++) out[i] = f32(start[i] + f32(w * f32(end[i] - start[i])));
  } else {
    const w1 = f32(1 - w);
    for (let i = 0; i < out.length; i++) out[i] = f32(end[i] - f32(f32(end[i] - start[i]) * w1));
  }
  return out;
}

/** [a; a] or [a; b] along the batch axis. */
export function cat2(a: Float32Array, b: Float32Array = a): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** A float [B] feed of the UNet's `timestep_ratio`. */
export function timestepRatioFeed(model: SdModel, t: number, batch: number): HostTensor {
  return floatFeed(requireInput(model, 'timestep_ratio'), new Float32Array(batch).fill(t), [batch]);
}

/**
 * Compiles the parameters of a Cascade stage: `compileSdParams` on the size fields (the image size of the job, a
 * multiple of `defaults.sizeMultiple`), then the stage's own rules — no img2img from an image, no SDXL options, and
 * `latents` (the previous stage's output) exactly when the stage needs an input.
 */
export function compileCascadeParams(raw: SdRunParams, d: SdDefaults, needsLatents: boolean): CompiledSdParams {
  if (raw.image) throw new SdParamsError('image', 'Stable Cascade stages do not run img2img from an image');
  if (raw.denoisingStart !== undefined || raw.denoisingEnd !== undefined)
    throw new SdParamsError(raw.denoisingStart !== undefined ? 'denoisingStart' : 'denoisingEnd', 'is an SDXL option');
  if (needsLatents && !raw.latents)
    throw new SdParamsError('latents', "are required: this stage runs on the previous Stable Cascade stage's output");
  if (!needsLatents && raw.latents)
    throw new SdParamsError('latents', 'the Stable Cascade prior starts from noise and takes no latents');
  const p = compileSdParams({ ...raw, latents: undefined }, d, 1);
  if (raw.latents) {
    const l = raw.latents;
    if (!(l.data instanceof Float32Array) || l.data.length !== l.channels * l.height * l.width)
      throw new SdParamsError('latents', 'data must be a Float32Array of channels·height·width values');
  }
  return { ...p, latents: raw.latents };
}

/** Throws SdParamsError('latents') unless `l` has `channels` channels. */
export function requireChannels(l: SdLatents, channels: number, what: string): void {
  if (l.channels !== channels)
    throw new SdParamsError('latents', `have ${l.channels} channels; ${what} takes ${channels}`);
}

/**
 * Stage A: stage-B latents → RGB8. `vqgan.decode(scale_factor · latents).sample.clamp(0, 1)`, then numpy_to_pil's
 * (x·255).round().
 */
export async function vqganDecode(model: SdModel, latents: SdLatents, scaleFactor: number): Promise<RgbImage> {
  const s = f32(scaleFactor);
  const scaled = latents.data.map((v) => f32(v * s));
  const out = await model.run({
    latent_sample: floatFeed(requireInput(model, 'latent_sample'), scaled, [
      1,
      latents.channels,
      latents.height,
      latents.width,
    ]),
  });
  const { data, dims } = floatOutput(model, out, 'sample');
  if (dims.length !== 4 || dims[0] !== 1 || dims[1] !== 3)
    throw new SdModelLayoutError(model.modelPath, `output 'sample' has dims [${dims}], want [1, 3, H, W]`);
  const [height, width] = [dims[2], dims[3]];
  const plane = width * height;
  if (data.length !== 3 * plane) throw new InvalidImageError(`VQGAN output has ${data.length} values`);
  const rgb = new Uint8Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      let v = data[c * plane + p];
      v = v < 0 ? 0 : v > 1 ? 1 : v;
      rgb[p * 3 + c] = roundHalfEven(f32(v * 255)) || 0;
    }
  }
  return { width, height, data: rgb };
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
