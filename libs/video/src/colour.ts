/**
 * Colour statistics of RGB8 frames and Reinhard-style colour transfer, used to stop chained SVD clips from
 * drifting in colour.
 *
 * Why per-channel RGB and not Lab / lαβ: Reinhard decorrelates channels to move the palette of one photo onto an
 * unrelated one. Here the two sides show the same scene and differ by a small global tint / brightness / contrast
 * creep, which a per-channel affine map undoes. In RGB that map is a 256-entry lookup table per channel: no
 * per-pixel float maths, bytes in and bytes out, and equal statistics give the identity table, so matching is exact
 * (not merely close) when nothing drifted. A Lab round trip would cost two non-linear conversions per pixel and
 * could not promise that.
 */
import { ClipAssemblyError } from './errors.js';

/** Per-channel (R, G, B) mean and population standard deviation of 8-bit values over `pixels` pixels. */
export interface ColourStats {
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
  readonly pixels: number;
}

/**
 * Accumulates exact per-channel histograms of RGB8 frames (interleaved, 3 bytes per pixel); {@link stats} is
 * independent of the order frames were added in.
 */
export class ColourStatsAccumulator {
  private readonly hist = new Float64Array(3 * 256);
  private n = 0;

  /** Adds every pixel of `frame` (length a positive multiple of 3). */
  add(frame: Uint8Array): this {
    requireRgb(frame);
    const h = this.hist;
    for (let p = 0; p < frame.length; p += 3) {
      h[frame[p]]++;
      h[256 + frame[p + 1]]++;
      h[512 + frame[p + 2]]++;
    }
    this.n += frame.length / 3;
    return this;
  }

  /** Pixels added so far. */
  get pixels(): number {
    return this.n;
  }

  /** Mean and standard deviation per channel; throws {@link ClipAssemblyError} when nothing was added. */
  stats(): ColourStats {
    if (this.n === 0) throw new ClipAssemblyError('frames', 'colour statistics need at least one pixel');
    const mean = [0, 0, 0] as [number, number, number];
    const std = [0, 0, 0] as [number, number, number];
    for (let c = 0; c < 3; c++) {
      let s = 0;
      for (let v = 0; v < 256; v++) s += v * this.hist[c * 256 + v];
      const m = s / this.n;
      let q = 0;
      for (let v = 0; v < 256; v++) q += (v - m) * (v - m) * this.hist[c * 256 + v];
      mean[c] = m;
      std[c] = Math.sqrt(q / this.n);
    }
    return { mean, std, pixels: this.n };
  }
}

/** {@link ColourStats} over all pixels of `frames` (RGB8). Throws {@link ClipAssemblyError} for no pixels. */
export function measureColourStats(frames: Iterable<Uint8Array>): ColourStats {
  const acc = new ColourStatsAccumulator();
  for (const f of frames) acc.add(f);
  return acc.stats();
}

/** Options of colour transfer. */
export interface ColourMatchOptions {
  /**
   * Largest contrast change per channel: the gain `std_to / std_from` is clamped to [1 / maxGain, maxGain], so a
   * flat batch (a fade to black, a cut) is not blown up into noise. Default 2; must be ≥ 1.
   */
  maxGain?: number;
}

/** Default of {@link ColourMatchOptions.maxGain}. */
export const DEFAULT_MAX_GAIN = 2;

/** Validates {@link ColourMatchOptions.maxGain} and fills its default; throws {@link ClipAssemblyError}. */
export function requireMaxGain(maxGain: number | undefined): number {
  const g = maxGain ?? DEFAULT_MAX_GAIN;
  if (typeof g !== 'number' || !Number.isFinite(g) || g < 1) {
    throw new ClipAssemblyError('max_gain', `maxGain must be a finite number ≥ 1, got ${maxGain}`);
  }
  return g;
}

/**
 * The transfer `v ↦ clamp(round(mean_to + g · (v − mean_from)), 0, 255)` per channel, `g = std_to / std_from`
 * clamped by `maxGain` (g = 1 where `from` is constant), as a 768-byte table: R at [0, 256), G at [256, 512),
 * B at [512, 768). Invariants: equal `from` and `to` give the identity table; a constant frame maps to a constant
 * frame; the mean of the output moves to `to.mean` (up to rounding and clamping at 0 and 255).
 */
export function colourTransferLut(from: ColourStats, to: ColourStats, opts: ColourMatchOptions = {}): Uint8Array {
  const maxGain = requireMaxGain(opts.maxGain);
  const lut = new Uint8Array(768);
  for (let c = 0; c < 3; c++) {
    const sf = from.std[c];
    const g = sf > 1e-9 ? Math.min(maxGain, Math.max(1 / maxGain, to.std[c] / sf)) : 1;
    for (let v = 0; v < 256; v++) {
      const x = Math.round(to.mean[c] + g * (v - from.mean[c]));
      lut[c * 256 + v] = x < 0 ? 0 : x > 255 ? 255 : x;
    }
  }
  return lut;
}

/** True when `lut` (from {@link colourTransferLut}) maps every value to itself. */
export function isIdentityLut(lut: Uint8Array): boolean {
  for (let i = 0; i < 768; i++) if (lut[i] !== (i & 255)) return false;
  return true;
}

/** Applies a 768-byte table to an RGB8 frame into `out` (a new buffer by default; may be `frame` itself). */
export function applyColourLut(frame: Uint8Array, lut: Uint8Array, out = new Uint8Array(frame.length)): Uint8Array {
  requireRgb(frame);
  if (lut.length !== 768) throw new ClipAssemblyError('frames', `a colour table has 768 entries, got ${lut.length}`);
  if (out.length !== frame.length) {
    throw new ClipAssemblyError('frames', `output must be ${frame.length} bytes, got ${out.length}`);
  }
  for (let p = 0; p < frame.length; p += 3) {
    out[p] = lut[frame[p]];
    out[p + 1] = lut[256 + frame[p + 1]];
    out[p + 2] = lut[512 + frame[p + 2]];
  }
  return out;
}

/**
 * Reinhard-style transfer of one RGB8 frame from the statistics `from` (measured on the batch it belongs to) to
 * `to` (the reference). Returns a new buffer; identity (byte-equal) when `from` and `to` are equal.
 */
export function colourMatch(
  frame: Uint8Array,
  from: ColourStats,
  to: ColourStats,
  opts: ColourMatchOptions = {},
): Uint8Array {
  return applyColourLut(frame, colourTransferLut(from, to, opts));
}

function requireRgb(frame: Uint8Array): void {
  if (!(frame instanceof Uint8Array) || frame.length === 0 || frame.length % 3 !== 0) {
    throw new ClipAssemblyError('frames', `an RGB8 frame needs a positive multiple of 3 bytes, got ${frame?.length}`);
  }
}
