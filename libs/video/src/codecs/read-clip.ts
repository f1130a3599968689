/**
 * Reading an input clip (for video upscale) as a stream of RGB8 frames: an animated WebP / GIF (or any still image
 * sharp reads, as one frame), a directory of PNG frames, or a video file through ffmpeg.
 */
import { mkdtemp, open, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { ClipFormatError } from './errors.js';
import { DEFAULT_FPS, requireFps } from './frames.js';
import { decodeVideoFrames, probeVideo, type FfmpegTools } from './ffmpeg.js';

/** Encoded clip bytes, a directory of PNG frames, or a file (image formats by sharp, anything else by ffmpeg). */
export type ClipInput = Uint8Array | { dir: string } | { file: string };

/** Options of {@link readClip}. */
export interface ReadClipOptions extends FfmpegTools {
  /**
   * Frame rate of the clip. PNG sequences have none (default {@link DEFAULT_FPS}); for animated images it
   * overrides the rate derived from the frame delays (1000 / the shortest delay) — pass it to get back exactly the
   * frames written when identical consecutive frames were merged. Video files: taken from the stream.
   */
  fps?: number;
  signal?: AbortSignal;
}

/** How {@link readClip} read the input. */
export type ClipFormat = 'webp' | 'gif' | 'image' | 'png-sequence' | 'video';

/**
 * A decoded clip. `frames` yields `frameCount` frames of `width × height × 3` bytes (RGB8; alpha is composited on
 * black), in order, decoding lazily with bounded memory; every iteration decodes afresh.
 */
export interface Clip {
  format: ClipFormat;
  width: number;
  height: number;
  fps: number;
  frameCount: number;
  frames: AsyncIterable<Uint8Array>;
}

/**
 * Opens a clip. Animated images: one frame per page, a page shown for k frame times (its delay × fps / 1000,
 * rounded, ≥ 1) repeated k times — libwebp merges identical consecutive frames, this undoes it. PNG directories:
 * every `*.png`, in natural order (`frame-2` before `frame-10`), all of one size. Video (MP4 and whatever else
 * ffmpeg reads): every decoded frame, size and rate from ffprobe; bytes are spooled to a temporary file (removed
 * after probing and after each iteration) because MP4 needs seeking. Throws {@link ClipFormatError} for unreadable
 * input and `FfmpegError` when a video needs ffmpeg and it is missing.
 */
export async function readClip(input: ClipInput, opts: ReadClipOptions = {}): Promise<Clip> {
  if (opts.fps !== undefined) requireFps(opts.fps);
  if (input instanceof Uint8Array) {
    const kind = sniff(input);
    return kind === 'video' ? readVideoBytes(input, opts) : readImage(input, kind, opts);
  }
  if ('dir' in input) return readPngDir(input.dir, opts);
  const kind = sniff(await head(input.file));
  return kind === 'video' ? readVideoFile(input.file, opts) : readImage(input.file, kind, opts);
}

type Kind = 'webp' | 'gif' | 'image' | 'video';

function sniff(b: Uint8Array): Kind {
  const ascii = (from: number, to: number) => String.fromCharCode(...b.subarray(from, to));
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'webp';
  if (ascii(0, 4) === 'GIF8') return 'gif';
  if (ascii(1, 4) === 'PNG' || (b[0] === 0xff && b[1] === 0xd8) || ascii(0, 4) === 'II*\0' || ascii(0, 4) === 'MM\0*') {
    return 'image';
  }
  return 'video';
}

async function head(file: string): Promise<Uint8Array> {
  const fh = await open(file, 'r').catch((e: unknown) => {
    throw new ClipFormatError('input', `cannot open ${file}`, { cause: e, source: file });
  });
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(16), 0, 16, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** RGB8 pixels of pages [page, page + pages) of an image, stacked; checks the size. */
async function decodePages(
  src: Uint8Array | string,
  page: number,
  pages: number,
  w: number,
  h: number,
  source: string,
) {
  const { data, info } = await sharp(src, { page, pages, limitInputPixels: false })
    .flatten({ background: '#000000' })
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true })
    .catch((e: unknown) => {
      throw new ClipFormatError('input', `cannot decode ${source}: ${(e as Error).message}`, { cause: e, source });
    });
  if (info.width !== w || info.height !== h * pages || info.channels !== 3) {
    throw new ClipFormatError(
      'input',
      `${source}: expected ${w}×${h} frames, got ${info.width}×${info.height / pages}`,
      {
        source,
      },
    );
  }
  return data;
}

