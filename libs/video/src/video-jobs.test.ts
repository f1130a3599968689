/**
 * The two video jobs end to end on a real clip (a pan and zoom over the baboon photo), with the agents' model
 * replaced by sharp: a video upscale through keyframed batches, and a chained clip whose colours drift.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ClipAssembler, FrameQueue, assembleClip, planFrameBatches, type FrameBatch } from './index.js';
import { encodeAnimatedWebp, encodeMp4, ffmpegAvailable, probeFrameCount, readClip } from './codecs/index.js';
import { panZoomClip } from './testing/index.js';

function baboon(): Buffer {
  const uri = createRequire(import.meta.url)('baboon-image-uri') as string;
  return Buffer.from(uri.slice(uri.indexOf(',') + 1), 'base64');
}

const skipMp4 = !(await ffmpegAvailable()) && !process.env.CI;

/** Stand-in for an upscaler agent: ×2 Lanczos with sharp, frame by frame. */
async function upscale(frames: Uint8Array[], w: number, h: number): Promise<Uint8Array[]> {
  return Promise.all(
    frames.map(async (f) => {
      const b = await sharp(f, { raw: { width: w, height: h, channels: 3 } })
        .resize(w * 2, h * 2, { kernel: 'lanczos3' })
        .raw()
        .toBuffer();
      return new Uint8Array(b.buffer, b.byteOffset, b.length);
    }),
  );
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);

const meanAbsError = (a: Uint8Array[], b: Uint8Array[]) => {
  let s = 0;
  let n = 0;
  a.forEach((f, k) => f.forEach((v, i) => ((s += Math.abs(v - b[k][i])), n++)));
  return s / n;
};

describe('video upscale', () => {
  it('reads a clip, upscales keyframed batches out of order and streams the assembled clip into an encoder', async () => {
    const [w, h, n] = [64, 36, 30];
    const source = await panZoomClip(baboon(), { frames: n, width: w, height: h });
    const input = await readClip(await encodeAnimatedWebp(source, { width: w, height: h, fps: 7, lossless: true }));
    expect(input.frameCount).toBe(n);

    const plan = planFrameBatches({ totalFrames: input.frameCount, framesPerBatch: 8, overlap: 0, mode: 'keyframed' });
    expect(plan.map((b) => b.count)).toEqual([8, 8, 7, 7]);
    // the coordinator cuts batches as the input streams in; agents finish in some order
    const batches: Uint8Array[][] = plan.map(() => []);
    let f = 0;
    for await (const frame of input.frames) {
      batches[plan.findIndex((b) => f >= b.start && f < b.start + b.count)].push(frame);
      f++;
    }
    const results = await Promise.all(batches.map((b) => upscale(b, w, h)));

    const queue = new FrameQueue();
    const asm = new ClipAssembler({
      width: w * 2,
      height: h * 2,
      totalFrames: n,
      batches: plan,
      overlap: 0,
      colourMatch: false,
      onFrame: (_i, rgb) => queue.push(rgb),
    });
    const dir = await mkdtemp(join(tmpdir(), 'tessera-upscale-'));
    try {
      const out: Uint8Array[] = [];
      async function* tee(): AsyncGenerator<Uint8Array> {
        for await (const frame of queue.frames()) {
          out.push(frame);
          yield frame;
        }
      }
      const encoded = skipMp4
        ? encodeAnimatedWebp(tee(), { width: w * 2, height: h * 2, fps: input.fps })
        : encodeMp4(tee(), { width: w * 2, height: h * 2, fps: input.fps }, join(dir, 'upscaled.mp4'));
      for (const b of [2, 0, 3, 1]) asm.push(b, results[b]);
      expect(asm.done).toBe(true);
      queue.end();
      await encoded;
      const expected = await upscale(source, w, h);
      expect(out).toHaveLength(n);
      expect(out.every((frame, i) => sameBytes(frame, expected[i]))).toBe(true);
      if (!skipMp4) expect(await probeFrameCount(join(dir, 'upscaled.mp4'))).toBe(n);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('chained image-to-video', () => {
  it('colour matching pulls drifting chained batches back towards the true colours', async () => {
    const [w, h, n] = [64, 36, 60];
    const truth = await panZoomClip(baboon(), { frames: n, width: w, height: h });
    const plan = planFrameBatches({ totalFrames: n, framesPerBatch: 25, overlap: 4, mode: 'chained' });
    // Chained SVD drift: batch b starts from b − 1's (already tinted) frame and tints further along the clip,
    // so the tint grows with clip time: warmer and brighter, blue contrast fading.
    const tint = (frame: Uint8Array, t: number) =>
      frame.map((v, i) => {
        const c = i % 3;
        const x = c === 0 ? v * (1 + 0.004 * t) + 0.5 * t : c === 1 ? v + 0.25 * t : 128 + (v - 128) * (1 - 0.005 * t);
        return Math.max(0, Math.min(255, Math.round(x)));
      });
    const generated = plan.map((b: FrameBatch) =>
      truth.slice(b.start, b.start + b.count).map((fr, k) => tint(fr, b.start + k)),
    );
    const opts = { width: w, height: h, totalFrames: n, batches: plan, overlap: 4 };
    const raw = assembleClip({ ...opts, colourMatch: false }, (b) => generated[b]).frames;
    const matched = assembleClip({ ...opts, colourMatch: true }, (b) => generated[b]).frames;
    const before = meanAbsError(raw, truth);
    const after = meanAbsError(matched, truth);
    const lastBatch = plan[plan.length - 1];
    const tail = (clip: Uint8Array[]) => clip.slice(lastBatch.start + 4);
    // over the whole clip and, above all, at the end where the drift had grown largest
    expect(after).toBeLessThan(before * 0.6);
    expect(meanAbsError(tail(matched), tail(truth))).toBeLessThan(meanAbsError(tail(raw), tail(truth)) * 0.5);
  });

  it('a constant clip stays constant through assembly with colour matching', () => {
    const plan = planFrameBatches({ totalFrames: 60, framesPerBatch: 25, overlap: 4, mode: 'chained' });
    const flat = new Uint8Array(16 * 9 * 3).map((_, i) => [200, 90, 30][i % 3]);
    const { frames } = assembleClip(
      { width: 16, height: 9, totalFrames: 60, batches: plan, overlap: 4, colourMatch: true },
      (b) => Array.from({ length: plan[b].count }, () => flat),
    );
    expect(frames.every((fr) => sameBytes(fr, flat))).toBe(true);
  });
});
