/**
 * End-to-end runs of every SD family on tiny models with the real Optimum signatures (onnx-build/sd):
 * size, determinism (in process, across loads, across processes), seed / prompt / negative-prompt sensitivity,
 * img2img step counts, the SDXL base → refiner hand-off, fp16 exports, cancellation, txt2imgFile, worker handler.
 */
import { describe, expect, it } from 'vitest';
import { EngineAbortedError } from '../../errors.js';
import { SdParamsError } from './errors.js';
import { loadSdPipeline } from './load-sd-pipeline.js';
import type { SdRunParams } from './sd-params.js';
import {
  BASE,
  calls,
  dirs,
  image,
  latents,
  meanAbsDiff,
  pipeline,
  sha,
  steps,
  testImage,
  useTinySdModels,
} from './sd-pipelines.test-support.js';

useTinySdModels();

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
