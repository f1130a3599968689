/**
 * A real test clip: frames cut from a photo with a slow pan and zoom, the kind of motion an image-to-video model
 * produces. Tests of video upscale use it instead of synthetic noise, so codecs and upscalers see photographic
 * content (edges, texture, smooth gradients) that moves.
 */
import sharp from 'sharp';

/** Options of {@link panZoomClip}. */
export interface PanZoomClipOptions {
  /** Frames to make, ≥ 1. */
  frames: number;
  /** Output frame size in px. */
  width: number;
  height: number;
  /** Zoom at the last frame relative to the first (the first shows the largest crop of the photo with the output's
   * aspect ratio). Default 1.5; ≥ 1. */
  zoom?: number;
}

/**
 * Frames (RGB8, `width × height × 3` bytes each) of a pan from the top-left towards the bottom-right of `photo` (any
 * format sharp reads) while zooming in linearly to `zoom`. Each frame is one `extract` + `resize` with sharp from the
 * photo upsampled once (Lanczos) so the crop moves in sub-pixel steps of the original; deterministic for a given
 * photo and options. Consecutive frames differ (the crop moves every frame).
 */
export async function panZoomClip(photo: Uint8Array, opts: PanZoomClipOptions): Promise<Uint8Array[]> {
  const { frames, width, height, zoom = 1.5 } = opts;
  if (!Number.isInteger(frames) || frames < 1) throw new RangeError(`frames must be an integer ≥ 1, got ${frames}`);
  if (!Number.isInteger(width) || width < 1 || !Number.isInteger(height) || height < 1) {
    throw new RangeError(`width and height must be positive integers, got ${width}×${height}`);
  }
  if (!(zoom >= 1)) throw new RangeError(`zoom must be ≥ 1, got ${zoom}`);
  const meta = await sharp(photo).metadata();
  // Upsample so the smallest crop still has at least the output's pixels: crops are then whole pixels of `big`.
  const base = Math.min(meta.width / width, meta.height / height); // photo px per output px at zoom 1
  const k = Math.max(1, Math.ceil((zoom / base) * 2));
  const bigW = meta.width * k;
  const bigH = meta.height * k;
  const big = await sharp(photo)
    .removeAlpha()
    .toColourspace('srgb')
    .resize(bigW, bigH, { kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  const out: Uint8Array[] = [];
  for (let i = 0; i < frames; i++) {
    const t = frames === 1 ? 0 : i / (frames - 1);
    const s = 1 + (zoom - 1) * t;
    const cropW = Math.max(1, Math.round((width * base * k) / s));
    const cropH = Math.max(1, Math.round((height * base * k) / s));
    const left = Math.round((bigW - cropW) * (0.1 + 0.8 * t));
    const top = Math.round((bigH - cropH) * (0.2 + 0.6 * t));
    const frame = await sharp(big, { raw: { width: bigW, height: bigH, channels: 3 } })
      .extract({ left, top, width: cropW, height: cropH })
      .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
      .raw()
      .toBuffer();
    out.push(new Uint8Array(frame.buffer, frame.byteOffset, frame.length));
  }
  return out;
}
