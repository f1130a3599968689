/**
 * FLUX.1 [schnell] and [dev] end to end on tiny models with Optimum's Flux signatures (onnx-build/flux): the
 * transformer gets packed 2×2 latents, img/txt ids, t / 1000 on the dynamically shifted schedule (dev) and the
 * guidance embedding (dev only); txt2img and img2img are deterministic and sensitive to what they should be.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyFluxModel } from '../../onnx-build/flux/write-tiny-flux-model.js';
import { OrtModel, type HostTensor } from '../../ort-session.js';
import type { RgbImage } from '../../rgb-image.js';
import { loadSdPipeline, type SdPipeline } from '../sd/load-sd-pipeline.js';
import type { SdModel } from '../sd/sd-model.js';
import type { SdRunResult } from '../sd/sd-params.js';

let root: string;
const feeds: Record<string, HostTensor>[] = [];
const pipelines: Record<string, SdPipeline> = {};

/** Records every transformer feed. */
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

function image(r: SdRunResult): RgbImage {
  if (!('images' in r)) throw new Error('expected an image');
  return r.images[0];
}
const same = (a: RgbImage, b: RgbImage) => Buffer.from(a.data).equals(Buffer.from(b.data));

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'tessera-flux-'));
  for (const variant of ['schnell', 'dev'] as const) {
    const dir = await writeTinyFluxModel(join(root, variant), { variant });
    pipelines[variant] = await loadSdPipeline(dir, { loadModel: recordingLoader });
  }
});
afterAll(async () => {
  await Promise.all(Object.values(pipelines).map((p) => p.close()));
  await rm(root, { recursive: true, force: true });
});

describe('FluxPipeline on tiny FLUX.1 models', () => {
  it('schnell: 4 steps by default, 64×64, packed tokens and ids as the export declares, deterministic', async () => {
    const p = pipelines.schnell;
    expect(p.family).toBe('flux');
    expect(p.defaults).toMatchObject({ steps: 4, width: 64, height: 64, sizeMultiple: 16 });
    feeds.length = 0;
    const a = image(await p.run({ prompt: 'a photo of a cat', seed: 1 }));
    expect([a.width, a.height]).toEqual([64, 64]);
    expect(feeds.length).toBe(4);
    const f = feeds[0];
    expect(f.hidden_states.dims).toEqual([1, 16, 64]); // 8×8 latents → 4×4 tokens of 16·4 features
    expect(f.img_ids.dims).toEqual([16, 3]);
    expect(Array.from(f.img_ids.data as Float32Array).slice(0, 9)).toEqual([0, 0, 0, 0, 0, 1, 0, 0, 2]);
    expect(f.txt_ids.dims).toEqual([256, 3]); // schnell's max_sequence_length
    expect(f.encoder_hidden_states.dims).toEqual([1, 256, 16]);
    expect(f.guidance).toBeUndefined();
    // Timesteps are t / 1000 on the unshifted linspace(1, 1/4, 4).
    expect(feeds.map((x) => (x.timestep.data as Float32Array)[0])).toEqual([1, 0.75, 0.5, 0.25]);
    const b = image(await p.run({ prompt: 'a photo of a cat', seed: 1 }));
    expect(same(a, b)).toBe(true);
    expect(same(a, image(await p.run({ prompt: 'a photo of a cat', seed: 2 })))).toBe(false);
    expect(same(a, image(await p.run({ prompt: 'a photo of a dog', seed: 1 })))).toBe(false);
    // The negative prompt and guidance do not reach schnell (no CFG batch, no guidance input).
    expect(
      same(a, image(await p.run({ prompt: 'a photo of a cat', seed: 1, negativePrompt: 'blurry', guidanceScale: 7 }))),
    ).toBe(true);
  });

  it('dev: 28 steps by default, μ-shifted timesteps, guidance embedding changes the image', async () => {
    const p = pipelines.dev;
    expect(p.defaults).toMatchObject({ steps: 28, guidanceScale: 3.5 });
    feeds.length = 0;
    const a = image(await p.run({ prompt: 'a red dog', seed: 3, steps: 4 }));
    expect(feeds.length).toBe(4);
    expect(feeds[0].txt_ids.dims).toEqual([512, 3]);
    expect(feeds[0].guidance.dims).toEqual([1]);
    expect((feeds[0].guidance.data as Float32Array)[0]).toBe(3.5);
    // σ for 16 tokens (μ = 0.459375), from flux-latents.test.ts's numpy reference, divided by 1000.
    const ts = feeds.map((x) => (x.timestep.data as Float32Array)[0]);
    [1.0, 0.8260643482208252, 0.6128659248352051, 0.3454189896583557].forEach((v, i) =>
      expect(ts[i]).toBeCloseTo(v, 6),
    );
    const g = image(await p.run({ prompt: 'a red dog', seed: 3, steps: 4, guidanceScale: 1.5 }));
    expect(same(a, g)).toBe(false);
  });

  it('img2img: strength cuts the schedule as FluxImg2ImgPipeline (fractional), the input image matters', async () => {
    const p = pipelines.dev;
    const init = image(await p.run({ prompt: 'a blue horse', seed: 5, steps: 4 }));
    feeds.length = 0;
    const a = image(await p.run({ prompt: 'a painting', seed: 5, steps: 4, image: init, strength: 0.3 }));
    expect(feeds.length).toBe(2); // init 1.2 → t_start 2
    const other = { ...init, data: init.data.map((v) => 255 - v) };
    const b = image(await p.run({ prompt: 'a painting', seed: 5, steps: 4, image: other, strength: 0.3 }));
    expect(same(a, b)).toBe(false);
    await expect(p.run({ prompt: 'x', steps: 4, image: init, strength: 0.1 })).resolves.toBeDefined();
  });

  it('refuses a non-flow scheduler override and sizes off the 16-px grid', async () => {
    await expect(pipelines.schnell.run({ prompt: 'x', scheduler: 'ddim' })).rejects.toThrow(/scheduler/);
    await expect(pipelines.schnell.run({ prompt: 'x', width: 72 })).rejects.toThrow(/width/);
  });
});
