/** Shared argument checks and frame iteration for the codecs. Frames are RGB8, interleaved, row-major. */
import { ClipFormatError } from './errors.js';

/** Frames to encode: an array, any iterable, or an async iterable (a stream from the assembler or a decoder). */
export type FrameInput = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** Default frame rate where a format has none (PNG sequences): SVD / SVD-XT's native 7 fps. */
export const DEFAULT_FPS = 7;

/** Throws {@link ClipFormatError} unless width and height are integers in [1, max]; returns the bytes per frame. */
export function requireGeometry(width: number, height: number, max = 1 << 16): number {
  for (const [field, v] of [
    ['width', width],
    ['height', height],
  ] as const) {
    if (!Number.isInteger(v) || v < 1 || v > max) {
      throw new ClipFormatError(field, `${field} must be an integer in [1, ${max}], got ${v}`);
    }
  }
  return width * height * 3;
}

/** Throws {@link ClipFormatError} unless `fps` is a finite number in (0, 1000]. */
export function requireFps(fps: number): number {
  if (typeof fps !== 'number' || !Number.isFinite(fps) || fps <= 0 || fps > 1000) {
    throw new ClipFormatError('fps', `fps must be a number in (0, 1000], got ${fps}`);
  }
  return fps;
}

/**
 * Iterates `frames`, checking each is a Uint8Array of `frameBytes` bytes (else {@link ClipFormatError} naming its
 * index) and throwing `signal.reason` once `signal` is aborted.
 */
export async function* checkedFrames(
  frames: FrameInput,
  frameBytes: number,
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array> {
  let i = 0;
  for await (const f of frames) {
    signal?.throwIfAborted();
    if (!(f instanceof Uint8Array) || f.length !== frameBytes) {
      throw new ClipFormatError('frames', `frame ${i} must be a Uint8Array of ${frameBytes} bytes, got ${f?.length}`);
    }
    yield f;
    i++;
  }
  signal?.throwIfAborted();
}
