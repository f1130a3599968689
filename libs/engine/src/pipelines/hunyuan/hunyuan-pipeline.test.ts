/**
 * Hunyuan-DiT on a tiny model with the real exports' signatures (onnx-build/hunyuan): the transformer's I/O as
 * Tencent's v1.2 ONNX export declares it, resolution binning, DDPM v-prediction step count, determinism, Chinese and
 * English prompts, CFG, fp16, and txt2imgFile.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeToRgb } from '../../image-codec.js';
import { writeTinyHunyuanModel } from '../../onnx-build/hunyuan/write-tiny-hunyuan-model.js';
import { OrtModel } from '../../ort-session.js';
import { SdParamsError } from '../sd/errors.js';
import { loadSdPipeline, type SdPipeline } from '../sd/load-sd-pipeline.js';
import type { SdRunParams, SdRunResult } from '../sd/sd-params.js';
import { txt2imgFile } from '../sd/txt2img-file.js';

let root: string;
let dir: string;
const open: SdPipeline[] = [];
const load = async (d: string) => {
  const p = await loadSdPipeline(d, { intraOpThreads: 1 });
  open.push(p);
  return p;
};
const sha = (d: Uint8Array | Float32Array) =>
  createHash('sha256')
    .update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength))
    .digest('hex');
const latents = (r: SdRunResult) => {
  if (!('latents' in r)) throw new Error('expected latents');
  return r.latents;
};

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'tessera-hunyuan-'));
  dir = await writeTinyHunyuanModel(join(root, 'hunyuan'));
});
afterAll(async () => {
  await Promise.allSettled(open.map((p) => p.close()));
  await rm(root, { recursive: true, force: true });
});

const base: SdRunParams = {
  prompt: '一个宇航员在骑马',
  width: 1024,
  height: 768,
  steps: 3,
  seed: 5,
  outputType: 'latent',
};

describe('Hunyuan-DiT v1.2 on a tiny model', () => {
  it("the tiny transformer has Tencent's v1.2 export signature; the encoders Optimum's", async () => {
    const sig = async (path: string) => {
      const m = await OrtModel.load(path);
      try {
        return {
          inputs: m.inputs.map((i) => `${i.name}:${i.type}:${i.shape.length}`),
          outputs: m.outputs.map((o) => o.name),
        };
      } finally {
        await m.close();
      }
    };
    expect(await sig(join(dir, 'transformer/model.onnx'))).toEqual({
      inputs: [
        'x:float32:4',
        't:float32:1',
        'encoder_hidden_states:float32:3',
        'text_embedding_mask:int64:2',
        'encoder_hidden_states_t5:float32:3',
        'text_embedding_mask_t5:int64:2',
        'cos_cis_img:float32:2',
        'sin_cis_img:float32:2',
      ],
      outputs: ['output'],
    });
    expect(await sig(join(dir, 'text_encoder/model.onnx'))).toEqual({
      inputs: ['input_ids:int64:2', 'attention_mask:int64:2', 'token_type_ids:int64:2'],
      outputs: ['last_hidden_state', 'pooler_output'],
    });
  });

  it('runs the DDPM steps, bins the size, and is deterministic; prompt (either language), seed and guidance matter', async () => {
    const p = await load(dir);
    expect(p.family).toBe('hunyuan-dit');
    const steps: number[] = [];
    const a = latents(await p.run(base, { onStep: (i) => steps.push(i) }));
    expect(steps).toEqual([1, 2, 3]);
    expect([a.channels, a.height, a.width]).toEqual([4, 96, 128]);
    expect(a.data.every(Number.isFinite)).toBe(true);
    expect(sha(latents(await p.run(base)).data)).toBe(sha(a.data));
    expect(sha(latents(await p.run({ ...base, prompt: 'an astronaut riding a horse' })).data)).not.toBe(sha(a.data));
    expect(sha(latents(await p.run({ ...base, prompt: '一只猫' })).data)).not.toBe(sha(a.data));
    expect(sha(latents(await p.run({ ...base, seed: 6 })).data)).not.toBe(sha(a.data));
    expect(sha(latents(await p.run({ ...base, guidanceScale: 1 })).data)).not.toBe(sha(a.data));
    expect(sha(latents(await p.run({ ...base, negativePrompt: '模糊' })).data)).not.toBe(sha(a.data));
    // 800×600 is not a trained shape: binned to 1024×768, as diffusers.
    expect(sha(latents(await p.run({ ...base, width: 800, height: 600 })).data)).toBe(sha(a.data));
  });

  it('txt2imgFile writes the binned image; fp16 runs; bad input names its field', async () => {
    const out = join(root, 'h.png');
    const r = await txt2imgFile({
      modelDir: dir,
      outputPath: out,
      prompt: 'a red cat',
      width: 64,
      height: 64,
      steps: 2,
      seed: 1,
    });
    expect([r.width, r.height, r.family, r.scheduler]).toEqual([1024, 1024, 'hunyuan-dit', 'ddpm']);
    const png = await decodeToRgb(await readFile(out));
    expect(new Set(png.data).size).toBeGreaterThan(20);
    const p16 = await load(await writeTinyHunyuanModel(join(root, 'fp16'), { fp16: true }));
    expect(latents(await p16.run(base)).data.every(Number.isFinite)).toBe(true);
    const p = await load(dir);
    const field = async (params: SdRunParams) =>
      p.run(params).then(
        () => 'none',
        (e: unknown) => (e instanceof SdParamsError ? e.field : String(e)),
      );
    expect(await field({ ...base, scheduler: 'euler' })).toBe('scheduler');
    expect(await field({ ...base, image: { width: 8, height: 8, data: new Uint8Array(192) } })).toBe('image');
    expect(await field({ ...base, steps: 0 })).toBe('steps');
  });
});
