/**
 * PixArt's resolution binning (diffusers' `ASPECT_RATIO_{256,512,1024,2048}_BIN` with
 * `PixArtImageProcessor.classify_height_width_bin` and `resize_and_crop_tensor`): the transformer only generates
 * the sizes it was trained on, so a requested size is replaced by the bin whose aspect ratio is closest, and the
 * decoded image is resized (bilinear, align_corners=False, as torch's F.interpolate) to cover the requested size
 * and centre-cropped to it.
 *
 * The tables are data: every bin is a multiple of a grid (16 px for the 256 table, scaled ×2 for 512 and ×4 for
 * 1024; 128 px for 2048, which adds six extreme ratios). Entries are [ratio key, height units, width units] in
 * diffusers' key order, because `min` over the keys keeps the first of equally close ratios.
 */

const COMMON: readonly (readonly [string, number, number])[] = [
  ['0.25', 8, 32],
  ['0.28', 8, 29],
  ['0.32', 9, 28],
  ['0.33', 9, 27],
  ['0.35', 9, 26],
  ['0.4', 10, 25],
  ['0.42', 10, 24],
  ['0.48', 11, 23],
  ['0.5', 11, 22],
  ['0.52', 11, 21],
  ['0.57', 12, 21],
  ['0.6', 12, 20],
  ['0.68', 13, 19],
  ['0.72', 13, 18],
  ['0.78', 14, 18],
  ['0.82', 14, 17],
  ['0.88', 15, 17],
  ['0.94', 15, 16],
  ['1.0', 16, 16],
  ['1.07', 16, 15],
  ['1.13', 17, 15],
  ['1.21', 17, 14],
  ['1.29', 18, 14],
  ['1.38', 18, 13],
  ['1.46', 19, 13],
  ['1.67', 20, 12],
  ['1.75', 21, 12],
  ['2.0', 22, 11],
  ['2.09', 23, 11],
  ['2.4', 24, 10],
  ['2.5', 25, 10],
  ['3.0', 27, 9],
  ['4.0', 32, 8],
];
/** Keys only the 2048 table has, each inserted before the key named second. */
const EXTRA_2048: readonly (readonly [string, number, number, string])[] = [
  ['0.26', 8, 31, '0.28'],
  ['0.27', 8, 30, '0.28'],
  ['2.89', 26, 9, '3.0'],
  ['3.11', 28, 9, '4.0'],
  ['3.62', 29, 8, '4.0'],
  ['3.75', 30, 8, '4.0'],
  ['3.88', 31, 8, '4.0'],
];

/** One bin: the ratio key (height / width, as diffusers spells it) and its size in pixels. */
export interface AspectBin {
  ratio: string;
  height: number;
  width: number;
}

/** The bin table a transformer of `sampleSize` (latent pixels) uses, or null when diffusers has none for it. */
export function aspectRatioBins(sampleSize: number, family: 'alpha' | 'sigma'): AspectBin[] | null {
  const unit = { 32: 16, 64: 32, 128: 64 }[sampleSize as 32 | 64 | 128];
  if (unit) return COMMON.map(([ratio, h, w]) => ({ ratio, height: h * unit, width: w * unit }));
  if (sampleSize === 256 && family === 'sigma') {
    const rows = [...COMMON];
    for (const [ratio, h, w, before] of EXTRA_2048) {
      rows.splice(
        rows.findIndex((r) => r[0] === before),
        0,
        [ratio, h, w],
      );
    }
    return rows.map(([ratio, h, w]) => ({ ratio, height: h * 128, width: w * 128 }));
  }
  return null;
}

/** `classify_height_width_bin`: the first bin whose float(ratio) is closest to height / width. */
export function classifyHeightWidthBin(height: number, width: number, bins: readonly AspectBin[]): AspectBin {
  const ar = height / width;
  let best = bins[0];
  for (const b of bins) if (Math.abs(Number(b.ratio) - ar) < Math.abs(Number(best.ratio) - ar)) best = b;
  return best;
}

/**
 * `resize_and_crop_tensor` on one CHW float image: when the size differs, scale by max(newH/h, newW/w) to
 * int(h·ratio) × int(w·ratio) with torch's bilinear (align_corners=False, no antialias), then crop the centre
 * (start = (resized − new) // 2). float32 arithmetic.
 */
export function resizeAndCrop(
  data: Float32Array,
  channels: number,
  height: number,
  width: number,
  newHeight: number,
  newWidth: number,
): Float32Array {
  if (height === newHeight && width === newWidth) return data;
  const ratio = Math.max(newHeight / height, newWidth / width);
  const rh = Math.trunc(height * ratio);
  const rw = Math.trunc(width * ratio);
  const resized = bilinear(data, channels, height, width, rh, rw);
  const sy = Math.floor((rh - newHeight) / 2);
  const sx = Math.floor((rw - newWidth) / 2);
  const out = new Float32Array(channels * newHeight * newWidth);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < newHeight; y++) {
      const src = c * rh * rw + (sy + y) * rw + sx;
      out.set(resized.subarray(src, src + newWidth), c * newHeight * newWidth + y * newWidth);
    }
  }
  return out;
}

/** torch `upsample_bilinear2d` with align_corners=False and an explicit output size (scale = in / out). */
export function bilinear(
  data: Float32Array,
  channels: number,
  height: number,
  width: number,
  outHeight: number,
  outWidth: number,
): Float32Array {
  const f = Math.fround;
  const axis = (inSize: number, outSize: number) => {
    const scale = f(inSize / outSize);
    const i0 = new Int32Array(outSize);
    const i1 = new Int32Array(outSize);
    const l1 = new Float32Array(outSize);
    for (let o = 0; o < outSize; o++) {
      let src = f(f(scale * f(o + 0.5)) - 0.5);
      if (src < 0) src = 0;
      const lo = Math.floor(src);
      i0[o] = lo;
      i1[o] = lo < inSize - 1 ? lo + 1 : lo;
      l1[o] = f(src - lo);
    }
    return { i0, i1, l1 };
  };
  const ys = axis(height, outHeight);
  const xs = axis(width, outWidth);
  const out = new Float32Array(channels * outHeight * outWidth);
  for (let c = 0; c < channels; c++) {
    const plane = c * height * width;
    for (let y = 0; y < outHeight; y++) {
      const wy1 = ys.l1[y];
      const wy0 = f(1 - wy1);
      const r0 = plane + ys.i0[y] * width;
      const r1 = plane + ys.i1[y] * width;
      for (let x = 0; x < outWidth; x++) {
        const wx1 = xs.l1[x];
        const wx0 = f(1 - wx1);
        const top = f(f(wx0 * data[r0 + xs.i0[x]]) + f(wx1 * data[r0 + xs.i1[x]]));
        const bottom = f(f(wx0 * data[r1 + xs.i0[x]]) + f(wx1 * data[r1 + xs.i1[x]]));
        out[c * outHeight * outWidth + y * outWidth + x] = f(f(wy0 * top) + f(wy1 * bottom));
      }
    }
  }
  return out;
}
