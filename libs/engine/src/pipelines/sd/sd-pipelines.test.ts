/**
 * End-to-end runs of every SD family on tiny models with the real Optimum signatures (onnx-build/sd):
 * size, determinism (in process, across loads, across processes), seed / prompt / negative-prompt sensitivity,
 * img2img step counts, the SDXL base → refiner hand-off, fp16 exports, cancellation, txt2imgFile, worker handler.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineAbortedError } from '../../errors.js';
import { decodeToRgb, encodeRgbPng } from '../../image-codec.js';
import { writeTinySdModel, type TinySdFamily } from '../../onnx-build/sd/write-tiny-sd-model.js';
import { OrtModel } from '../../ort-session.js';
import type { RgbImage } from '../../rgb-image.js';
import { SdParamsError } from './errors.js';
import { loadSdPipeline, type SdPipeline } from './load-sd-pipeline.js';
import type { SdModel } from './sd-model.js';
import type { SdRunParams, SdRunResult } from './sd-params.js';
import { txt2imgFile } from './txt2img-file.js';
import type { SdLatents } from './vae.js';
import { SdWorkerHandler } from './worker-handler.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../../../../..');

let root: string;
const dirs = {} as Record<string, string>;
const calls = new Map<string, number>();

/** Loads sessions through OrtModel and counts `run` calls per sub-model folder (e.g. 'sd15/unet'). */
async function countingLoader(path: string): Promise<SdModel> {
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
async function pipeline(name: string): Promise<SdPipeline> {
  let p = pipelines.get(name);
  if (!p) {
    p = await loadSdPipeline(dirs[name], { loadModel: countingLoader });
    pipelines.set(name, p);
  }
  return p;
}

function image(r: SdRunResult): RgbImage {
  if (!('images' in r)) throw new Error('expected images');
  expect(r.images).toHaveLength(1);
  return r.images[0];
}
function latents(r: SdRunResult): SdLatents {
  if (!('latents' in r)) throw new Error('expected latents');
  return r.latents;
}
const sha = (img: RgbImage) => createHash('sha256').update(img.data).digest('hex');
function meanAbsDiff(a: RgbImage, b: RgbImage): number {
  let d = 0;
  for (let i = 0; i < a.data.length; i++) d += Math.abs(a.data[i] - b.data[i]);
  return d / a.data.length;
}
/** A deterministic, textured 64×64 input image. */
function testImage(size = 64): RgbImage {
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
async function steps(
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

const BASE: SdRunParams = { prompt: 'a photo of a cat', steps: 6, seed: 42, guidanceScale: 7 };

describe.each(['sd15', 'sd21', 'sdxl-base', 'sd3'])('%s', (name) => {
  it('txt2img: right size; same seed gives the same bytes, in process and after a reload', async () => {
    const p = await pipeline(name);
    const a = image(await p.run(BASE));
    expect([a.width, a.height]).toEqual([64, 64]);
    expect(a.data.length).toBe(64 * 64 * 3);
    const b = image(await p.run(BASE));
    expect(sha(b)).toBe(sha(a));
    const fresh = await loadSdPipeline(dirs[name], { intraOpThreads: 1 });
    try {
      expect(sha(image(await fresh.run(BASE)))).toBe(sha(a));
    } finally {
      await fresh.close();
    }
    const wide = image(await p.run({ ...BASE, width: 96, height: 32 }));
    expect([wide.width, wide.height]).toEqual([96, 32]);
  });

  it('txt2img: seed, prompt, negative prompt and guidance all change the image', async () => {
    const p = await pipeline(name);
    const a = image(await p.run(BASE));
    const variants: SdRunParams[] = [
      { ...BASE, seed: 43 },
      { ...BASE, prompt: 'a photo of a dog' },
      { ...BASE, negativePrompt: 'blurry' },
      { ...BASE, negativePrompt: 'red' },
      { ...BASE, guidanceScale: 3 },
      { ...BASE, guidanceScale: 1 },
    ];
    const seen = new Set([sha(a)]);
    for (const v of variants) {
      const img = image(await p.run(v));
      expect(seen.has(sha(img)), JSON.stringify(v)).toBe(false);
      seen.add(sha(img));
    }
    // No negative prompt = the empty prompt, except for SDXL base, which uses zeros (force_zeros_for_empty_prompt).
    const empty = image(await p.run({ ...BASE, negativePrompt: '' }));
    expect(sha(empty) === sha(a)).toBe(name !== 'sdxl-base');
  });

  it('txt2img: one denoiser call per step with CFG (batch 2), and the step callback counts them', async () => {
    const { onStep, denoiserCalls } = await steps(name, BASE);
    expect(onStep).toBe(6);
    expect(denoiserCalls).toBe(6);
  });

  it('img2img: floor(steps·strength) steps run, same seed same bytes, strength matters', async () => {
    const input = testImage();
    for (const [strength, want] of [
      [1, 10],
      [0.55, 5],
      [0.25, 2],
      [0.1, 1],
    ] as const) {
      const { result, onStep, denoiserCalls } = await steps(name, { ...BASE, steps: 10, image: input, strength });
      expect([onStep, denoiserCalls], `strength ${strength}`).toEqual([want, want]);
      expect(image(result).width).toBe(64);
    }
    const a = image((await steps(name, { ...BASE, image: input, strength: 0.5 })).result);
    const b = image((await steps(name, { ...BASE, image: input, strength: 0.5 })).result);
    expect(sha(b)).toBe(sha(a));
    const c = image((await steps(name, { ...BASE, image: input, strength: 0.9 })).result);
    expect(sha(c)).not.toBe(sha(a));
    const d = image((await steps(name, { ...BASE, image: input, strength: 0.5, seed: 7 })).result);
    expect(sha(d)).not.toBe(sha(a));
    // A low strength keeps the input's structure: closer to it than a full-strength run is.
    const low = image((await steps(name, { ...BASE, steps: 10, image: input, strength: 0.1 })).result);
    const full = image((await steps(name, { ...BASE, steps: 10, image: input, strength: 1 })).result);
    expect(meanAbsDiff(low, full)).toBeGreaterThan(0);
    await expect((await pipeline(name)).run({ ...BASE, steps: 4, image: input, strength: 0.2 })).rejects.toThrow(
      SdParamsError,
    );
  });

  it('fp16 export: runs, is deterministic, and stays close to the fp32 model', async () => {
    const p16 = await pipeline(`${name}-fp16`);
    const a = image(await p16.run(BASE));
    expect(sha(image(await p16.run(BASE)))).toBe(sha(a));
    const ref = image(await (await pipeline(name)).run(BASE));
    expect(meanAbsDiff(a, ref)).toBeLessThan(3);
    const i2i = image(await p16.run({ ...BASE, image: testImage(), strength: 0.6 }));
    expect(i2i.width).toBe(64);
  });

  it('abort rejects with EngineAbortedError and the pipeline stays usable', async () => {
    const p = await pipeline(name);
    const ac = new AbortController();
    await expect(
      p.run({ ...BASE, steps: 20 }, { signal: ac.signal, onStep: (i) => i === 2 && ac.abort() }),
    ).rejects.toThrow(EngineAbortedError);
    const pre = new AbortController();
    pre.abort();
    await expect(p.run(BASE, { signal: pre.signal })).rejects.toBeInstanceOf(EngineAbortedError);
    expect(image(await p.run(BASE)).width).toBe(64);
  });
});

describe('SDXL base → refiner', () => {
  it('hands off in latent space at denoisingEnd / denoisingStart: 8 + 2 of 10 Euler steps, deterministic', async () => {
    const handOff = async () => {
      const base = await steps('sdxl-base', { ...BASE, steps: 10, denoisingEnd: 0.8, outputType: 'latent' });
      const l = latents(base.result);
      expect([l.channels, l.height, l.width]).toEqual([4, 8, 8]);
      const refined = await steps('sdxl-refiner', { ...BASE, steps: 10, latents: l, denoisingStart: 0.8 });
      return { base, refined, img: image(refined.result) };
    };
    const one = await handOff();
    expect([one.base.onStep, one.refined.onStep]).toEqual([8, 2]);
    expect([one.img.width, one.img.height]).toEqual([64, 64]);
    const two = await handOff();
    expect(sha(two.img)).toBe(sha(one.img));
    const baseOnly = image((await steps('sdxl-base', { ...BASE, steps: 10 })).result);
    expect(sha(baseOnly)).not.toBe(sha(one.img));
  });

  it('refiner img2img from an image: strength steps, aesthetic score and negative prompt matter', async () => {
    const input = testImage();
    const r = await steps('sdxl-refiner', { ...BASE, steps: 10, image: input, strength: 0.3 });
    expect(r.onStep).toBe(3);
    const a = image(r.result);
    expect(sha(image((await steps('sdxl-refiner', { ...BASE, steps: 10, image: input, strength: 0.3 })).result))).toBe(
      sha(a),
    );
    const aesthetic = image(
      (await steps('sdxl-refiner', { ...BASE, steps: 10, image: input, strength: 0.3, aestheticScore: 9 })).result,
    );
    expect(sha(aesthetic)).not.toBe(sha(a));
    const negative = image(
      (await steps('sdxl-refiner', { ...BASE, steps: 10, image: input, strength: 0.3, negativePrompt: 'blurry' }))
        .result,
    );
    expect(sha(negative)).not.toBe(sha(a));
  });

  it('refiner fp16 runs; the refiner refuses txt2img', async () => {
    const p = await pipeline('sdxl-refiner-fp16');
    expect(image(await p.run({ ...BASE, image: testImage(), strength: 0.5 })).width).toBe(64);
    await expect((await pipeline('sdxl-refiner')).run(BASE)).rejects.toThrow(/img2img only/);
  });

  it('SDXL base img2img from latents of its own txt2img', async () => {
    const l = latents((await steps('sdxl-base', { ...BASE, outputType: 'latent' })).result);
    const r = await steps('sdxl-base', { ...BASE, steps: 10, latents: l, strength: 0.5 });
    expect(r.onStep).toBe(5);
  });
});

describe('SD3 with T5 (text_encoder_3)', () => {
  it('runs txt2img and img2img, deterministic, and the prompt reaches T5', async () => {
    const p = await pipeline('sd3-t5');
    const a = image(await p.run(BASE));
    expect(sha(image(await p.run(BASE)))).toBe(sha(a));
    expect(sha(image(await p.run({ ...BASE, prompt: 'a photo of a dog' })))).not.toBe(sha(a));
    expect(sha(a)).not.toBe(sha(image(await (await pipeline('sd3')).run(BASE))));
    const before = calls.get('sd3-t5/text_encoder_3') ?? 0;
    const { onStep } = await steps('sd3-t5', { ...BASE, steps: 10, image: testImage(), strength: 0.4 });
    expect(onStep).toBe(4);
    expect((calls.get('sd3-t5/text_encoder_3') ?? 0) - before).toBe(2); // prompt and negative
  });
});

describe('schedulers through the pipeline', () => {
  it('SD1.5 substitutes DPM-Solver++ for PNDM; overrides run and are deterministic', async () => {
    const p = await pipeline('sd15');
    expect(p.scheduler).toEqual({
      name: 'dpm++2m',
      className: 'DPMSolverMultistepScheduler',
      substitutedFor: 'PNDMScheduler',
    });
    const hashes = new Set<string>();
    for (const scheduler of ['euler', 'euler-ancestral', 'ddim', 'dpm++2m']) {
      const a = image(await p.run({ ...BASE, scheduler }));
      expect(sha(image(await p.run({ ...BASE, scheduler })))).toBe(sha(a));
      hashes.add(sha(a));
    }
    expect(hashes.size).toBe(4);
    await expect((await pipeline('sd3')).run({ ...BASE, scheduler: 'euler' })).rejects.toThrow(SdParamsError);
  });
});

describe('same bytes in another process', () => {
  it('a child process generates the identical image for the same seed', async () => {
    const script = join(root, 'child.mts');
    const mod = (f: string) => JSON.stringify(join(here, f));
    await writeFile(
      script,
      `import { loadSdPipeline } from ${mod('load-sd-pipeline.ts')};
import { createHash } from 'node:crypto';
const p = await loadSdPipeline(process.argv[2], { intraOpThreads: 1 });
const r = await p.run(JSON.parse(process.argv[3]));
process.stdout.write(createHash('sha256').update(r.images[0].data).digest('hex'));
await p.close();
`,
    );
    const tsx = join(repoRoot, 'node_modules', '.bin', 'tsx');
    for (const name of ['sdxl-base', 'sd3']) {
      const { stdout } = await promisify(execFile)(tsx, [script, dirs[name], JSON.stringify(BASE)], { cwd: repoRoot });
      expect(stdout.trim(), name).toBe(sha(image(await (await pipeline(name)).run(BASE))));
    }
  });
});

describe('txt2imgFile', () => {
  it('writes a PNG of the requested size, and does img2img from a file (resized to a multiple of 8)', async () => {
    const out = join(root, 'out.png');
    const r = await txt2imgFile({
      modelDir: dirs.sd15,
      outputPath: out,
      prompt: 'a red cat',
      steps: 4,
      seed: 5,
      width: 48,
      height: 32,
    });
    expect(r).toMatchObject({
      width: 48,
      height: 32,
      seed: 5,
      steps: 4,
      family: 'sd',
      scheduler: 'dpm++2m',
      schedulerSubstitutedFor: 'PNDMScheduler',
    });
    const png = await decodeToRgb(await readFile(out));
    expect([png.width, png.height]).toEqual([48, 32]);
    const again = join(root, 'again.png');
    await txt2imgFile({
      modelDir: dirs.sd15,
      outputPath: again,
      prompt: 'a red cat',
      steps: 4,
      seed: 5,
      width: 48,
      height: 32,
    });
    expect(Buffer.compare(await readFile(out), await readFile(again))).toBe(0);

    const input = join(root, 'in.png');
    await writeFile(input, await encodeRgbPng(testImage(70)));
    const i2i = await txt2imgFile({
      modelDir: dirs['sdxl-base'],
      outputPath: join(root, 'i2i.png'),
      prompt: 'a dog',
      imagePath: input,
      strength: 0.5,
      steps: 6,
    });
    expect(i2i).toMatchObject({ width: 64, height: 64, steps: 3, family: 'sdxl', scheduler: 'euler' });
  });
});

describe('SdWorkerHandler', () => {
  it('loads once per directory, reports progress fractions, and returns images or latents', async () => {
    const loads: string[] = [];
    const handler = new SdWorkerHandler({ executionProvider: 'cpu', threads: 1 }, (dir, opts) => {
      loads.push(dir);
      return loadSdPipeline(dir, opts);
    });
    try {
      const fractions: number[] = [];
      const r = await handler.generate(
        { modelDir: dirs.sd21, params: { ...BASE, steps: 4 } },
        { onProgress: (f) => fractions.push(f) },
      );
      expect(image(r).width).toBe(64);
      expect(fractions).toEqual([0.25, 0.5, 0.75, 1]);
      const l = await handler.generate({ modelDir: dirs.sd21, params: { ...BASE, steps: 2, outputType: 'latent' } });
      expect(latents(l).channels).toBe(4);
      expect(loads).toEqual([dirs.sd21]);
      expect(handler.loadedModels()).toEqual([dirs.sd21]);
      await expect(handler.generate({ modelDir: join(root, 'missing'), params: BASE })).rejects.toThrow(
        /model_index\.json/,
      );
      expect(handler.loadedModels()).toEqual([dirs.sd21]);
    } finally {
      await handler.close();
    }
  });
});
