import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { framesDigest, testImage, tinySvdDir } from '../../../test-support/svd.js';
// EngineHost runs the compiled worker, so everything comes from dist (build first: npx tsc -b libs/engine).
import {
  EngineAbortedError,
  EngineHost,
  InvalidVideoParamsError,
  SvdPipeline,
  UnknownModelError,
  type RgbImage,
  type SvdRunParams,
} from '../../../dist/index.js';

const THREADS = 2;
const base: SvdRunParams = { image: testImage(64, 64, 3), seed: 7, numFrames: 8, width: 64, height: 64, steps: 6 };

describe('EngineHost.imageToVideo', () => {
  let host: EngineHost;
  let dir: string;
  let inProcess: RgbImage[];
  beforeAll(async () => {
    dir = await tinySvdDir();
    host = new EngineHost({ threads: THREADS, cacheDir: mkdtempSync(join(tmpdir(), 'tessera-svd-host-')) });
    const pipe = await SvdPipeline.load(dir, { intraOpThreads: THREADS });
    inProcess = await pipe.run(base);
    await pipe.close();
  });
  afterAll(() => host?.close());

  it('returns the same bytes as the in-process pipeline, with per-step progress, and keeps the pipeline loaded', async () => {
    const fractions: number[] = [];
    const steps: number[] = [];
    const frames = await host.imageToVideo(dir, base, {
      onProgress: (f) => fractions.push(f),
      onStep: (i, n) => steps.push(i / n),
    });
    expect(frames).toHaveLength(8);
    expect(framesDigest(frames)).toBe(framesDigest(inProcess));
    expect(steps).toEqual([1, 2, 3, 4, 5, 6].map((i) => i / 6));
    expect(fractions[0]).toBe(0);
    expect(fractions.at(-1)).toBe(1);
    for (let i = 1; i < fractions.length; i++) expect(fractions[i]).toBeGreaterThanOrEqual(fractions[i - 1]);
    expect(fractions.length).toBeGreaterThanOrEqual(2 + 6);
    expect(host.loadedModels()).toEqual([resolve(dir)]);

    const again = await host.imageToVideo(dir, { ...base, seed: 8 });
    expect(framesDigest(again)).not.toBe(framesDigest(inProcess));
    expect(host.loadedModels()).toEqual([resolve(dir)]);

    // the upscale path shares the worker
    const up = await host.upscale('esrgan-slim-x2', testImage(16, 16));
    expect([up.width, up.height]).toEqual([32, 32]);
    expect(host.loadedModels().sort()).toEqual([resolve(dir), 'esrgan-slim-x2'].sort());
  });

  it('abort mid-run kills the worker and rejects with EngineAbortedError; the next call starts fresh', async () => {
    const ac = new AbortController();
    const seen: number[] = [];
    const run = host.imageToVideo(
      dir,
      { ...base, steps: 400 },
      {
        signal: ac.signal,
        onStep: (i) => {
          seen.push(i);
          if (i === 2) ac.abort();
        },
      },
    );
    await expect(run).rejects.toBeInstanceOf(EngineAbortedError);
    expect(seen.length).toBeLessThan(400);
    expect(host.loadedModels()).toEqual([]);
    expect(framesDigest(await host.imageToVideo(dir, base))).toBe(framesDigest(inProcess));
  });

  it('rejects bad params at once and reports a missing model directory by name', async () => {
    await expect(host.imageToVideo(dir, { ...base, height: 50 })).rejects.toBeInstanceOf(InvalidVideoParamsError);
    await expect(host.imageToVideo(join(dir, 'nope'), base)).rejects.toBeInstanceOf(UnknownModelError);
  });
});
