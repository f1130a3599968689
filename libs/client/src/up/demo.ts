import { createRequire } from 'node:module';
import { basename, extname } from 'node:path';

/** Decodes a base64 `data:` URI into its MIME type and bytes. Pure. */
export function decodeDataUri(uri: string): { mime: string; data: Buffer } {
  const m = /^data:([^;,]*)(?:;[^,]*)?;base64,(.*)$/s.exec(uri);
  if (!m) throw new Error('not a base64 data: URI');
  return { mime: m[1] ?? '', data: Buffer.from(m[2] ?? '', 'base64') };
}

/** The demo input: the 128×128 baboon photo from `baboon-image-uri`, as PNG bytes. */
export function baboonPng(): Buffer {
  const uri = createRequire(import.meta.url)('baboon-image-uri') as string;
  return decodeDataUri(uri).data;
}

const EXTENSIONS: Record<string, string> = {
  'image/png': '.png',
  'image/jpeg': '.jpg',
  'image/webp': '.webp',
  'image/tiff': '.tiff',
};

/**
 * File name of the demo output: `<input base>-<scale>.<ext>`, e.g. "baboon-x4.png" for the default
 * demo (no input, esrgan-slim-x4, image/png). The scale is the model id's trailing "xN", else the id. Pure.
 */
export function demoOutputName(input: string | undefined, model: string, contentType = 'image/png'): string {
  const base = input === undefined ? 'baboon' : basename(input, extname(input));
  const scale = /(x\d+)$/.exec(model)?.[1] ?? model;
  return `${base}-${scale}${EXTENSIONS[contentType] ?? '.png'}`;
}
