/**
 * Animated WebP encoding with sharp: the frames are stacked into one tall RGB strip, `pageHeight` tells libvips
 * where each frame starts, and `delay` gives each frame's display time.
 */
import sharp from 'sharp';
import { ClipFormatError } from './errors.js';
import { checkedFrames, requireFps, requireGeometry, type FrameInput } from './frames.js';

/** Options of {@link encodeAnimatedWebp}. */
export interface AnimatedWebpOptions {
  width: number;
  height: number;
  /** Frames per second, (0, 1000]. */
  fps: number;
  /** Times to play; 0 (default) loops forever. */
  loop?: number;
  /** Lossless encoding (byte-exact frames, larger files). Default false. */
  lossless?: boolean;
  /** Lossy quality 1–100. Default 90. Ignored when lossless. */
  quality?: number;
  /** CPU effort 0 (fast) – 6 (small). Default 4. */
  effort?: number;
  signal?: AbortSignal;
}

/** The largest side libwebp accepts. */
export const MAX_WEBP_SIDE = 16383;

/**
 * Display time of each of `frames` frames in whole milliseconds at `fps`, rounded cumulatively: frame i lasts
 * `round((i + 1) · 1000 / fps) − round(i · 1000 / fps)`, so at 7 fps frames last 143 or 142 ms and the clip lasts
 * `round(frames · 1000 / fps)` ms — no drift from rounding every frame the same way.
 */
export function frameDelaysMs(frames: number, fps: number): number[] {
  requireFps(fps);
  const at = (i: number) => Math.round((i * 1000) / fps);
  return Array.from({ length: frames }, (_, i) => at(i + 1) - at(i));
}

/**
 * Encodes RGB8 frames (each `width × height × 3` bytes) as an animated WebP. Holds the whole clip as bytes while
 * encoding (libwebp needs every frame; 60 frames at 1024×576 are 106 MB). Invariants: one animation frame per input
 * frame with the delays of {@link frameDelaysMs}, except that libwebp merges identical consecutive frames into one
 * (adding their delays; `readClip` with `fps` expands them again). Throws {@link ClipFormatError} for no frames, a
 * frame of the wrong size or a side over {@link MAX_WEBP_SIDE}.
 */
export async function encodeAnimatedWebp(frames: FrameInput, opts: AnimatedWebpOptions): Promise<Buffer> {
  const { width, height, loop = 0, lossless = false, quality = 90, effort = 4 } = opts;
  const frameBytes = requireGeometry(width, height, MAX_WEBP_SIDE);
  requireFps(opts.fps);
  const chunks: Uint8Array[] = [];
  for await (const f of checkedFrames(frames, frameBytes, opts.signal)) chunks.push(f);
  if (chunks.length === 0) throw new ClipFormatError('frames', 'an animated WebP needs at least one frame');
  const strip = Buffer.concat(chunks);
  chunks.length = 0;
  return sharp(strip, {
    raw: { width, height: height * (strip.length / frameBytes), channels: 3, pageHeight: height },
    limitInputPixels: false,
  })
    .webp({ loop, delay: frameDelaysMs(strip.length / frameBytes, opts.fps), lossless, quality, effort })
    .toBuffer();
}
