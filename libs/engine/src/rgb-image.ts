import { InvalidImageError } from './errors.js';

/**
 * An 8-bit RGB image: `data` is interleaved R,G,B, row-major, top row first, no padding,
 * so `data.length === width * height * 3`.
 */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** A model's raw output before quantisation: like RgbImage, but float32 values on the 0–255 scale, unclamped. */
export interface RgbFloatImage {
  width: number;
  height: number;
  data: Float32Array;
}

/** Throws InvalidImageError unless `img` has positive integer dimensions and exactly width·height·3 bytes. */
export function assertRgbImage(img: RgbImage, what = 'image'): void {
  const { width, height, data } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new InvalidImageError(`${what}: width and height must be positive integers, got ${width}x${height}`);
  }
  if (!(data instanceof Uint8Array) || data.length !== width * height * 3) {
    throw new InvalidImageError(
      `${what}: data must be a Uint8Array of width*height*3 = ${width * height * 3} bytes, got ${data?.length}`,
    );
  }
}

/**
 * The one float → RGB8 quantiser: clamp to [0, 255], then Math.round (NaN → 0).
 * Every path (single pass, tiled, worker) goes through it, so equal floats give equal bytes.
 */
export function toRgb8(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    out[i] = v > 255 ? 255 : v >= 0 ? Math.round(v) : 0;
  }
  return out;
}

/** RGB8 bytes as float32 pixel values in 0–255 (the model's input range), same interleaved layout. */
export function rgb8ToFloat32(data: Uint8Array): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i];
  return out;
}
