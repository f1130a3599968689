/**
 * ControlNet with the SD 1.5 and SDXL pipelines on tiny models (onnx-build/controlnet): a Canny control image
 * changes the output; conditioning scale 0 (or a guidance window that excludes every step) equals the same run
 * without ControlNet byte for byte; two ControlNets feed the UNet the float32 sum of their residuals, as diffusers'
 * MultiControlNetModel; the guidance window decides at which steps a ControlNet runs (diffusers' controlnet_keep).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyControlNet } from '../../onnx-build/controlnet/tiny-controlnet.js';
import { writeTinySdModel } from '../../onnx-build/sd/write-tiny-sd-model.js';
import { OrtModel, type HostTensor } from '../../ort-session.js';
import type { RgbImage } from '../../rgb-image.js';
import { SdModelLayoutError } from '../sd/errors.js';
import { loadSdPipeline, type SdPipeline } from '../sd/load-sd-pipeline.js';
import type { SdModel } from '../sd/sd-model.js';
import type { SdRunResult } from '../sd/sd-params.js';
import { controlNetKeep, residualShapes } from './controlnet.js';
import { cannyEdges, gaussianBlur } from './preprocess.js';

let root: string;
const runs: { path: string; feeds: Record<string, HostTensor>; out: Record<string, HostTensor> }[] = [];
const pipelines: Record<string, SdPipeline> = {};

async function recordingLoader(path: string): Promise<SdModel> {
  const m = await OrtModel.load(path, { intraOpThreads: 2 });
  return {
    modelPath: m.modelPath,
    inputs: m.inputs,
    outputs: m.outputs,
    run: async (feeds, names) => {
      const out = await m.run(feeds, names);
      if (!path.includes('text_encoder') && !path.includes('vae_')) runs.push({ path, feeds, out });
      return out;
    },
    close: () => m.close(),
  };
}
const image = (r: SdRunResult): RgbImage => {
  if (!('images' in r)) throw new Error('expected an image');
  return r.images[0];
};
const same = (a: RgbImage, b: RgbImage) => Buffer.from(a.data).equals(Buffer.from(b.data));

/** A 64×64 test picture: a bright disc on a gradient. */
function picture(): RgbImage {
  const data = new Uint8Array(64 * 64 * 3);
  for (let y = 0; y < 64; y++)
    for (let x = 0; x < 64; x++) {
      const inside = (x - 30) ** 2 + (y - 34) ** 2 < 18 ** 2;
      data.set(inside ? [230, 200, 40] : [x * 3, y * 2, 90], (y * 64 + x) * 3);
    }
  return { width: 64, height: 64, data };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'tessera-controlnet-'));
  await writeTinySdModel(join(root, 'sd15'), { family: 'sd15', controlnet: true });
  await writeTinySdModel(join(root, 'sdxl'), { family: 'sdxl-base', controlnet: true });
  await writeTinySdModel(join(root, 'sd15-plain'), { family: 'sd15' });
  await writeTinyControlNet(join(root, 'cn-canny'), { base: 'sd15', seed: 901 });
  await writeTinyControlNet(join(root, 'cn-blur'), { base: 'sd15', seed: 902 });
  await writeTinyControlNet(join(root, 'cn-xl'), { base: 'sdxl-base', seed: 903 });
  for (const name of ['sd15', 'sdxl', 'sd15-plain'])
    pipelines[name] = await loadSdPipeline(join(root, name), { loadModel: recordingLoader });
});
afterAll(async () => {
  await Promise.all(Object.values(pipelines).map((p) => p.close()));
  await rm(root, { recursive: true, force: true });
});

