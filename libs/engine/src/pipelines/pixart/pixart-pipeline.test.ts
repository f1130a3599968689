/**
 * PixArt-α and PixArt-Σ end to end on tiny models (onnx-build/pixart): binned generation size, resize back to the
 * requested size, T5 attention masks, CFG batch, DPM-Solver steps, α-1024's micro-conditions, determinism.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyPixArtModel } from '../../onnx-build/pixart/write-tiny-pixart-model.js';
import { OrtModel, type HostTensor } from '../../ort-session.js';
import type { RgbImage } from '../../rgb-image.js';
import { loadSdPipeline, type SdPipeline } from '../sd/load-sd-pipeline.js';
import type { SdModel } from '../sd/sd-model.js';
import type { SdRunResult } from '../sd/sd-params.js';

let root: string;
const feeds: Record<string, HostTensor>[] = [];
const pipelines: Record<string, SdPipeline> = {};

async function recordingLoader(path: string): Promise<SdModel> {
  const m = await OrtModel.load(path, { intraOpThreads: 2 });
  return {
    modelPath: m.modelPath,
    inputs: m.inputs,
    outputs: m.outputs,
    run: (f, names) => {
      if (path.includes('/transformer/')) feeds.push(f);
      return m.run(f, names);
    },
    close: () => m.close(),
  };
}
const image = (r: SdRunResult): RgbImage => {
  if (!('images' in r)) throw new Error('expected an image');
  return r.images[0];
};
const same = (a: RgbImage, b: RgbImage) => Buffer.from(a.data).equals(Buffer.from(b.data));

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'tessera-pixart-'));
  const specs = {
    alpha: { variant: 'alpha' },
    sigma: { variant: 'sigma' },
    alpha1024: { variant: 'alpha', sampleSize: 128 },
  } as const;
  for (const [name, spec] of Object.entries(specs)) {
    pipelines[name] = await loadSdPipeline(await writeTinyPixArtModel(join(root, name), spec), {
      loadModel: recordingLoader,
    });
  }
});
afterAll(async () => {
  await Promise.all(Object.values(pipelines).map((p) => p.close()));
  await rm(root, { recursive: true, force: true });
});

describe('PixArtPipeline on tiny PixArt-α / Σ', () => {
  it('α: generates at the 256-px bin, returns the requested 64×64, CFG batch with T5 masks, deterministic', async () => {
    const p = pipelines.alpha;
    expect(p.family).toBe('pixart');
    expect(p.scheduler.name).toBe('dpm++2m');
    expect(p.defaults).toMatchObject({ steps: 20, guidanceScale: 4.5, width: 256, height: 256 });
    feeds.length = 0;
    const a = image(await p.run({ prompt: 'a red dog', width: 64, height: 64, steps: 5, seed: 1 }));
    expect([a.width, a.height]).toEqual([64, 64]);
    expect(feeds.length).toBe(5);
    const f = feeds[0];
    expect(f.hidden_states.dims).toEqual([2, 4, 32, 32]); // bin 256×256 → 32×32 latents, CFG batch 2
    expect(f.encoder_hidden_states.dims).toEqual([2, 120, 16]);
    expect(f.encoder_attention_mask.dims).toEqual([2, 120]);
    const mask = Array.from(f.encoder_attention_mask.data as BigInt64Array, Number);
    // Negative "" is just </s>; the prompt covers its tokens and </s>; padding is masked out.
    expect(mask.slice(0, 120).reduce((s, v) => s + v, 0)).toBe(1);
    const n = mask.slice(120).reduce((s, v) => s + v, 0);
    expect(n).toBeGreaterThan(1);
    expect(mask.slice(120, 120 + n).every((v) => v === 1)).toBe(true);
    expect(f.resolution).toBeUndefined();
    expect(same(a, image(await p.run({ prompt: 'a red dog', width: 64, height: 64, steps: 5, seed: 1 })))).toBe(true);
    // diffusers lower-cases and strips the prompt.
    expect(same(a, image(await p.run({ prompt: '  A RED DOG ', width: 64, height: 64, steps: 5, seed: 1 })))).toBe(
      true,
    );
    expect(same(a, image(await p.run({ prompt: 'a blue dog', width: 64, height: 64, steps: 5, seed: 1 })))).toBe(false);
    expect(same(a, image(await p.run({ prompt: 'a red dog', width: 64, height: 64, steps: 5, seed: 2 })))).toBe(false);
    const neg = image(
      await p.run({ prompt: 'a red dog', negativePrompt: 'blurry', width: 64, height: 64, steps: 5, seed: 1 }),
    );
    expect(same(a, neg)).toBe(false);
    // guidance ≤ 1: one transformer pass per step.
    feeds.length = 0;
    await p.run({ prompt: 'a red dog', width: 64, height: 64, steps: 3, guidanceScale: 1 });
    expect(feeds.map((x) => x.hidden_states.dims[0])).toEqual([1, 1, 1]);
  });

  it('non-square requests use the closest bin and come back at the requested size', async () => {
    feeds.length = 0;
    const a = image(await pipelines.alpha.run({ prompt: 'a cat', width: 96, height: 48, steps: 2 }));
    expect([a.width, a.height]).toEqual([96, 48]);
    // 48 / 96 = 0.5 → bin '0.5' = 176×352 px → 22×44 latents.
    expect(feeds[0].hidden_states.dims).toEqual([2, 4, 22, 44]);
  });

  it('Σ: 300 T5 tokens, no micro-conditions', async () => {
    feeds.length = 0;
    const a = image(await pipelines.sigma.run({ prompt: 'a photo of a cat', steps: 2, seed: 3 }));
    expect([a.width, a.height]).toEqual([256, 256]);
    expect(feeds[0].encoder_hidden_states.dims).toEqual([2, 300, 16]);
    expect(feeds[0].aspect_ratio).toBeUndefined();
  });

  it('α-1024 (sample_size 128) feeds resolution and aspect ratio of the bin', async () => {
    feeds.length = 0;
    const a = image(await pipelines.alpha1024.run({ prompt: 'a cat', width: 96, height: 64, steps: 1 }));
    expect([a.width, a.height]).toEqual([96, 64]);
    // 64 / 96 ≈ 0.667 → bin '0.68' = 832×1216.
    expect(Array.from(feeds[0].resolution.data as Float32Array)).toEqual([832, 1216, 832, 1216]);
    expect((feeds[0].aspect_ratio.data as Float32Array)[0]).toBeCloseTo(832 / 1216, 6);
  });

  it('refuses img2img', async () => {
    const img = { width: 64, height: 64, data: new Uint8Array(64 * 64 * 3) };
    await expect(pipelines.alpha.run({ prompt: 'x', image: img })).rejects.toThrow(/txt2img only/);
  });
});
