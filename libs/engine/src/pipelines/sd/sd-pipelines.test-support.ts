/**
 * Tiny SD models for the pipeline tests (sd-pipelines*.test.ts): every family written once per test
 * file, pipelines loaded through a loader that counts sub-model runs, and the image helpers the
 * tests share. Test support, not part of the package (excluded from the build like the tests).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { writeTinySdModel, type TinySdFamily } from '../../onnx-build/sd/write-tiny-sd-model.js';
import { OrtModel } from '../../ort-session.js';
import type { RgbImage } from '../../rgb-image.js';
import { loadSdPipeline, type SdPipeline } from './load-sd-pipeline.js';
import type { SdModel } from './sd-model.js';
import type { SdRunParams, SdRunResult } from './sd-params.js';
import type { SdLatents } from './vae.js';

export let root: string;
export const dirs = {} as Record<string, string>;
export const calls = new Map<string, number>();

/** Loads sessions through OrtModel and counts `run` calls per sub-model folder (e.g. 'sd15/unet'). */
export async function countingLoader(path: string): Promise<SdModel> {
  const m = await OrtModel.load(path, { intraOpThreads: 2 });
  const key = path.split('/').slice(-3, -1).join('/');
  return {
    modelPath: m.modelPath,
    inputs: m.inputs,
    outputs: m.outputs,
    run: (feeds, names) => {
      calls.set(key, (calls.get(key) ?? 0) + 1);
      return m.run(feeds, names);
    },
    close: () => m.close(),
  };
}

const pipelines = new Map<string, SdPipeline>();
/** The pipeline of a tiny model by name (loaded once, through countingLoader). */
export async function pipeline(name: string): Promise<SdPipeline> {
  let p = pipelines.get(name);
  if (!p) {
    p = await loadSdPipeline(dirs[name], { loadModel: countingLoader });
    pipelines.set(name, p);
  }
  return p;
}

/** The one image of a result. */
export function image(r: SdRunResult): RgbImage {
  if (!('images' in r)) throw new Error('expected images');
  expect(r.images).toHaveLength(1);
  return r.images[0];
}
/** The latents of a result. */
export function latents(r: SdRunResult): SdLatents {
  if (!('latents' in r)) throw new Error('expected latents');
  return r.latents;
}
/** SHA-256 of an image's pixels. */
export const sha = (img: RgbImage) => createHash('sha256').update(img.data).digest('hex');
/** Mean absolute pixel difference. */
export function meanAbsDiff(a: RgbImage, b: RgbImage): number {
  let d = 0;
  for (let i = 0; i < a.data.length; i++) d += Math.abs(a.data[i] - b.data[i]);
  return d / a.data.length;
}
/** A deterministic, textured 64×64 input image. */
export function testImage(size = 64): RgbImage {
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const i = (y * size + x) * 3;
      data[i] = (x * 4) & 255;
      data[i + 1] = (y * 4) & 255;
      data[i + 2] = ((x ^ y) * 8) & 255;
    }
  }
  return { width: size, height: size, data };
}
/** Runs `params` on `name`, counting step callbacks and denoiser calls. */
export async function steps(
  name: string,
  params: SdRunParams,
): Promise<{ result: SdRunResult; onStep: number; denoiserCalls: number }> {
  const p = await pipeline(name);
  const key = `${name}/${p.family === 'sd3' ? 'transformer' : 'unet'}`;
  const before = calls.get(key) ?? 0;
  let onStep = 0;
  const result = await p.run(params, {
    onStep: (i, n) => {
      onStep++;
      expect(i).toBe(onStep);
      expect(n).toBeGreaterThanOrEqual(i);
    },
  });
  return { result, onStep, denoiserCalls: (calls.get(key) ?? 0) - before };
}

/**
 * Writes the tiny models of every family (fp32, fp16, SD3 with T5) before the file's tests and
 * closes the pipelines and removes them after. Call once at the top of a test file.
 */
export function useTinySdModels(): void {
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'tessera-sd-'));
    const families: TinySdFamily[] = ['sd15', 'sd21', 'sdxl-base', 'sdxl-refiner', 'sd3'];
    for (const family of families) {
      dirs[family] = await writeTinySdModel(join(root, family), { family });
      dirs[`${family}-fp16`] = await writeTinySdModel(join(root, `${family}-fp16`), { family, fp16: true });
    }
    dirs['sd3-t5'] = await writeTinySdModel(join(root, 'sd3-t5'), { family: 'sd3', t5: true });
  });

  afterAll(async () => {
    await Promise.all([...pipelines.values()].map((p) => p.close()));
    await rm(root, { recursive: true, force: true });
  });
}

/** The txt2img request most tests start from. */
export const BASE: SdRunParams = { prompt: 'a photo of a cat', steps: 6, seed: 42, guidanceScale: 7 };
