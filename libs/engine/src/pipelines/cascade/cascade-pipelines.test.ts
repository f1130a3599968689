/**
 * Stable Cascade C → B → A on tiny models with Tessera's export signatures (onnx-build/cascade): the real I/O names
 * and ranks, the 42.67 / 10.67 / ×4 resolution chain, determinism, prompt / seed / embedding sensitivity, CFG,
 * fp16 exports, the in-process chain (txt2imgFile) equal to running the three stages one by one, and bad input named.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeToRgb } from '../../image-codec.js';
import { writeTinyCascadeModel, writeTinyCascadeModels } from '../../onnx-build/cascade/write-tiny-cascade-model.js';
import { OrtModel } from '../../ort-session.js';
import { SdParamsError } from '../sd/errors.js';
import { loadSdPipeline, type SdPipeline } from '../sd/load-sd-pipeline.js';
import type { SdRunParams, SdRunResult } from '../sd/sd-params.js';
import { txt2imgFile } from '../sd/txt2img-file.js';
import type { SdLatents } from '../sd/vae.js';
import { classifyCascade } from './cascade-layout.js';

let root: string;
let dirs: { prior: string; decoder: string; vqgan: string };
const open: SdPipeline[] = [];
const load = async (dir: string) => {
  const p = await loadSdPipeline(dir, { intraOpThreads: 1 });
  open.push(p);
  return p;
};
const latents = (r: SdRunResult): SdLatents => {
  if (!('latents' in r)) throw new Error('expected latents');
  return r.latents;
};
const sha = (d: ArrayBufferView) =>
  createHash('sha256')
    .update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength))
    .digest('hex');

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'tessera-cascade-'));
  dirs = await writeTinyCascadeModels(root);
});
afterAll(async () => {
  await Promise.allSettled(open.map((p) => p.close()));
  await rm(root, { recursive: true, force: true });
});

const base: SdRunParams = { prompt: 'a red astronaut riding a horse', width: 128, height: 128, steps: 5, seed: 11 };

async function chain(params: SdRunParams, decoderSeed = 1, vqganSeed = 2) {
  const [c, b, a] = [await load(dirs.prior), await load(dirs.decoder), await load(dirs.vqgan)];
  const emb = latents(await c.run({ ...params, outputType: 'latent' }));
  const lat = latents(
    await b.run({
      prompt: params.prompt,
      width: params.width,
      height: params.height,
      seed: decoderSeed,
      latents: emb,
      outputType: 'latent',
    }),
  );
  const img = await a.run({
    prompt: params.prompt,
    width: params.width,
    height: params.height,
    seed: vqganSeed,
    latents: lat,
  });
  if (!('images' in img)) throw new Error('expected an image');
  return { emb, lat, image: img.images[0] };
}

describe('Stable Cascade on tiny models', () => {
  it('the tiny exports carry the documented I/O names, ranks and dtypes', async () => {
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
    expect(await sig(join(dirs.prior, 'prior/model.onnx'))).toEqual({
      inputs: [
        'sample:float32:4',
        'timestep_ratio:float32:1',
        'clip_text_pooled:float32:3',
        'clip_text:float32:3',
        'clip_img:float32:3',
      ],
      outputs: ['out_sample'],
    });
    expect(await sig(join(dirs.decoder, 'decoder/model.onnx'))).toEqual({
      inputs: ['sample:float32:4', 'timestep_ratio:float32:1', 'clip_text_pooled:float32:3', 'effnet:float32:4'],
      outputs: ['out_sample'],
    });
    expect(await sig(join(dirs.vqgan, 'vqgan/model.onnx'))).toEqual({
      inputs: ['latent_sample:float32:4'],
      outputs: ['sample'],
    });
    const te = await sig(join(dirs.prior, 'text_encoder/model.onnx'));
    expect(te.inputs).toEqual(['input_ids:int64:2', 'attention_mask:int64:2']);
    expect(te.outputs).toContain('text_embeds');
    expect(te.outputs).toContain('hidden_states.4');
    expect(classifyCascade({ _class_name: 'StableCascadePriorPipeline' })).toBe('cascade-prior');
    expect(classifyCascade({ _class_name: 'StableDiffusionPipeline' })).toBeNull();
  });

  it('C → B → A: 16-channel embeddings at ⌈H/42.67⌉, stage-B latents at ⌊·10.67⌋, a ×4 image of the requested size', async () => {
    const r = await chain(base);
    expect([r.emb.channels, r.emb.height, r.emb.width]).toEqual([16, 3, 3]);
    expect([r.lat.channels, r.lat.height, r.lat.width]).toEqual([4, 32, 32]);
    expect([r.image.width, r.image.height]).toEqual([128, 128]);
    expect(r.emb.data.every(Number.isFinite) && r.lat.data.every(Number.isFinite)).toBe(true);
    // The image is not flat.
    const values = new Set(r.image.data);
    expect(values.size).toBeGreaterThan(20);
    // Deterministic; the prompt, the seed and the decoder seed each change the result.
    const again = await chain(base);
    expect(sha(again.image.data)).toBe(sha(r.image.data));
    expect(sha((await chain({ ...base, prompt: 'a blue dog' })).image.data)).not.toBe(sha(r.image.data));
    expect(sha((await chain({ ...base, seed: 12 })).emb.data)).not.toBe(sha(r.emb.data));
    const otherB = await chain(base, 99);
    expect(sha(otherB.lat.data)).not.toBe(sha(r.lat.data));
    expect(sha(otherB.emb.data)).toBe(sha(r.emb.data));
    // Stage A draws no noise: its seed does not matter.
    expect(sha((await chain(base, 1, 77)).image.data)).toBe(sha(r.image.data));
  });

  it('the decoder depends on the embeddings; its own VQGAN equals stage A; CFG and the negative prompt matter', async () => {
    const b = await load(dirs.decoder);
    const r = await chain(base);
    const zeroEmb = { ...r.emb, data: new Float32Array(r.emb.data.length) };
    const other = latents(
      await b.run({ prompt: base.prompt, width: 128, height: 128, seed: 1, latents: zeroEmb, outputType: 'latent' }),
    );
    expect(sha(other.data)).not.toBe(sha(r.lat.data));
    const whole = await b.run({ prompt: base.prompt, width: 128, height: 128, seed: 1, latents: r.emb });
    expect('images' in whole && sha(whole.images[0].data)).toBe(sha(r.image.data));
    const c = await load(dirs.prior);
    const g1 = latents(await c.run({ ...base, guidanceScale: 1, outputType: 'latent' }));
    const g4 = latents(await c.run({ ...base, guidanceScale: 4, outputType: 'latent' }));
    const g4neg = latents(await c.run({ ...base, guidanceScale: 4, negativePrompt: 'blurry', outputType: 'latent' }));
    expect(sha(g1.data)).not.toBe(sha(g4.data));
    expect(sha(g4neg.data)).not.toBe(sha(g4.data));
    expect(sha(g4.data)).toBe(sha(r.emb.data)); // guidance 4.0 is the prior's default
  });

  it('txt2imgFile on the prior directory runs the whole chain, byte-equal to the stages run one by one', async () => {
    const out = join(root, 'chain.png');
    const res = await txt2imgFile({
      modelDir: dirs.prior,
      outputPath: out,
      prompt: base.prompt,
      width: 128,
      height: 128,
      steps: 5,
      seed: 11,
      cascade: { decoderSeed: 1, vqganSeed: 2 },
      intraOpThreads: 1,
    });
    expect(res.family).toBe('cascade-prior');
    expect(res.scheduler).toBe('ddpm-wuerstchen');
    const png = await decodeToRgb(await readFile(out));
    expect(sha(png.data)).toBe(sha((await chain(base)).image.data));
  });

  it('fp16 exports run; bad input names its field', async () => {
    const fp16 = await writeTinyCascadeModel(join(root, 'prior-fp16'), { stage: 'prior', fp16: true });
    const p16 = await load(fp16);
    const emb = latents(await p16.run({ ...base, outputType: 'latent' }));
    expect(emb.data.every(Number.isFinite)).toBe(true);
    const [c, b, a] = [await load(dirs.prior), await load(dirs.decoder), await load(dirs.vqgan)];
    const field = async (run: Promise<unknown>) => {
      const e = await run.then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(SdParamsError);
      return (e as SdParamsError).field;
    };
    expect(await field(c.run({ ...base, width: 100, outputType: 'latent' }))).toBe('width');
    expect(await field(c.run({ ...base }))).toBe('outputType');
    expect(await field(c.run({ ...base, scheduler: 'euler', outputType: 'latent' }))).toBe('scheduler');
    expect(await field(b.run({ ...base }))).toBe('latents');
    expect(
      await field(b.run({ ...base, latents: { channels: 4, height: 3, width: 3, data: new Float32Array(36) } })),
    ).toBe('latents');
    expect(await field(a.run({ ...base, latents: emb }))).toBe('latents');
  });
});
