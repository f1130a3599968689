/**
 * The feeds the Stable Cascade and Hunyuan-DiT pipelines send, recorded from real sessions on the tiny models:
 * which encoder outputs condition which input (Cascade: hidden_states[-1] and text_embeds; Hunyuan: both encoders'
 * last_hidden_state with their masks), the CFG batch order (Cascade [prompt, negative], Hunyuan [negative, prompt]),
 * the zero image conditioning, timestep values, rotary tables, and the scaling into each decoder.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinyCascadeModels } from '../../onnx-build/cascade/write-tiny-cascade-model.js';
import { writeTinyHunyuanModel } from '../../onnx-build/hunyuan/write-tiny-hunyuan-model.js';
import { OrtModel, type HostTensor } from '../../ort-session.js';
import { hunyuanRotaryEmbedding } from '../hunyuan/hunyuan-math.js';
import { loadSdPipeline } from '../sd/load-sd-pipeline.js';
import type { SdModel } from '../sd/sd-model.js';
import type { SdRunParams, SdRunResult } from '../sd/sd-params.js';

interface Call {
  model: string;
  feeds: Record<string, HostTensor>;
  outputs: Record<string, HostTensor>;
}

let root: string;
let cascade: { prior: string; decoder: string; vqgan: string };
let hunyuan: string;
let hunyuan11: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'tessera-dit-wiring-'));
  cascade = await writeTinyCascadeModels(root);
  hunyuan = await writeTinyHunyuanModel(join(root, 'hunyuan'));
  hunyuan11 = await writeTinyHunyuanModel(join(root, 'hunyuan-1.1'), { version: '1.1' });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function record(dir: string, params: SdRunParams): Promise<{ calls: Call[]; result: SdRunResult }> {
  const calls: Call[] = [];
  const loadModel = async (path: string): Promise<SdModel> => {
    const m = await OrtModel.load(path);
    const model = path.split('/').slice(-2, -1)[0];
    return {
      modelPath: m.modelPath,
      inputs: m.inputs,
      outputs: m.outputs,
      run: async (feeds, names) => {
        const outputs = await m.run(feeds, names);
        calls.push({ model, feeds, outputs });
        return outputs;
      },
      close: () => m.close(),
    };
  };
  const p = await loadSdPipeline(dir, { loadModel });
  try {
    return { calls, result: await p.run(params) };
  } finally {
    await p.close();
  }
}

const f32 = (t: HostTensor) => Array.from(t.data as Float32Array);
const of = (calls: Call[], model: string) => calls.filter((c) => c.model === model);
const cat = (...xs: number[][]) => xs.flat();

describe('Stable Cascade feeds', () => {
  it('prior: clip_text = hidden_states.L (not last_hidden_state), pooled = text_embeds, CFG [prompt, negative], clip_img zeros', async () => {
    const { calls } = await record(cascade.prior, {
      prompt: 'a red cat',
      negativePrompt: 'blurry',
      width: 128,
      height: 128,
      steps: 2,
      guidanceScale: 4,
      outputType: 'latent',
    });
    const [cond, neg] = of(calls, 'text_encoder');
    const prior = of(calls, 'prior');
    expect(prior).toHaveLength(2);
    const f = prior[0].feeds;
    expect(f.clip_text.dims).toEqual([2, 77, 12]);
    expect(f32(f.clip_text)).toEqual(cat(f32(cond.outputs['hidden_states.4']), f32(neg.outputs['hidden_states.4'])));
    // hidden_states[-1] of HF CLIP is the last layer before the final LayerNorm: hidden_states.L, not last_hidden_state.
    expect(Object.keys(cond.outputs).sort()).toEqual(['hidden_states.4', 'text_embeds']);
    // The attention mask goes to the encoder, as diffusers' Cascade encode_prompt passes it.
    const mask = Array.from(cond.feeds.attention_mask.data as BigInt64Array, Number);
    expect(mask.slice(0, 3)).toEqual([1, 1, 1]);
    expect(mask[76]).toBe(0);
    expect(f.clip_text_pooled.dims).toEqual([2, 1, 12]);
    expect(f32(f.clip_text_pooled)).toEqual(cat(f32(cond.outputs.text_embeds), f32(neg.outputs.text_embeds)));
    expect(f.clip_img.dims).toEqual([2, 1, 8]);
    expect(f32(f.clip_img).every((v) => v === 0)).toBe(true);
    expect(f32(prior[0].feeds.timestep_ratio)).toEqual([1, 1]);
    expect(f32(prior[1].feeds.timestep_ratio)).toEqual([0.5, 0.5]);
    const s = f32(f.sample);
    expect(s.slice(0, s.length / 2)).toEqual(s.slice(s.length / 2));
  });

  it('decoder: pooled text_embeds and the embeddings as effnet (zeros for the negative under CFG); stage A scales by 0.3764', async () => {
    const emb = { channels: 16, height: 3, width: 3, data: Float32Array.from({ length: 144 }, (_, i) => Math.sin(i)) };
    const plain = await record(cascade.decoder, {
      prompt: 'a cat',
      width: 128,
      height: 128,
      steps: 3,
      latents: emb,
      outputType: 'latent',
    });
    const dec = of(plain.calls, 'decoder');
    expect(dec).toHaveLength(3);
    expect(dec[0].feeds.effnet.dims).toEqual([1, 16, 3, 3]);
    expect(f32(dec[0].feeds.effnet)).toEqual(Array.from(emb.data));
    expect(f32(dec[0].feeds.clip_text_pooled)).toEqual(f32(of(plain.calls, 'text_encoder')[0].outputs.text_embeds));
    expect(dec[0].feeds.sample.dims).toEqual([1, 4, 32, 32]);
    expect(f32(dec[1].feeds.timestep_ratio)[0]).toBeCloseTo(2 / 3, 6);

    const guided = await record(cascade.decoder, {
      prompt: 'a cat',
      width: 128,
      height: 128,
      steps: 1,
      guidanceScale: 2,
      latents: emb,
      outputType: 'latent',
    });
    const e = f32(of(guided.calls, 'decoder')[0].feeds.effnet);
    expect(e.slice(0, 144)).toEqual(Array.from(emb.data));
    expect(e.slice(144).every((v) => v === 0)).toBe(true);

    if (!('latents' in plain.result)) throw new Error('expected latents');
    const lat = plain.result.latents;
    const a = await record(cascade.vqgan, { prompt: 'a cat', width: 128, height: 128, latents: lat });
    const fed = f32(of(a.calls, 'vqgan')[0].feeds.latent_sample);
    expect(fed[5]).toBeCloseTo(lat.data[5] * 0.3764, 6);
    expect(fed.length).toBe(lat.data.length);
  });
});

describe('Hunyuan-DiT feeds', () => {
  it('both encoders with masks, CFG [negative, prompt], DDPM timesteps, rotary tables of the patch grid, latents / 0.13025', async () => {
    const params: SdRunParams = {
      prompt: '一个宇航员',
      negativePrompt: 'blurry',
      width: 1024,
      height: 768,
      steps: 2,
      guidanceScale: 5,
      seed: 3,
    };
    const { calls } = await record(hunyuan, params);
    const [bertCond, bertNeg] = of(calls, 'text_encoder');
    const [t5Cond, t5Neg] = of(calls, 'text_encoder_2');
    // [CLS] 一 个 宇 航 员 [SEP] then padding: the mask covers 7 tokens; token_type_ids are zeros.
    const ids = Array.from(bertCond.feeds.input_ids.data as BigInt64Array, Number);
    expect(ids[0]).toBe(2);
    expect(ids[6]).toBe(3);
    expect(Array.from(bertCond.feeds.attention_mask.data as BigInt64Array, Number).reduce((a, b) => a + b)).toBe(7);
    expect(Array.from(bertCond.feeds.token_type_ids.data as BigInt64Array, Number).every((v) => v === 0)).toBe(true);
    const tr = of(calls, 'transformer');
    expect(tr).toHaveLength(2);
    const f = tr[0].feeds;
    expect(f.x.dims).toEqual([2, 4, 96, 128]);
    expect(f32(f.t)).toEqual([501, 501]);
    expect(f32(tr[1].feeds.t)).toEqual([1, 1]);
    expect(f32(f.encoder_hidden_states)).toEqual(
      cat(f32(bertNeg.outputs.last_hidden_state), f32(bertCond.outputs.last_hidden_state)),
    );
    expect(f32(f.encoder_hidden_states_t5)).toEqual(
      cat(f32(t5Neg.outputs.last_hidden_state), f32(t5Cond.outputs.last_hidden_state)),
    );
    const mask = Array.from(f.text_embedding_mask.data as BigInt64Array, Number);
    expect(mask.slice(77)).toEqual(Array.from(bertCond.feeds.attention_mask.data as BigInt64Array, Number));
    expect(f.text_embedding_mask_t5.dims).toEqual([2, 256]);
    const rope = hunyuanRotaryEmbedding(8, 48, 64, 32);
    expect(f.cos_cis_img.dims).toEqual([48 * 64, 8]);
    expect(f32(f.cos_cis_img)).toEqual(Array.from(rope.cos));
    expect(f32(f.sin_cis_img)).toEqual(Array.from(rope.sin));

    const p = await loadSdPipeline(hunyuan);
    try {
      const r = await p.run({ ...params, outputType: 'latent' });
      if (!('latents' in r)) throw new Error('expected latents');
      const fed = f32(of(calls, 'vae_decoder')[0].feeds.latent_sample);
      expect(fed[11]).toBeCloseTo(r.latents.data[11] / 0.13025, 5);
    } finally {
      await p.close();
    }
  });

  it('v1.0 / v1.1 exports get the size condition (1024, 1024, H, W, 0, 0) and style 0 per batch item', async () => {
    const { calls } = await record(hunyuan11, {
      prompt: 'a cat',
      width: 1024,
      height: 768,
      steps: 1,
      guidanceScale: 5,
      outputType: 'latent',
    });
    const f = of(calls, 'transformer')[0].feeds;
    expect(f.image_meta_size.dims).toEqual([2, 6]);
    expect(f32(f.image_meta_size)).toEqual([1024, 1024, 768, 1024, 0, 0, 1024, 1024, 768, 1024, 0, 0]);
    expect(Array.from(f.style.data as BigInt64Array, Number)).toEqual([0, 0]);
    const v12 = of(
      (await record(hunyuan, { prompt: 'a cat', width: 1024, height: 768, steps: 1, outputType: 'latent' })).calls,
      'transformer',
    );
    expect('image_meta_size' in v12[0].feeds || 'style' in v12[0].feeds).toBe(false);
  });
});
