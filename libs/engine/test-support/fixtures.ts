/** Test fixtures shared by the engine's tests: a real photo, crops, the shipped TF.js models. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, sep } from 'node:path';
import { decodeToRgb } from '../src/image-codec.js';
import type { RgbFloatImage, RgbImage } from '../src/rgb-image.js';

const require = createRequire(import.meta.url);

/**
 * A real 128×128 photo as RgbImage: the baboon of `baboon-image-uri` (hoisted from libs/client's
 * dependencies), or, where that package is absent, the hibiscus photo esrgan-slim ships as
 * assets/fixture.png. Tests must not depend on which one.
 */
export async function baboon(): Promise<RgbImage> {
  let uri: string;
  try {
    uri = require('baboon-image-uri') as string;
  } catch {
    return decodeToRgb(readFileSync(esrganSlimFixturePath()));
  }
  return decodeToRgb(Buffer.from(uri.slice(uri.indexOf(',') + 1), 'base64'));
}

/** A w×h window of `img` whose top-left corner is (x0, y0); must lie inside the image. */
export function crop<T extends RgbImage | RgbFloatImage>(img: T, x0: number, y0: number, w: number, h: number): T {
  if (x0 < 0 || y0 < 0 || x0 + w > img.width || y0 + h > img.height) throw new Error('crop outside image');
  const data = new (img.data.constructor as { new (n: number): T['data'] })(w * h * 3);
  for (let y = 0; y < h; y++) {
    const from = ((y0 + y) * img.width + x0) * 3;
    data.set(img.data.subarray(from, from + w * 3) as never, y * w * 3);
  }
  return { width: w, height: h, data } as T;
}

/** Largest |a − b| over two equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** model.json (parsed) and weight bytes of the shipped esrgan-slim model of a scale. */
export function esrganSlimFiles(scale: 2 | 4): {
  modelJson: { modelTopology: object; weightsManifest: { weights: object[] }[] };
  weights: Uint8Array;
} {
  const dir = join(esrganSlimRoot(), 'models', `x${scale}`);
  const weights = readFileSync(join(dir, 'group1-shard1of1.bin'));
  return {
    modelJson: JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')),
    weights: new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength),
  };
}

function esrganSlimRoot(): string {
  return require.resolve('@upscalerjs/esrgan-slim').split(`${sep}dist${sep}`)[0];
}

/** Path of the 128×128 RGBA photo esrgan-slim ships as assets/fixture.png. */
export function esrganSlimFixturePath(): string {
  return join(esrganSlimRoot(), 'assets', 'fixture.png');
}
