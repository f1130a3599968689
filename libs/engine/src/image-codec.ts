import sharp from 'sharp';
import { InvalidImageError } from './errors.js';
import { assertRgbImage, type RgbImage } from './rgb-image.js';

/**
 * Decodes PNG/JPEG/WebP/… bytes into RgbImage: EXIF orientation applied, any alpha composited onto
 * black (so transparent regions upscale deterministically), grey or CMYK converted to sRGB, 8 bits per
 * channel. Throws InvalidImageError for bytes sharp cannot decode.
 */
export async function decodeToRgb(bytes: Uint8Array): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(bytes)
      .autoOrient()
      .flatten({ background: { r: 0, g: 0, b: 0 } })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new InvalidImageError(`decoded image has ${info.channels} channels, want 3`);
    return {
      width: info.width,
      height: info.height,
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    };
  } catch (err) {
    if (err instanceof InvalidImageError) throw err;
    throw new InvalidImageError(`cannot decode image: ${(err as Error).message}`, { cause: err });
  }
}

/** Encodes an RgbImage as an 8-bit RGB PNG (lossless, so the bytes round-trip through decodeToRgb). */
export async function encodeRgbPng(img: RgbImage): Promise<Uint8Array> {
  assertRgbImage(img, 'image to encode');
  const png = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .png()
    .toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}
