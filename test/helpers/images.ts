/** Real test images: crops of a real photo (the baboon of `baboon-image-uri`). */
import { createRequire } from 'node:module';
import sharp from 'sharp';

const require = createRequire(import.meta.url);

/** The full 512×512 baboon photo as PNG bytes. */
export function baboonPng(): Buffer {
  const uri: string = require('baboon-image-uri');
  return Buffer.from(uri.slice(uri.indexOf(',') + 1), 'base64');
}

/** A crop of the baboon as PNG bytes. */
export async function baboonCrop(left: number, top: number, width: number, height: number): Promise<Buffer> {
  return sharp(baboonPng()).extract({ left, top, width, height }).png().toBuffer();
}

/** Decodes any image to raw RGB8. */
export async function rgbOf(bytes: Uint8Array): Promise<{ width: number; height: number; data: Buffer }> {
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data };
}

/** Max and mean absolute difference per channel (0–255 units) of two same-sized RGB8 buffers. */
export function diffStats(a: Uint8Array, b: Uint8Array): { max: number; mean: number; differing: number } {
  if (a.length !== b.length) throw new Error(`size mismatch: ${a.length} vs ${b.length}`);
  let max = 0;
  let sum = 0;
  let differing = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d > max) max = d;
    if (d) differing++;
    sum += d;
  }
  return { max, mean: sum / a.length, differing };
}