/** Pages decoded per sharp call: bounded memory without paying a decoder start per frame. */
const CHUNK_BYTES = 32 * 1024 * 1024;

async function readImage(src: Uint8Array | string, kind: Exclude<Kind, 'video'>, opts: ReadClipOptions): Promise<Clip> {
  const source = typeof src === 'string' ? src : `${kind} bytes`;
  const meta = await sharp(src)
    .metadata()
    .catch((e: unknown) => {
      throw new ClipFormatError('input', `cannot read ${source}: ${(e as Error).message}`, { cause: e, source });
    });
  const { width, height } = meta;
  const pages = meta.pages ?? 1;
  const delays = meta.delay?.length === pages ? meta.delay : undefined;
  const shortest = Math.min(...(delays ?? []).filter((d) => d > 0));
  const fps = opts.fps ?? (Number.isFinite(shortest) ? 1000 / shortest : DEFAULT_FPS);
  const repeats = Array.from({ length: pages }, (_, p) =>
    delays === undefined ? 1 : Math.max(1, Math.round((delays[p] * fps) / 1000)),
  );
  const frameBytes = width * height * 3;
  const chunk = Math.max(1, Math.floor(CHUNK_BYTES / frameBytes));
  const format = kind === 'image' ? 'image' : kind;
  async function* frames(): AsyncGenerator<Uint8Array> {
    for (let p = 0; p < pages; p += chunk) {
      opts.signal?.throwIfAborted();
      const n = Math.min(chunk, pages - p);
      const strip = await decodePages(src, p, n, width, height, source);
      for (let i = 0; i < n; i++) {
        const frame = strip.subarray(i * frameBytes, (i + 1) * frameBytes);
        for (let r = 0; r < repeats[p + i]; r++) yield r === 0 ? frame : frame.slice();
      }
    }
  }
  const frameCount = repeats.reduce((a, b) => a + b, 0);
  return { format, width, height, fps, frameCount, frames: { [Symbol.asyncIterator]: frames } };
}

async function readPngDir(dir: string, opts: ReadClipOptions): Promise<Clip> {
  const names = await readdir(dir).catch((e: unknown) => {
    throw new ClipFormatError('input', `cannot list ${dir}`, { cause: e, source: dir });
  });
  const collator = new Intl.Collator('en', { numeric: true });
  const files = names
    .filter((n) => /\.png$/i.test(n))
    .sort(collator.compare)
    .map((n) => join(dir, n));
  if (files.length === 0) throw new ClipFormatError('input', `no .png frames in ${dir}`, { source: dir });
  const { width, height } = await sharp(files[0]).metadata();
  async function* frames(): AsyncGenerator<Uint8Array> {
    for (const f of files) {
      opts.signal?.throwIfAborted();
      yield await decodePages(f, 0, 1, width, height, f);
    }
  }
  const fps = opts.fps ?? DEFAULT_FPS;
  return {
    format: 'png-sequence',
    width,
    height,
    fps,
    frameCount: files.length,
    frames: { [Symbol.asyncIterator]: frames },
  };
}

async function readVideoFile(file: string, opts: ReadClipOptions): Promise<Clip> {
  const probe = await probeVideo(file, opts);
  const frames = () => decodeVideoFrames(file, probe, opts);
  return { format: 'video', ...probe, fps: opts.fps ?? probe.fps, frames: { [Symbol.asyncIterator]: frames } };
}

/** Writes `bytes` to a fresh temporary directory; `remove` deletes it. */
async function spool(bytes: Uint8Array): Promise<{ file: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'tessera-clip-'));
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    await writeFile(join(dir, 'input'), bytes);
  } catch (e) {
    await remove();
    throw e;
  }
  return { file: join(dir, 'input'), remove };
}

async function readVideoBytes(bytes: Uint8Array, opts: ReadClipOptions): Promise<Clip> {
  const probing = await spool(bytes);
  const probe = await probeVideo(probing.file, opts).finally(probing.remove);
  async function* frames(): AsyncGenerator<Uint8Array> {
    const { file, remove } = await spool(bytes);
    try {
      yield* decodeVideoFrames(file, probe, opts);
    } finally {
      await remove();
    }
  }
  return { format: 'video', ...probe, fps: opts.fps ?? probe.fps, frames: { [Symbol.asyncIterator]: frames } };
}
