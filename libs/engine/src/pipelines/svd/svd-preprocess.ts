/**
 * Image math of the SVD pipeline, pure and deterministic (plain IEEE arithmetic, no native resamplers, so
 * the same input gives the same floats on every machine):
 *
 * - CLIP input: diffusers' `_resize_with_antialiasing` (Gaussian blur with skimage's σ = (factor − 1)/2 and
 *   a 4σ kernel made odd, reflect padding, then bicubic A = −0.75 with align_corners=True) to 224×224,
 *   applied in [−1, 1] as diffusers does, then CLIP mean/std normalisation;
 * - the conditioning image: Pillow-style antialiased Lanczos-3 resize to width×height, rounded to RGB8 as
 *   Pillow returns it (skipped when the image already has that size), then to [−1, 1];
 * - decoded frames [N,3,H,W] in [−1, 1] to RGB8 through the engine's one quantiser, toRgb8.
 */
import { toRgb8, type RgbImage } from '../../rgb-image.js';

/** Planar CHW float32 image. */
export interface ChwImage {
  channels: number;
  width: number;
  height: number;
  data: Float32Array;
}

/** RGB8 → planar CHW float32 with `scale · v + offset` per value (1/255, 0 for [0, 1]; 2/255, −1 for [−1, 1]). */
export function rgbToChw(img: RgbImage, scale: number, offset: number): ChwImage {
  const { width, height } = img;
  const plane = width * height;
  const data = new Float32Array(plane * 3);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) data[c * plane + p] = img.data[p * 3 + c] * scale + offset;
  }
  return { channels: 3, width, height, data };
}

/**
 * CLIP `pixel_values` [1,3,size,size] for `img`, as diffusers' StableVideoDiffusionPipeline._encode_image
 * computes them: [0,1] → [−1,1] → antialiased bicubic resize (aspect not kept) → [0,1] → (x − mean)/std.
 */
export function clipPixelValues(
  img: RgbImage,
  mean: readonly number[],
  std: readonly number[],
  size = 224,
): Float32Array {
  const signed = rgbToChw(img, 2 / 255, -1);
  const resized = resizeWithAntialiasing(signed, size, size);
  const plane = size * size;
  const out = resized.data;
  for (let c = 0; c < 3; c++) {
    for (let p = 0; p < plane; p++) {
      const unit = (out[c * plane + p] + 1) / 2;
      out[c * plane + p] = (unit - mean[c]) / std[c];
    }
  }
  return out;
}

/** diffusers' `_resize_with_antialiasing(input, (outH, outW))`: Gaussian blur, then bicubic (align_corners). */
export function resizeWithAntialiasing(img: ChwImage, outHeight: number, outWidth: number): ChwImage {
  const sigmaY = Math.max((img.height / outHeight - 1) / 2, 0.001);
  const sigmaX = Math.max((img.width / outWidth - 1) / 2, 0.001);
  const oddKernel = (sigma: number): number => {
    const k = Math.trunc(Math.max(4 * sigma, 3));
    return k % 2 === 0 ? k + 1 : k;
  };
  const blurredX = convolveAxis(img, gaussianKernel(oddKernel(sigmaX), sigmaX), 'x');
  const blurred = convolveAxis(blurredX, gaussianKernel(oddKernel(sigmaY), sigmaY), 'y');
  return bicubicAlignCorners(blurred, outHeight, outWidth);
}

/** Normalised Gaussian taps exp(−x²/2σ²), x = i − ⌊k/2⌋ (+0.5 for even k, as diffusers' `_gaussian`). */
export function gaussianKernel(size: number, sigma: number): Float64Array {
  const k = new Float64Array(size);
  let sum = 0;
  for (let i = 0; i < size; i++) {
    const x = i - Math.floor(size / 2) + (size % 2 === 0 ? 0.5 : 0);
    k[i] = Math.exp(-(x * x) / (2 * sigma * sigma));
    sum += k[i];
  }
  for (let i = 0; i < size; i++) k[i] /= sum;
  return k;
}

