import { mkdtemp, readdir, rm, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { panZoomClip } from '../testing/pan-zoom-clip.js';
import {
  ClipFormatError,
  FfmpegError,
  encodeAnimatedWebp,
  encodeMp4,
  ffmpegAvailable,
  frameDelaysMs,
  frameFileName,
  probeFrameCount,
  probeVideo,
  readClip,
  writePngFrames,
} from './index.js';

/** The 128×128 baboon photo (PNG bytes) from the `baboon-image-uri` package. */
function baboon(): Buffer {
  const uri = createRequire(import.meta.url)('baboon-image-uri') as string;
  return Buffer.from(uri.slice(uri.indexOf(',') + 1), 'base64');
}

const W = 96;
const H = 54;
const N = 21;

const hasFfmpeg = await ffmpegAvailable();
// MP4 tests may be skipped only on a developer box without ffmpeg; CI installs it and must run them.
const skipMp4 = !hasFfmpeg && !process.env.CI;

async function collect(frames: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const f of frames) out.push(f);
  return out;
}

async function* stream(frames: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const f of frames) {
    await new Promise((r) => setImmediate(r));
    yield f;
  }
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);

/** Peak signal-to-noise ratio in dB between two frame lists. */
function psnr(a: Uint8Array[], b: Uint8Array[]): number {
  let se = 0;
  let n = 0;
  a.forEach((f, k) =>
    f.forEach((v, i) => {
      se += (v - b[k][i]) ** 2;
      n++;
    }),
  );
  return 10 * Math.log10((255 * 255) / (se / n));
}

