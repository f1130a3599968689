import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// EngineHost runs the compiled worker, so everything comes from dist (build first: npx tsc -b libs/engine).
import {
  EngineAbortedError,
  EngineHost,
  loadSdPipeline,
  SdModelLayoutError,
  SdParamsError,
  writeTinySdModel,
  type RgbImage,
  type SdRunParams,
  type SdRunResult,
} from '../../../dist/index.js';

const THREADS = 2;
const base: SdRunParams = { prompt: 'a photo of a cat', steps: 6, seed: 11, guidanceScale: 6 };
const sha = (img: RgbImage) => createHash('sha256').update(img.data).digest('hex');
const image = (r: SdRunResult) => {
  if (!('images' in r)) throw new Error('expected images');
  return r.images[0];
};

describe('EngineHost.generateImage', () => {
  let root: string;
  let host: EngineHost;
  let xl: string;
  let refiner: string;
  let inProcess: RgbImage;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'tessera-sd-host-'));
    xl = await writeTinySdModel(join(root, 'xl'), { family: 'sdxl-base' });
    refiner = await writeTinySdModel(join(root, 'refiner'), { family: 'sdxl-refiner' });
    host = new EngineHost({ threads: THREADS });
    const p = await loadSdPipeline(xl, { intraOpThreads: THREADS });
    inProcess = image(await p.run(base));
    await p.close();
  });
  afterAll(async () => {
    await host?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('returns the in-process bytes with per-step progress and keeps the pipeline loaded', async () => {
    const fractions: number[] = [];
    const steps: number[] = [];
    const r = await host.generateImage(xl, base, {
      onProgress: (f) => fractions.push(f),
      onStep: (i) => steps.push(i),
    });
    expect(sha(image(r))).toBe(sha(inProcess));
    expect(steps).toEqual([1, 2, 3, 4, 5, 6]);
    expect(fractions[0]).toBe(0);
    expect(fractions.at(-1)).toBe(1);
    for (let i = 1; i < fractions.length; i++) expect(fractions[i]).toBeGreaterThanOrEqual(fractions[i - 1]);
    expect(host.loadedModels()).toEqual([resolve(xl)]);
  });

  it('carries latents both ways for the base → refiner hand-off', async () => {
    const handOff = await host.generateImage(xl, { ...base, steps: 10, denoisingEnd: 0.8, outputType: 'latent' });
    if (!('latents' in handOff)) throw new Error('expected latents');
    expect(handOff.latents.data).toBeInstanceOf(Float32Array);
    const refined = image(
      await host.generateImage(refiner, { ...base, steps: 10, latents: handOff.latents, denoisingStart: 0.8 }),
    );
    expect([refined.width, refined.height]).toEqual([64, 64]);
    expect(host.loadedModels().sort()).toEqual([resolve(xl), resolve(refiner)].sort());
  });

  it('abort mid-run kills the worker and rejects; the next call starts fresh and gives the same bytes', async () => {
    const ac = new AbortController();
    const run = host.generateImage(
      xl,
      { ...base, steps: 1000 },
      { signal: ac.signal, onStep: (i) => i === 2 && ac.abort() },
    );
    await expect(run).rejects.toBeInstanceOf(EngineAbortedError);
    expect(host.loadedModels()).toEqual([]);
    expect(sha(image(await host.generateImage(xl, base)))).toBe(sha(inProcess));
  });

  it('reports bad params and a bad directory with their named errors', async () => {
    await expect(host.generateImage(xl, { ...base, width: 50 })).rejects.toBeInstanceOf(SdParamsError);
    await expect(host.generateImage(xl, { ...base, width: 50 })).rejects.toMatchObject({ field: 'width' });
    await expect(host.generateImage(join(root, 'missing'), base)).rejects.toBeInstanceOf(SdModelLayoutError);
    await expect(host.generateImage(refiner, base)).rejects.toThrow(/img2img only/);
  });
});