/** Reflect (edge not repeated, like torch's 'reflect' pad) any index into [0, n). */
function reflect(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let j = ((i % period) + period) % period;
  if (j >= n) j = period - j;
  return j;
}

/** Correlation with `kernel` along one axis, reflect padding front (k−1)/2 rounded down, rear the rest. */
function convolveAxis(img: ChwImage, kernel: Float64Array, axis: 'x' | 'y'): ChwImage {
  const { channels, width, height, data } = img;
  const out = new Float32Array(data.length);
  const front = Math.floor((kernel.length - 1) / 2);
  const n = axis === 'x' ? width : height;
  const k = kernel.length;
  // offset of each tap's source value relative to the row (x) or column (y) start
  const stride = axis === 'x' ? 1 : width;
  const offsets = new Int32Array(n * k);
  for (let o = 0; o < n; o++) for (let t = 0; t < k; t++) offsets[o * k + t] = reflect(o - front + t, n) * stride;
  for (let c = 0; c < channels; c++) {
    const base = c * width * height;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const o = axis === 'x' ? x : y;
        const start = axis === 'x' ? base + y * width : base + x;
        let acc = 0;
        for (let t = 0; t < k; t++) acc += kernel[t] * data[start + offsets[o * k + t]];
        out[base + y * width + x] = acc;
      }
    }
  }
  return { channels, width, height, data: out };
}

const CUBIC_A = -0.75;
const cubic1 = (x: number): number => ((CUBIC_A + 2) * x - (CUBIC_A + 3)) * x * x + 1;
const cubic2 = (x: number): number => ((CUBIC_A * x - 5 * CUBIC_A) * x + 8 * CUBIC_A) * x - 4 * CUBIC_A;

/** Source taps and weights of torch's bicubic interpolation with align_corners=True, borders clamped. */
function bicubicTaps(inSize: number, outSize: number): { index: Int32Array; weight: Float64Array } {
  const scale = outSize > 1 ? (inSize - 1) / (outSize - 1) : 0;
  const index = new Int32Array(outSize * 4);
  const weight = new Float64Array(outSize * 4);
  for (let o = 0; o < outSize; o++) {
    const real = scale * o;
    const i0 = Math.floor(real);
    const t = real - i0;
    const w = [cubic2(t + 1), cubic1(t), cubic1(1 - t), cubic2(2 - t)];
    for (let k = 0; k < 4; k++) {
      index[o * 4 + k] = Math.min(Math.max(i0 - 1 + k, 0), inSize - 1);
      weight[o * 4 + k] = w[k];
    }
  }
  return { index, weight };
}

function bicubicAlignCorners(img: ChwImage, outHeight: number, outWidth: number): ChwImage {
  return separableResample(
    img,
    outHeight,
    outWidth,
    bicubicTaps(img.width, outWidth),
    bicubicTaps(img.height, outHeight),
    4,
  );
}

/** Horizontal pass then vertical pass with fixed-size tap tables. */
function separableResample(
  img: ChwImage,
  outHeight: number,
  outWidth: number,
  tx: { index: Int32Array; weight: Float64Array },
  ty: { index: Int32Array; weight: Float64Array },
  taps: number,
): ChwImage {
  const { channels, width, height, data } = img;
  const mid = new Float64Array(channels * height * outWidth);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < height; y++) {
      const row = c * width * height + y * width;
      for (let x = 0; x < outWidth; x++) {
        let acc = 0;
        for (let k = 0; k < taps; k++) acc += tx.weight[x * taps + k] * data[row + tx.index[x * taps + k]];
        mid[(c * height + y) * outWidth + x] = acc;
      }
    }
  }
  const out = new Float32Array(channels * outHeight * outWidth);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < outHeight; y++) {
      for (let x = 0; x < outWidth; x++) {
        let acc = 0;
        for (let k = 0; k < taps; k++) {
          acc += ty.weight[y * taps + k] * mid[(c * height + ty.index[y * taps + k]) * outWidth + x];
        }
        out[(c * outHeight + y) * outWidth + x] = acc;
      }
    }
  }
  return { channels, width: outWidth, height: outHeight, data: out };
}

