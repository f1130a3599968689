/** Test fixtures for the SVD pipeline: tiny model directories, deterministic conditioning images, frame digests. */
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinySvdModel, type TinySvdOptions } from '../src/onnx-build/tiny-svd.js';
import type { RgbImage } from '../src/rgb-image.js';

const dirs = new Map<string, Promise<string>>();

/** A tiny SVD model directory for `opts`, written once per test process into a fresh temp dir. */
export function tinySvdDir(opts: TinySvdOptions = {}): Promise<string> {
  const key = JSON.stringify(opts);
  let dir = dirs.get(key);
  if (!dir) {
    dir = writeTinySvdModel(mkdtempSync(join(tmpdir(), 'tessera-svd-')), opts);
    dirs.set(key, dir);
  }
  return dir;
}

/**
 * A deterministic synthetic photo-like image: smooth colour gradients, a disc and stripes whose placement
 * depends on `variant`, so two variants differ everywhere a model could look.
 */
export function testImage(width: number, height: number, variant = 0): RgbImage {
  const data = new Uint8Array(width * height * 3);
  const cx = width * (0.3 + 0.1 * (variant % 5));
  const cy = height * (0.6 - 0.07 * (variant % 4));
  const r = Math.min(width, height) * 0.25;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const inDisc = (x - cx) ** 2 + (y - cy) ** 2 < r * r;
      const stripe = Math.floor((x + y + variant * 3) / 6) % 2 === 0;
      data[i] = inDisc ? 230 : Math.round((255 * x) / Math.max(1, width - 1));
      data[i + 1] = inDisc ? 40 + variant * 20 : Math.round((255 * y) / Math.max(1, height - 1));
      data[i + 2] = stripe ? 200 : 60 + ((variant * 37) % 100);
    }
  }
  return { width, height, data };
}

/** SHA-256 over all frames' dimensions and bytes, in order. */
export function framesDigest(frames: readonly RgbImage[]): string {
  const h = createHash('sha256');
  for (const f of frames) {
    h.update(`${f.width}x${f.height};`);
    h.update(f.data);
  }
  return h.digest('hex');
}

/** Mean absolute byte difference between two equally sized frames. */
export function meanAbsDiff(a: RgbImage, b: RgbImage): number {
  if (a.data.length !== b.data.length) throw new Error('frame sizes differ');
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += Math.abs(a.data[i] - b.data[i]);
  return s / a.data.length;
}
