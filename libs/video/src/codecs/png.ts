/** PNG frame sequences: one lossless RGB PNG per frame, named from a printf-style pattern. */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { ClipFormatError } from './errors.js';
import { checkedFrames, requireGeometry, type FrameInput } from './frames.js';

/** Options of {@link writePngFrames}. */
export interface PngFramesOptions {
  width: number;
  height: number;
  /** File name with exactly one `%d` or `%0Nd` (the frame number) and no directory part. Default `frame-%05d.png`. */
  pattern?: string;
  /** Number of the first frame. Default 0 (ffmpeg's image2 muxer starts at 1: pass `start: 1` to match). */
  start?: number;
  /** zlib level 0–9. Default 6. */
  compressionLevel?: number;
  signal?: AbortSignal;
}

/** Default of {@link PngFramesOptions.pattern}. */
export const DEFAULT_FRAME_PATTERN = 'frame-%05d.png';

const PATTERN = /^([^/\\%]*)%(0(\d{1,2}))?d([^/\\%]*)$/;

/**
 * The file name of frame `index` under `pattern` (`frame-%05d.png`, 7 → `frame-00007.png`). Throws
 * {@link ClipFormatError} (field `pattern`) unless the pattern has exactly one `%d` / `%0Nd` and no `/`, `\` or
 * other `%`.
 */
export function frameFileName(pattern: string, index: number): string {
  const m = PATTERN.exec(pattern);
  if (m === null) {
    throw new ClipFormatError(
      'pattern',
      `pattern must be a file name with one %d or %0Nd, got ${JSON.stringify(pattern)}`,
    );
  }
  const digits = m[3] === undefined ? 0 : Number(m[3]);
  return `${m[1]}${String(index).padStart(digits, '0')}${m[4]}`;
}

/**
 * Writes every frame as a PNG into `dir` (created if missing), one at a time, and returns the paths written in
 * frame order. Files are complete when the promise resolves; on error or abort, files already written stay.
 */
export async function writePngFrames(dir: string, frames: FrameInput, opts: PngFramesOptions): Promise<string[]> {
  const { width, height, pattern = DEFAULT_FRAME_PATTERN, start = 0, compressionLevel = 6 } = opts;
  const frameBytes = requireGeometry(width, height);
  frameFileName(pattern, 0); // validate before touching the disk
  if (!Number.isInteger(start) || start < 0)
    throw new ClipFormatError('start', `start must be an integer ≥ 0, got ${start}`);
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for await (const f of checkedFrames(frames, frameBytes, opts.signal)) {
    const path = join(dir, frameFileName(pattern, start + paths.length));
    await sharp(f, { raw: { width, height, channels: 3 } })
      .png({ compressionLevel })
      .toFile(path);
    paths.push(path);
  }
  return paths;
}
