/**
 * Engine throughput per onnxruntime execution provider, for GPU boxes: the real upscaler
 * (ESRGAN-slim, converted by the engine) on a real photo, whole image and 128-px tiles, each provider's
 * output compared with the CPU's.
 *
 *   npm run bench -- gpu [--providers cpu,webgpu] [--model esrgan-slim-x4] [--input photo.png] [--reps 5]
 *   (or, without sharp: --input-rgb file.rgb --size 512x512 --model-path model.onnx)
 *
 * Prints a table and, last, one JSON summary line.
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { Upscaler, type ExecutionProviderName } from '../libs/engine/src/ort-upscaler.js';
import type { RgbImage } from '../libs/engine/src/rgb-image.js';
import { median } from './stats.js';

interface ProviderFigures {
  provider: string;
  ok: boolean;
  error?: string;
  loadMs?: number;
  wholeMs?: number;
  outputMegapixelsPerS?: number;
  tile128PerS?: number;
  maxDiffVsCpu?: number;
  meanDiffVsCpu?: number;
  rgb8BytesDifferingVsCpu?: number;
}

function crop(img: RgbImage, x: number, y: number, w: number, h: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let r = 0; r < h; r++)
    data.set(img.data.subarray(((y + r) * img.width + x) * 3, ((y + r) * img.width + x + w) * 3), r * w * 3);
  return { width: w, height: h, data };
}

async function loadInput(v: Record<string, string | boolean | undefined>): Promise<RgbImage> {
  if (typeof v['input-rgb'] === 'string') {
    const [w, h] = String(v.size ?? '')
      .split('x')
      .map(Number);
    const data = new Uint8Array(await readFile(v['input-rgb']));
    if (!(w > 0 && h > 0) || data.length !== w * h * 3)
      throw new Error('--input-rgb needs --size WxH matching the file');
    return { width: w, height: h, data };
  }
  const { decodeToRgb } = await import('../libs/engine/src/image-codec.js');
  if (typeof v.input === 'string') return decodeToRgb(await readFile(v.input));
  // The real baboon photo (128×128), enlarged to 512×512 with Lanczos so the model has real work to do.
  const { baboonPng } = await import('../test/helpers/images.js');
  const { default: sharp } = await import('sharp');
  return decodeToRgb(await sharp(baboonPng()).resize(512, 512, { kernel: 'lanczos3' }).png().toBuffer());
}

export async function main(args: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args,
    options: {
      providers: { type: 'string', default: 'cpu,webgpu' },
      model: { type: 'string', default: 'esrgan-slim-x4' },
      'model-path': { type: 'string' },
      input: { type: 'string' },
      'input-rgb': { type: 'string' },
      size: { type: 'string' },
      reps: { type: 'string', default: '5' },
      tiles: { type: 'string', default: '16' },
    },
  });
  const img = await loadInput(v);
  const reps = Number(v.reps);
  const model = v['model-path'] ?? v.model!;
  const providers = v.providers!.split(',') as ExecutionProviderName[];
  const tiles: RgbImage[] = [];
  for (let i = 0; i < Number(v.tiles); i++) {
    const x = (i * 128) % Math.max(1, img.width - 127);
    const y = (Math.floor((i * 128) / Math.max(1, img.width - 127)) * 128) % Math.max(1, img.height - 127);
    tiles.push(crop(img, x, y, Math.min(128, img.width), Math.min(128, img.height)));
  }
  console.log(`input ${img.width}×${img.height}, model ${model}, providers ${providers.join(', ')}, ${reps} reps`);
  const figures: ProviderFigures[] = [];
  let cpuOut: Float32Array | undefined;
  for (const provider of providers) {
    const t0 = performance.now();
    let up: Upscaler;
    try {
      up = await Upscaler.load(model, { executionProvider: provider });
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      console.log(`${provider}: unavailable: ${error}`);
      figures.push({ provider, ok: false, error: error.slice(0, 400) });
      continue;
    }
    const loadMs = performance.now() - t0;
    const first = await up.runFloat(img); // warm-up (kernel compilation, allocations)
    const times: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t = performance.now();
      await up.runFloat(img);
      times.push(performance.now() - t);
    }
    const wholeMs = median(times);
    for (const t of tiles.slice(0, 2)) await up.runFloat(t);
    const tt = performance.now();
    for (const t of tiles) await up.runFloat(t);
    const tile128PerS = tiles.length / ((performance.now() - tt) / 1000);
    const f: ProviderFigures = {
      provider,
      ok: true,
      loadMs: Math.round(loadMs),
      wholeMs: Math.round(wholeMs * 10) / 10,
      outputMegapixelsPerS: Math.round(((first.width * first.height) / 1e6 / (wholeMs / 1000)) * 100) / 100,
      tile128PerS: Math.round(tile128PerS * 10) / 10,
    };
    if (provider === 'cpu') cpuOut = first.data;
    else if (cpuOut) {
      let max = 0;
      let sum = 0;
      let differing = 0;
      for (let i = 0; i < cpuOut.length; i++) {
        const d = Math.abs(cpuOut[i] - first.data[i]);
        if (d > max) max = d;
        sum += d;
        const q = (x: number) => Math.min(255, Math.max(0, Math.round(x)));
        if (q(cpuOut[i]) !== q(first.data[i])) differing++;
      }
      f.maxDiffVsCpu = Math.round(max * 1e4) / 1e4;
      f.meanDiffVsCpu = Math.round((sum / cpuOut.length) * 1e6) / 1e6;
      f.rgb8BytesDifferingVsCpu = differing;
    }
    console.log(
      `${provider}: load ${f.loadMs} ms; whole image ${f.wholeMs} ms (${f.outputMegapixelsPerS} output MP/s); ` +
        `128-px tiles ${f.tile128PerS}/s` +
        (f.maxDiffVsCpu !== undefined
          ? `; vs cpu max diff ${f.maxDiffVsCpu}/255, mean ${f.meanDiffVsCpu}, ${f.rgb8BytesDifferingVsCpu} of ${cpuOut!.length} RGB8 values differ`
          : ''),
    );
    figures.push(f);
    await up.close();
  }
  console.log(JSON.stringify({ bench: 'gpu', input: `${img.width}x${img.height}`, model, reps, providers: figures }));
}
