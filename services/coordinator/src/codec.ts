/**
 * sharp-backed ImageCodec: header probe, RGB8 decode with pixel limits, cover-resize for video
 * keyframes, and clip decoding (animated WebP/GIF with sharp, MP4 with ffmpeg) through @tessera/video.
 */
import { ffmpegAvailable, readClip } from '@tessera/video/codecs';
import sharp, { type Metadata, type Sharp } from 'sharp';
import type { DecodedImage, ImageCodec } from './shell/deps.js';
import { InvalidArgumentError } from './errors.js';

/** The decode pipeline of @tessera/engine's decodeToRgb (the single pass): orientation, alpha onto black, sRGB, 8 bits. */
function rgbPipeline(bytes: Uint8Array, maxPixels: number): Sharp {
  return sharp(bytes, { limitInputPixels: maxPixels })
    .autoOrient()
    .flatten({ background: { r: 0, g: 0, b: 0 } })
    .toColourspace('srgb');
}

async function probe(bytes: Uint8Array, maxPixels: number, field: string) {
  if (bytes.length === 0)
    throw new InvalidArgumentError(field, 'empty: send the encoded image bytes (PNG, JPEG, WebP, TIFF, GIF)');
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (e) {
    throw new InvalidArgumentError(field, `cannot decode ${bytes.length} bytes as an image (${(e as Error).message})`, {
      cause: e,
    });
  }
  const width = meta.autoOrient?.width ?? meta.width ?? 0;
  const height = meta.autoOrient?.height ?? meta.height ?? 0;
  if (!width || !height) throw new InvalidArgumentError(field, `image has no size (${width}×${height})`);
  if (width * height > maxPixels) {
    throw new InvalidArgumentError(
      field,
      `${width}×${height} is ${width * height} pixels, above the limit of ${maxPixels}`,
    );
  }
  return { width, height };
}

async function decodeRgb(bytes: Uint8Array, maxPixels: number, field: string): Promise<DecodedImage> {
  try {
    const { data, info } = await rgbPipeline(bytes, maxPixels)
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (e) {
    throw new InvalidArgumentError(field, `cannot decode image (${(e as Error).message})`, { cause: e });
  }
}

/** Builds the codec; looks for ffmpeg once. */
export async function createSharpCodec(): Promise<ImageCodec> {
  const ffmpeg = await ffmpegAvailable();
  return {
    ffmpeg,
    probe,
    decodeRgb,
    async decodeResized(bytes, width, height, maxPixels, field) {
      try {
        const data = await rgbPipeline(bytes, maxPixels)
          .resize(width, height, { fit: 'cover', position: 'centre', kernel: 'lanczos3' })
          .raw({ depth: 'uchar' })
          .toBuffer();
        return new Uint8Array(data.buffer, data.byteOffset, data.length);
      } catch (e) {
        throw new InvalidArgumentError(field, `cannot decode image (${(e as Error).message})`, { cause: e });
      }
    },
    async decodeClip(src, maxPixels, maxFrames) {
      if (src.frames.length > 0) {
        if (src.frames.length > maxFrames)
          throw new InvalidArgumentError(
            'video_upscale.frames',
            `${src.frames.length} frames is above the limit of ${maxFrames}`,
          );
        const frames: Uint8Array[] = [];
        let size: { width: number; height: number } | undefined;
        for (let i = 0; i < src.frames.length; i++) {
          const field = `video_upscale.frames[${i}]`;
          await probe(src.frames[i], maxPixels, field);
          const img = await decodeRgb(src.frames[i], maxPixels, field);
          if (size && (img.width !== size.width || img.height !== size.height)) {
            throw new InvalidArgumentError(
              field,
              `is ${img.width}×${img.height} but frame 0 is ${size.width}×${size.height}`,
            );
          }
          size = { width: img.width, height: img.height };
          frames.push(img.data);
        }
        return { ...size!, fps: 0, frames };
      }
      const field = 'video_upscale.clip';
      if (src.clip.length === 0)
        throw new InvalidArgumentError(field, 'empty: send a clip (animated WebP/GIF, or MP4) or frames');
      try {
        const clip = await readClip(src.clip);
        if (clip.width * clip.height > maxPixels) {
          throw new InvalidArgumentError(
            field,
            `frames of ${clip.width}×${clip.height} are above the limit of ${maxPixels} pixels`,
          );
        }
        if (clip.frameCount > maxFrames)
          throw new InvalidArgumentError(field, `${clip.frameCount} frames is above the limit of ${maxFrames}`);
        const frames: Uint8Array[] = [];
        for await (const f of clip.frames) {
          if (frames.length >= maxFrames) throw new InvalidArgumentError(field, `more than ${maxFrames} frames`);
          frames.push(f);
        }
        if (frames.length === 0) throw new InvalidArgumentError(field, 'the clip has no frames');
        return { width: clip.width, height: clip.height, fps: clip.fps, frames };
      } catch (e) {
        if (e instanceof InvalidArgumentError) throw e;
        throw new InvalidArgumentError(field, `cannot decode the clip (${(e as Error).message})`, { cause: e });
      }
    },
  };
}