/** Names of this process's child processes (Linux /proc), or null where that is not available. */
async function childCommands(): Promise<string[] | null> {
  try {
    const ids = (await readFile(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8')).trim().split(/\s+/);
    const names = await Promise.all(
      ids.filter(Boolean).map((id) => readFile(`/proc/${id}/comm`, 'utf8').catch(() => '')),
    );
    return names.map((n) => n.trim());
  } catch {
    return null;
  }
}

let clip: Uint8Array[];
let dir: string;

beforeAll(async () => {
  clip = await panZoomClip(baboon(), { frames: N, width: W, height: H });
  dir = await mkdtemp(join(tmpdir(), 'tessera-video-test-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('panZoomClip', () => {
  it('cuts distinct frames of the requested size from the photo, deterministically', async () => {
    expect(clip).toHaveLength(N);
    for (const f of clip) expect(f.length).toBe(W * H * 3);
    for (let i = 1; i < N; i++) expect(sameBytes(clip[i], clip[i - 1])).toBe(false);
    const again = await panZoomClip(baboon(), { frames: N, width: W, height: H });
    expect(again.every((f, i) => sameBytes(f, clip[i]))).toBe(true);
    // photographic content, not flat: per-frame standard deviation well above zero
    const mean = clip[0].reduce((s, v) => s + v, 0) / clip[0].length;
    const sd = Math.sqrt(clip[0].reduce((s, v) => s + (v - mean) ** 2, 0) / clip[0].length);
    expect(sd).toBeGreaterThan(20);
  });
});

describe('animated WebP', () => {
  it('has one page per frame with the delays of the frame rate (read back with sharp metadata)', async () => {
    const webp = await encodeAnimatedWebp(stream(clip), { width: W, height: H, fps: 7, quality: 90 });
    const meta = await sharp(webp).metadata();
    expect(meta.format).toBe('webp');
    expect(meta.pages).toBe(N);
    expect(meta.width).toBe(W);
    expect(meta.height).toBe(H);
    expect(meta.loop).toBe(0);
    expect(meta.delay).toEqual(frameDelaysMs(N, 7));
    expect(new Set(meta.delay)).toEqual(new Set([142, 143]));
    expect(meta.delay!.reduce((a, b) => a + b, 0)).toBe(Math.round((N * 1000) / 7)); // 3000 ms, no drift
  });

  it('lossless round trip through readClip is byte-exact', async () => {
    const webp = await encodeAnimatedWebp(clip, { width: W, height: H, fps: 7, lossless: true, loop: 2 });
    expect((await sharp(webp).metadata()).loop).toBe(2);
    const back = await readClip(webp);
    expect(back).toMatchObject({ format: 'webp', width: W, height: H, frameCount: N });
    expect(back.fps).toBeCloseTo(7, 1);
    const frames = await collect(back.frames);
    expect(frames).toHaveLength(N);
    expect(frames.every((f, i) => sameBytes(f, clip[i]))).toBe(true);
  });

  it('lossy frames stay close to the source', async () => {
    const webp = await encodeAnimatedWebp(clip, { width: W, height: H, fps: 7, quality: 90 });
    const frames = await collect((await readClip(webp)).frames);
    expect(frames).toHaveLength(N);
    expect(psnr(frames, clip)).toBeGreaterThan(25); // 4:2:0 chroma on baboon fur at 96×54
  });

  it('libwebp merges repeated frames; readClip with fps expands them again', async () => {
    const held = [clip[0], clip[1], clip[1], clip[1], clip[2]];
    const webp = await encodeAnimatedWebp(held, { width: W, height: H, fps: 10, lossless: true });
    const meta = await sharp(webp).metadata();
    expect(meta.pages).toBe(3);
    expect(meta.delay).toEqual([100, 300, 100]);
    const back = await readClip(webp, { fps: 10 });
    expect(back.frameCount).toBe(5);
    const frames = await collect(back.frames);
    expect(frames.every((f, i) => sameBytes(f, held[i]))).toBe(true);
  });

  it('rejects frames of the wrong size and empty clips', async () => {
    await expect(encodeAnimatedWebp([new Uint8Array(5)], { width: W, height: H, fps: 7 })).rejects.toThrow(
      /frame 0 must be a Uint8Array of 15552 bytes, got 5/,
    );
    await expect(encodeAnimatedWebp([], { width: W, height: H, fps: 7 })).rejects.toThrow(ClipFormatError);
    await expect(encodeAnimatedWebp(clip, { width: W, height: H, fps: 0 })).rejects.toThrow(/fps/);
  });
});

describe('PNG frames', () => {
  it('writes a complete, numbered sequence that reads back byte-exact in order', async () => {
    const out = join(dir, 'png');
    const paths = await writePngFrames(out, stream(clip), { width: W, height: H });
    expect(paths).toHaveLength(N);
    const names = (await readdir(out)).sort();
    expect(names).toEqual(Array.from({ length: N }, (_, i) => `frame-${String(i).padStart(5, '0')}.png`));
    const meta = await sharp(paths[3]).metadata();
    expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['png', W, H, 3]);
    const back = await readClip({ dir: out }, { fps: 7 });
    expect(back).toMatchObject({ format: 'png-sequence', width: W, height: H, fps: 7, frameCount: N });
    const frames = await collect(back.frames);
    expect(frames.every((f, i) => sameBytes(f, clip[i]))).toBe(true);
  });

  it('orders unpadded names naturally (frame-2 before frame-10)', async () => {
    const out = join(dir, 'natural');
    await writePngFrames(out, clip.slice(0, 12), { width: W, height: H, pattern: 'f%d.png', start: 1 });
    const frames = await collect((await readClip({ dir: out })).frames);
    expect(frames.every((f, i) => sameBytes(f, clip[i]))).toBe(true);
  });

  it('validates the pattern', async () => {
    expect(frameFileName('frame-%05d.png', 7)).toBe('frame-00007.png');
    expect(frameFileName('%d.png', 12)).toBe('12.png');
    for (const bad of ['frame.png', 'a/%d.png', '%d-%d.png', '%s.png']) {
      expect(() => frameFileName(bad, 0)).toThrow(ClipFormatError);
    }
    await expect(
      writePngFrames(join(dir, 'bad'), clip, { width: W, height: H, pattern: '../x%d.png' }),
    ).rejects.toThrow(/pattern/);
  });
});

describe('readClip', () => {
  it('reads a still image as one frame and rejects a directory without frames', async () => {
    const png = await sharp(clip[0], { raw: { width: W, height: H, channels: 3 } })
      .png()
      .toBuffer();
    const still = await readClip(png);
    expect(still).toMatchObject({ format: 'image', frameCount: 1, width: W, height: H });
    expect(sameBytes((await collect(still.frames))[0], clip[0])).toBe(true);
    await expect(readClip({ dir })).rejects.toThrow(/no \.png frames/);
  });

  it('reads GIF frames', async () => {
    const gif = await sharp(Buffer.concat(clip.slice(0, 5)), {
      raw: { width: W, height: H * 5, channels: 3, pageHeight: H },
    })
      .gif({ delay: [100, 100, 100, 100, 100] })
      .toBuffer();
    const back = await readClip(gif);
    expect(back).toMatchObject({ format: 'gif', width: W, height: H, frameCount: 5, fps: 10 });
    expect(await collect(back.frames)).toHaveLength(5);
  });
});

describe('MP4 (ffmpeg)', () => {
  it('ffmpegAvailable is false for a missing binary, and encodeMp4 then names it', async () => {
    expect(await ffmpegAvailable({ ffmpeg: 'no-such-ffmpeg-binary' })).toBe(false);
    const err = await encodeMp4(
      clip,
      { width: W, height: H, fps: 7, ffmpeg: 'no-such-ffmpeg-binary' },
      join(dir, 'x.mp4'),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FfmpegError);
    expect((err as FfmpegError).message).toMatch(/no-such-ffmpeg-binary could not be started \(ENOENT\)/);
  });

  it.skipIf(skipMp4)('encodes every frame (ffprobe count) and decodes back close to the source', async () => {
    const file = join(dir, 'clip.mp4');
    const res = await encodeMp4(stream(clip), { width: W, height: H, fps: 7, crf: 12 }, file);
    expect(res).toEqual({ file, width: W, height: H, frames: N });
    expect(await probeFrameCount(file)).toBe(N);
    expect(await probeVideo(file)).toEqual({ width: W, height: H, fps: 7, frameCount: N });
    const back = await readClip({ file });
    expect(back).toMatchObject({ format: 'video', width: W, height: H, fps: 7, frameCount: N });
    const frames = await collect(back.frames);
    expect(frames).toHaveLength(N);
    expect(psnr(frames, clip)).toBeGreaterThan(26); // yuv420p chroma on baboon fur at 96×54
    // in order, none dropped or repeated: each decoded frame is nearest its own source frame
    for (let i = 0; i < N; i++) {
      const own = psnr([frames[i]], [clip[i]]);
      for (const j of [i - 1, i + 1].filter((j) => j >= 0 && j < N)) {
        expect(own).toBeGreaterThan(psnr([frames[i]], [clip[j]]));
      }
    }
    // the same from bytes (spooled to a temporary file)
    const fromBytes = await readClip(await readFile(file));
    expect(await collect(fromBytes.frames)).toHaveLength(N);
  });

  it.skipIf(skipMp4)('pads odd sizes to even for yuv420p', async () => {
    const odd = clip.map((f) => {
      const out = new Uint8Array((W - 1) * (H - 1) * 3);
      for (let y = 0; y < H - 1; y++) out.set(f.subarray(y * W * 3, (y * W + W - 1) * 3), y * (W - 1) * 3);
      return out;
    });
    const file = join(dir, 'odd.mp4');
    const res = await encodeMp4(odd, { width: W - 1, height: H - 1, fps: 7 }, file);
    expect([res.width, res.height]).toEqual([W, H]);
    expect(await probeFrameCount(file)).toBe(N);
  });

  it.skipIf(skipMp4)('stops early without leaving ffmpeg running, and removes the output when aborted', async () => {
    const file = join(dir, 'clip.mp4');
    await encodeMp4(clip, { width: W, height: H, fps: 7 }, file);
    const back = await readClip({ file });
    for await (const _f of back.frames) break; // consumer stops after one frame
    await new Promise((r) => setTimeout(r, 50));
    const children = await childCommands();
    if (children !== null) expect(children).not.toContain('ffmpeg');
    const ac = new AbortController();
    async function* slow(): AsyncGenerator<Uint8Array> {
      yield clip[0];
      ac.abort(new Error('cancelled by test'));
      yield clip[1];
    }
    const aborted = join(dir, 'aborted.mp4');
    await expect(encodeMp4(slow(), { width: W, height: H, fps: 7, signal: ac.signal }, aborted)).rejects.toThrow(
      /cancelled by test/,
    );
    await expect(readFile(aborted)).rejects.toThrow(/ENOENT/);
  });
});
