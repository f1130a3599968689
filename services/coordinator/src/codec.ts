/** sharp-backed ImageCodec: header probe and RGB8 decode with pixel limits. */
import sharp, { type Metadata } from 'sharp';
import type { DecodedImage, ImageCodec } from './coordinator.js';
import { InvalidArgumentError } from './errors.js';

const FIELD = 'upscale.image';

export const sharpCodec: ImageCodec = {
  async probe(bytes, maxPixels) {
    if (bytes.length === 0)
      throw new InvalidArgumentError(FIELD, 'empty: send the encoded image bytes (PNG, JPEG, WebP, TIFF, GIF)');
    let meta: Metadata;
    try {
      meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    } catch (e) {
      throw new InvalidArgumentError(
        FIELD,
        `cannot decode ${bytes.length} bytes as an image (${(e as Error).message})`,
        { cause: e },
      );
    }
    const width = meta.autoOrient?.width ?? meta.width ?? 0;
    const height = meta.autoOrient?.height ?? meta.height ?? 0;
    if (!width || !height) throw new InvalidArgumentError(FIELD, `image has no size (${width}×${height})`);
    if (width * height > maxPixels) {
      throw new InvalidArgumentError(
        FIELD,
        `${width}×${height} is ${width * height} pixels, above the limit of ${maxPixels}`,
      );
    }
    return { width, height };
  },
  async decodeRgb(bytes, maxPixels): Promise<DecodedImage> {
    try {
      const { data, info } = await sharp(bytes, { limitInputPixels: maxPixels })
        // Same pipeline as @tessera/engine's decodeToRgb (the single pass): orientation applied,
        // alpha composited onto black, sRGB, 8 bits.
        .autoOrient()
        .flatten({ background: { r: 0, g: 0, b: 0 } })
        .toColourspace('srgb')
        .raw({ depth: 'uchar' })
        .toBuffer({ resolveWithObject: true });
      if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
      return {
        width: info.width,
        height: info.height,
        data: new Uint8Array(data.buffer, data.byteOffset, data.length),
      };
    } catch (e) {
      throw new InvalidArgumentError(FIELD, `cannot decode image (${(e as Error).message})`, { cause: e });
    }
  },
};