const sinc = (x: number): number => (x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x));
const lanczos3 = (x: number): number => (x > -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0);

/** Pillow's `precompute_coeffs` for Lanczos-3: support widened by the downscale factor (antialiasing). */
function lanczosTaps(inSize: number, outSize: number): { index: Int32Array; weight: Float64Array; taps: number } {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 3 * filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const index = new Int32Array(outSize * taps);
  const weight = new Float64Array(outSize * taps);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize);
    let sum = 0;
    for (let k = 0; k < taps; k++) {
      const x = xmin + k;
      const w = x < xmax ? lanczos3((x - center + 0.5) / filterScale) : 0;
      index[o * taps + k] = Math.min(x, inSize - 1);
      weight[o * taps + k] = w;
      sum += w;
    }
    if (sum !== 0) for (let k = 0; k < taps; k++) weight[o * taps + k] /= sum;
  }
  return { index, weight, taps };
}

/**
 * Resizes RGB8 to exactly width×height (aspect not kept) with an antialiased Lanczos-3 filter, as Pillow's
 * `Image.resize(…, LANCZOS)` (what diffusers' VaeImageProcessor used), rounding once at the end. Returns the
 * input itself when it already has that size.
 */
export function resizeRgbLanczos(img: RgbImage, width: number, height: number): RgbImage {
  if (img.width === width && img.height === height) return img;
  const chw = rgbToChw(img, 1, 0);
  const tx = lanczosTaps(img.width, width);
  const ty = lanczosTaps(img.height, height);
  if (tx.taps !== ty.taps) {
    // separableResample takes one tap count: pad the narrower table with zero-weight taps
    const taps = Math.max(tx.taps, ty.taps);
    const out = separableResample(chw, height, width, padTaps(tx, taps), padTaps(ty, taps), taps);
    return chwToRgb8(out, 1, 0);
  }
  return chwToRgb8(separableResample(chw, height, width, tx, ty, tx.taps), 1, 0);
}

function padTaps(
  t: { index: Int32Array; weight: Float64Array; taps: number },
  taps: number,
): { index: Int32Array; weight: Float64Array } {
  if (t.taps === taps) return t;
  const n = t.index.length / t.taps;
  const index = new Int32Array(n * taps);
  const weight = new Float64Array(n * taps);
  for (let o = 0; o < n; o++) {
    for (let k = 0; k < t.taps; k++) {
      index[o * taps + k] = t.index[o * t.taps + k];
      weight[o * taps + k] = t.weight[o * t.taps + k];
    }
    for (let k = t.taps; k < taps; k++) index[o * taps + k] = t.index[o * t.taps];
  }
  return { index, weight };
}

/** Planar CHW (3 channels) → RGB8 via toRgb8(scale · v + offset). */
export function chwToRgb8(img: ChwImage, scale: number, offset: number): RgbImage {
  const { width, height, data } = img;
  const plane = width * height;
  const hwc = new Float32Array(plane * 3);
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) hwc[p * 3 + c] = data[c * plane + p] * scale + offset;
  return { width, height, data: toRgb8(hwc) };
}

/**
 * Decoded frames [count,3,H,W] in [−1, 1] → RGB8 frames: (x/2 + 0.5)·255 through toRgb8 (clamp, round),
 * which is diffusers' postprocess (denormalise, clamp to [0, 1], ·255, round) with the engine's rounding.
 */
export function framesToRgb(sample: Float32Array, count: number, height: number, width: number): RgbImage[] {
  const size = 3 * height * width;
  const frames: RgbImage[] = [];
  for (let f = 0; f < count; f++) {
    const data = sample.subarray(f * size, (f + 1) * size);
    frames.push(chwToRgb8({ channels: 3, width, height, data }, 127.5, 127.5));
  }
  return frames;
}
