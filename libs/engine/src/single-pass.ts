import { readFile, writeFile } from 'node:fs/promises';
import { decodeToRgb, encodeRgbPng } from './image-codec.js';
import { Upscaler, type UpscalerOptions } from './ort-upscaler.js';

/** What upscaleImageFile produced. */
export interface UpscaleFileResult {
  width: number;
  height: number;
  /** Wall time of the inference alone (model load and codecs excluded). */
  inferenceMs: number;
}

/**
 * Single-pass upscale of one image file in this process (what `tessera-agent run upscale` runs):
 * decode with sharp (alpha flattened onto black), run the model once over the whole image, write an
 * RGB PNG to `outputPath`. The model is loaded for this call and released afterwards.
 */
export async function upscaleImageFile(
  inputPath: string,
  outputPath: string,
  modelId: string,
  opts: UpscalerOptions = {},
): Promise<UpscaleFileResult> {
  const img = await decodeToRgb(await readFile(inputPath));
  const upscaler = await Upscaler.load(modelId, opts);
  try {
    const started = performance.now();
    const out = await upscaler.run(img);
    const inferenceMs = performance.now() - started;
    await writeFile(outputPath, await encodeRgbPng(out));
    return { width: out.width, height: out.height, inferenceMs };
  } finally {
    await upscaler.close();
  }
}