describe('ControlNet arithmetic', () => {
  it('controlnet_keep: active unless i/n < start or (i+1)/n > end', () => {
    expect([0, 1, 2, 3].map((i) => controlNetKeep(i, 4, 0, 1))).toEqual([1, 1, 1, 1]);
    expect([0, 1, 2, 3].map((i) => controlNetKeep(i, 4, 0, 0.5))).toEqual([1, 1, 0, 0]);
    expect([0, 1, 2, 3].map((i) => controlNetKeep(i, 4, 0.25, 1))).toEqual([0, 1, 1, 1]);
  });

  it('residual shapes of SD 1.5 (12 down + mid) and SDXL (9 down + mid) UNets, from their configs', () => {
    const sd15 = residualShapes({ block_out_channels: [320, 640, 1280, 1280], layers_per_block: 2 }, 64, 64);
    expect(sd15.down).toEqual([
      [320, 64, 64],
      [320, 64, 64],
      [320, 64, 64],
      [320, 32, 32],
      [640, 32, 32],
      [640, 32, 32],
      [640, 16, 16],
      [1280, 16, 16],
      [1280, 16, 16],
      [1280, 8, 8],
      [1280, 8, 8],
      [1280, 8, 8],
    ]);
    expect(sd15.mid).toEqual([1280, 8, 8]);
    const xl = residualShapes({ block_out_channels: [320, 640, 1280], layers_per_block: 2 }, 128, 128);
    expect(xl.down.length).toBe(9);
    expect(xl.mid).toEqual([1280, 32, 32]);
  });
});

describe('control image preprocessing', () => {
  it('Canny marks a vertical step edge and nothing on a flat image; blur keeps a flat image and spreads a dot', () => {
    const step = { width: 16, height: 8, data: new Uint8Array(16 * 8 * 3) };
    for (let y = 0; y < 8; y++)
      for (let x = 8; x < 16; x++) step.data.fill(255, (y * 16 + x) * 3, (y * 16 + x) * 3 + 3);
    const e = cannyEdges(step);
    const cols = new Set<number>();
    for (let i = 0; i < 16 * 8; i++) if (e.data[i * 3]) cols.add(i % 16);
    expect([...cols].every((c) => c === 7 || c === 8)).toBe(true);
    expect(cols.size).toBeGreaterThan(0);
    expect(cannyEdges({ ...step, data: new Uint8Array(step.data.length).fill(77) }).data.every((v) => v === 0)).toBe(
      true,
    );
    const flat = { width: 8, height: 8, data: new Uint8Array(8 * 8 * 3).fill(100) };
    expect(gaussianBlur(flat, 2).data.every((v) => v === 100)).toBe(true);
    const dot = { width: 9, height: 9, data: new Uint8Array(9 * 9 * 3) };
    dot.data.fill(255, 40 * 3, 40 * 3 + 3);
    const b = gaussianBlur(dot, 1);
    expect(b.data[40 * 3]).toBeLessThan(255);
    expect(b.data[41 * 3]).toBeGreaterThan(0);
  });
});

