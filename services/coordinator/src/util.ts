/** Small helpers shared by the coordinator's intake and assemblers. */
import type { DecodedImage } from './shell/deps.js';

/** Crops a rectangle out of an RGB8 image. */
export function cropRgb(img: DecodedImage, r: { x: number; y: number; width: number; height: number }): Uint8Array {
  const out = new Uint8Array(r.width * r.height * 3);
  const rowBytes = r.width * 3;
  for (let y = 0; y < r.height; y++) {
    const src = ((r.y + y) * img.width + r.x) * 3;
    out.set(img.data.subarray(src, src + rowBytes), y * rowBytes);
  }
  return out;
}

/** Maps with at most `limit` promises in flight; results in input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
