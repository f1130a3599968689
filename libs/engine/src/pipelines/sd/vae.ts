/**
 * VAE halves and diffusers' `VaeImageProcessor` arithmetic, in float32 like torch:
 * - pre-processing: RGB8 → x/255 → 2x − 1, NCHW;
 * - encoding: `vae_encoder` `sample` → `latent_parameters` (mean ‖ log-variance; a sample mean + σ·ε is drawn from
 *   the pipeline's generator, as `retrieve_latents(vae.encode(x), generator)` does) or, in older exports,
 *   `latent_sample` (sampled inside the graph; taken as is, drawing nothing);
 * - latent scaling per family (scaling factor, SD3's shift, optional per-channel mean/std);
 * - decoding: `vae_decoder` `latent_sample` → `sample`, then (x/2 + 0.5) clamped to [0, 1], ×255, rounded half to
 *   even (numpy's `round`) to RGB8.
 */
import type { NoiseGenerator } from '../../schedulers/generator.js';
import { InvalidImageError } from '../../errors.js';
import type { RgbImage } from '../../rgb-image.js';
import { SdModelLayoutError } from './errors.js';
import { floatFeed, floatOutput, hasOutput, requireInput, type SdModel } from './sd-model.js';
import type { SdVaeConfig } from './optimum-layout.js';

const f32 = Math.fround;

/** Latents of one image: NCHW with N = 1, flat float32. `height`/`width` are in latent pixels. */
export interface SdLatents {
  channels: number;
  height: number;
  width: number;
  data: Float32Array;
}

/** RGB8 → NCHW float32 in [−1, 1] (`VaeImageProcessor.preprocess` without resizing). */
export function rgbToVaeInput(img: RgbImage): Float32Array {
  const plane = img.width * img.height;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) out[c * plane + p] = f32(f32(2 * f32(img.data[p * 3 + c] / 255)) - 1);
  }
  return out;
}

/** NCHW float32 decoder output (batch 1) → RGB8 (`postprocess(output_type="pil")`). */
export function vaeOutputToRgb(data: Float32Array, width: number, height: number): RgbImage {
  const plane = width * height;
  if (data.length !== 3 * plane)
    throw new InvalidImageError(`VAE output has ${data.length} values, want 3·${width}·${height}`);
  const out = new Uint8Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      let v = f32(f32(data[c * plane + p] / 2) + 0.5);
      v = v < 0 ? 0 : v > 1 ? 1 : v; // NaN stays NaN and becomes 0 below
      out[p * 3 + c] = roundHalfEven(f32(v * 255)) || 0;
    }
  }
  return { width, height, data: out };
}

/**
 * Encodes `img` to unscaled latents (the VAE's own space). With a `latent_parameters` export, draws
 * ε = generator.randn(C·h·w) and returns mean + exp(½·clamp(logvar, −30, 20))·ε (DiagonalGaussianDistribution.sample).
 */
export async function vaeEncode(model: SdModel, img: RgbImage, generator: NoiseGenerator): Promise<SdLatents> {
  const info = requireInput(model, 'sample');
  const out = await model.run({ sample: floatFeed(info, rgbToVaeInput(img), [1, 3, img.height, img.width]) });
  if (hasOutput(model, 'latent_parameters')) {
    const { data, dims } = floatOutput(model, out, 'latent_parameters');
    const [, c2, h, w] = dims;
    const c = c2 / 2;
    const n = c * h * w;
    if (dims.length !== 4 || !Number.isInteger(c)) {
      throw new SdModelLayoutError(model.modelPath, `latent_parameters has dims [${dims}], want [1, 2C, h, w]`);
    }
    const eps = generator.randn(n);
    const sample = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const logvar = Math.min(Math.max(data[n + i], -30), 20);
      const std = f32(Math.exp(f32(0.5 * logvar)));
      sample[i] = f32(data[i] + f32(std * eps[i]));
    }
    return { channels: c, height: h, width: w, data: sample };
  }
  const { data, dims } = floatOutput(model, out, 'latent_sample');
  if (dims.length !== 4) throw new SdModelLayoutError(model.modelPath, `latent_sample has dims [${dims}]`);
  return { channels: dims[1], height: dims[2], width: dims[3], data };
}

/** Decodes unscaled latents to RGB8. */
export async function vaeDecode(model: SdModel, latents: SdLatents): Promise<RgbImage> {
  const info = requireInput(model, 'latent_sample');
  const { channels, height, width } = latents;
  const out = await model.run({ latent_sample: floatFeed(info, latents.data, [1, channels, height, width]) });
  const { data, dims } = floatOutput(model, out, 'sample');
  if (dims.length !== 4 || dims[0] !== 1 || dims[1] !== 3) {
    throw new SdModelLayoutError(model.modelPath, `sample has dims [${dims}], want [1, 3, H, W]`);
  }
  return vaeOutputToRgb(data, dims[3], dims[2]);
}

/** How a family maps VAE latents to the denoiser's latents. */
export type LatentScaling = 'scale' | 'scale-shift' | 'scale-mean-std';

/**
 * VAE latents → denoiser latents: SD `sf·z`; SD3 `(z − shift)·sf`; SDXL with latents_mean/std `(z − μ_c)·sf/σ_c`.
 */
export function toDenoiserLatents(z: SdLatents, vae: SdVaeConfig, scaling: LatentScaling): SdLatents {
  const sf = f32(vae.scalingFactor);
  const plane = z.height * z.width;
  const data = new Float32Array(z.data.length);
  for (let i = 0; i < data.length; i++) {
    const c = Math.floor(i / plane) % z.channels;
    if (scaling === 'scale-shift') data[i] = f32(f32(z.data[i] - f32(vae.shiftFactor ?? 0)) * sf);
    else if (scaling === 'scale-mean-std' && vae.latentsMean && vae.latentsStd) {
      data[i] = f32(f32(f32(z.data[i] - f32(vae.latentsMean[c])) * sf) / f32(vae.latentsStd[c]));
    } else data[i] = f32(sf * z.data[i]);
  }
  return { ...z, data };
}

/** Denoiser latents → VAE latents (the inverse of toDenoiserLatents, in diffusers' order of operations). */
export function toVaeLatents(x: SdLatents, vae: SdVaeConfig, scaling: LatentScaling): SdLatents {
  const sf = f32(vae.scalingFactor);
  const plane = x.height * x.width;
  const data = new Float32Array(x.data.length);
  for (let i = 0; i < data.length; i++) {
    const c = Math.floor(i / plane) % x.channels;
    if (scaling === 'scale-shift') data[i] = f32(f32(x.data[i] / sf) + f32(vae.shiftFactor ?? 0));
    else if (scaling === 'scale-mean-std' && vae.latentsMean && vae.latentsStd) {
      data[i] = f32(f32(f32(x.data[i] * f32(vae.latentsStd[c])) / sf) + f32(vae.latentsMean[c]));
    } else data[i] = f32(x.data[i] / sf);
  }
  return { ...x, data };
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