describe('ControlNet in the SD 1.5 and SDXL pipelines', () => {
  const base = {
    prompt: 'a red dog',
    negativePrompt: 'blurry',
    width: 64,
    height: 64,
    steps: 4,
    seed: 7,
    guidanceScale: 5,
  };
  const canny = () => ({ dir: join(root, 'cn-canny'), image: cannyEdges(picture()) });

  it('SD 1.5: a Canny control image changes the output; a different control image changes it again', async () => {
    const p = pipelines.sd15;
    const plain = image(await p.run(base));
    const a = image(await p.run({ ...base, controlNets: [canny()] }));
    expect(same(plain, a)).toBe(false);
    const b = image(await p.run({ ...base, controlNets: [{ ...canny(), image: gaussianBlur(picture()) }] }));
    expect(same(a, b)).toBe(false);
  });

  it('SD 1.5: scale 0, or a guidance window with no step in it, equals no ControlNet byte for byte', async () => {
    const p = pipelines.sd15;
    const plain = image(await p.run(base));
    expect(same(plain, image(await p.run({ ...base, controlNets: [{ ...canny(), scale: 0 }] })))).toBe(true);
    const outside = { ...canny(), guidanceStart: 0.9, guidanceEnd: 0.95 };
    expect(same(plain, image(await p.run({ ...base, controlNets: [outside] })))).toBe(true);
    expect(same(plain, image(await p.run({ ...base, controlNets: [{ ...canny(), scale: 0.5 }] })))).toBe(false);
  });

  it('SD 1.5: two ControlNets feed the UNet the float32 sum of their residuals', async () => {
    const p = pipelines.sd15;
    const blur = { dir: join(root, 'cn-blur'), image: gaussianBlur(picture()), scale: 0.7 };
    runs.length = 0;
    const both = image(await p.run({ ...base, controlNets: [canny(), blur] }));
    // Per step: ControlNet 1, ControlNet 2, then the UNet.
    expect(runs.map((r) => r.path.split('/').slice(-2, -1)[0])).toEqual(
      Array.from({ length: 4 }, () => ['cn-canny', 'cn-blur', 'unet']).flat(),
    );
    for (let s = 0; s < 4; s++) {
      const [c1, c2, unet] = runs.slice(s * 3, s * 3 + 3);
      for (let k = 0; k < 4; k++) {
        const a = c1.out[`down_block_res_sample_${k}`].data as Float32Array;
        const b = c2.out[`down_block_res_sample_${k}`].data as Float32Array;
        const fed = unet.feeds[`down_block_additional_residual_${k}`].data as Float32Array;
        expect(Array.from(fed)).toEqual(Array.from(a, (v, j) => Math.fround(v + b[j])));
        expect(fed.some((v) => v !== 0)).toBe(true);
      }
      const mid = unet.feeds.mid_block_additional_residual.data as Float32Array;
      const m1 = c1.out.mid_block_res_sample.data as Float32Array;
      const m2 = c2.out.mid_block_res_sample.data as Float32Array;
      expect(Array.from(mid)).toEqual(Array.from(m1, (v, j) => Math.fround(v + m2[j])));
      // The control image is repeated over the CFG batch; the scale reaches the ControlNet.
      expect(c1.feeds.controlnet_cond.dims).toEqual([2, 3, 64, 64]);
      expect((c2.feeds.conditioning_scale.data as Float32Array)[0]).toBeCloseTo(0.7, 6);
    }
    const one = image(await p.run({ ...base, controlNets: [canny()] }));
    expect(same(both, one)).toBe(false);
  });

  it('the guidance window decides the steps a ControlNet runs at', async () => {
    runs.length = 0;
    await pipelines.sd15.run({ ...base, controlNets: [{ ...canny(), guidanceStart: 0, guidanceEnd: 0.5 }] });
    expect(runs.map((r) => r.path.split('/').slice(-2, -1)[0])).toEqual([
      'cn-canny',
      'unet',
      'cn-canny',
      'unet',
      'unet',
      'unet',
    ]);
  });

  it('SDXL: the ControlNet gets text_embeds / time_ids, changes the output, and scale 0 equals none', async () => {
    const p = pipelines.sdxl;
    const xl = () => ({ dir: join(root, 'cn-xl'), image: cannyEdges(picture()) });
    const plain = image(await p.run(base));
    runs.length = 0;
    const a = image(await p.run({ ...base, controlNets: [xl()] }));
    expect(runs[0].feeds.time_ids.dims).toEqual([2, 6]);
    expect(same(plain, a)).toBe(false);
    expect(same(plain, image(await p.run({ ...base, controlNets: [{ ...xl(), scale: 0 }] })))).toBe(true);
  });

  it('refuses a UNet without residual inputs and a control image of the wrong size, naming them', async () => {
    await expect(pipelines['sd15-plain'].run({ ...base, controlNets: [canny()] })).rejects.toThrow(SdModelLayoutError);
    const small = { ...canny(), image: { width: 32, height: 32, data: new Uint8Array(32 * 32 * 3) } };
    await expect(pipelines.sd15.run({ ...base, controlNets: [small] })).rejects.toThrow(/controlNets\[0\]\.image/);
  });
});
