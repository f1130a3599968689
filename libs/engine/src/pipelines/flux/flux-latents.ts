/**
 * The pure arithmetic of diffusers' Flux pipelines (FluxPipeline, FluxImg2ImgPipeline), apart from any session:
 * - `_pack_latents` / `_unpack_latents`: the 16-channel latent grid [C, h, w] as a sequence of 2×2 patches
 *   [(h/2)·(w/2), 4C] (patch-major, channel then row then column inside a patch) and back;
 * - `_prepare_latent_image_ids`: each packed token's (0, row, column) position for the rotary embedding;
 * - the default sigmas `linspace(1, 1/N, N)` and μ of resolution-dependent shifting from the image sequence length
 *   (`calculate_shift` with the scheduler config's base/max sequence lengths and shifts);
 * - img2img's `get_timesteps`, which (unlike SD 1.x) keeps the fractional `steps·strength`.
 */
import { calculateShift } from '../../schedulers/flow-match-euler-discrete.js';
import { npLinspace } from '../../schedulers/numeric.js';

/** [C, h, w] (h, w even) → [(h/2)·(w/2), 4C]: token (i, j) holds x[c, 2i + di, 2j + dj] at c·4 + di·2 + dj. */
export function packLatents(x: Float32Array, channels: number, h: number, w: number): Float32Array {
  checkEven(h, w);
  const h2 = h / 2;
  const w2 = w / 2;
  const out = new Float32Array(x.length);
  for (let i = 0; i < h2; i++) {
    for (let j = 0; j < w2; j++) {
      const base = (i * w2 + j) * channels * 4;
      for (let c = 0; c < channels; c++) {
        for (let di = 0; di < 2; di++) {
          for (let dj = 0; dj < 2; dj++) {
            out[base + c * 4 + di * 2 + dj] = x[c * h * w + (2 * i + di) * w + 2 * j + dj];
          }
        }
      }
    }
  }
  return out;
}

/** The inverse of packLatents: [(h/2)·(w/2), 4C] → [C, h, w]. */
export function unpackLatents(packed: Float32Array, channels: number, h: number, w: number): Float32Array {
  checkEven(h, w);
  const h2 = h / 2;
  const w2 = w / 2;
  const out = new Float32Array(packed.length);
  for (let i = 0; i < h2; i++) {
    for (let j = 0; j < w2; j++) {
      const base = (i * w2 + j) * channels * 4;
      for (let c = 0; c < channels; c++) {
        for (let di = 0; di < 2; di++) {
          for (let dj = 0; dj < 2; dj++) {
            out[c * h * w + (2 * i + di) * w + 2 * j + dj] = packed[base + c * 4 + di * 2 + dj];
          }
        }
      }
    }
  }
  return out;
}

/** `_prepare_latent_image_ids(h/2, w/2)`: [(h/2)·(w/2), 3] rows (0, i, j), row-major over the packed grid. */
export function latentImageIds(h: number, w: number): Float32Array {
  checkEven(h, w);
  const h2 = h / 2;
  const w2 = w / 2;
  const ids = new Float32Array(h2 * w2 * 3);
  for (let i = 0; i < h2; i++) {
    for (let j = 0; j < w2; j++) {
      ids[(i * w2 + j) * 3 + 1] = i;
      ids[(i * w2 + j) * 3 + 2] = j;
    }
  }
  return ids;
}

/** Packed tokens of an image: (H / 16)·(W / 16) for a VAE scale factor of 8 (the `image_seq_len` of μ). */
export function imageSeqLen(latentHeight: number, latentWidth: number): number {
  return Math.floor(latentHeight / 2) * Math.floor(latentWidth / 2);
}

/** FluxPipeline's default sigmas: `np.linspace(1.0, 1 / steps, steps)` (float64; the scheduler casts to float32). */
export function fluxSigmas(steps: number): number[] {
  return npLinspace(1.0, 1 / steps, steps);
}

/**
 * μ for `imageSeqLen` tokens with the scheduler config's keys and FluxPipeline's fallbacks (`base_image_seq_len`
 * 256, `max_image_seq_len` 4096, `base_shift` 0.5, `max_shift` 1.15).
 */
export function fluxMu(seqLen: number, schedulerConfig: Readonly<Record<string, unknown>>): number {
  const num = (k: string, d: number) => (typeof schedulerConfig[k] === 'number' ? (schedulerConfig[k] as number) : d);
  return calculateShift(
    seqLen,
    num('base_image_seq_len', 256),
    num('max_image_seq_len', 4096),
    num('base_shift', 0.5),
    num('max_shift', 1.15),
  );
}

/**
 * FluxImg2ImgPipeline's `get_timesteps`: init = min(steps·strength, steps) (not truncated), t_start =
 * int(max(steps − init, 0)). Returns the index of the first timestep to run.
 */
export function fluxImg2ImgStart(steps: number, strength: number): number {
  const init = Math.min(steps * strength, steps);
  return Math.trunc(Math.max(steps - init, 0));
}

function checkEven(h: number, w: number): void {
  if (h % 2 || w % 2) throw new RangeError(`packed latents need an even latent grid, got ${h}x${w}`);
}
