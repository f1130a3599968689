/** The API's ImageFormat enum → the coordinator's format names (validated, duplicates refused). */
import { ImageFormat } from '@tessera/protocol';
import { InvalidArgumentError } from './errors.js';
import type { ImageFormatName } from './model.js';

const NAMES: Partial<Record<ImageFormat, ImageFormatName>> = {
  [ImageFormat.IMAGE_FORMAT_PNG]: 'png',
  [ImageFormat.IMAGE_FORMAT_TIFF]: 'tiff',
};

/**
 * Names of the requested upscale output formats, in order (empty → undefined: PNG only). Throws
 * InvalidArgumentError naming `field[i]` for an unknown or repeated format.
 */
export function imageFormatsOf(field: string, formats: readonly ImageFormat[]): ImageFormatName[] | undefined {
  if (formats.length === 0) return undefined;
  const out: ImageFormatName[] = [];
  formats.forEach((f, i) => {
    const name = NAMES[f];
    if (!name) throw new InvalidArgumentError(`${field}[${i}]`, `unknown format ${f} (use PNG or TIFF)`);
    if (out.includes(name)) throw new InvalidArgumentError(`${field}[${i}]`, `format ${name} is listed twice`);
    out.push(name);
  });
  return out;
}
