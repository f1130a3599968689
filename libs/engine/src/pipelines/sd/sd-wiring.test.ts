/**
 * The feeds each pipeline sends, checked against the sub-models run directly: which text-encoder outputs condition
 * the denoiser (last_hidden_state, hidden_states.11 / .31, pooled text_embeds), in which batch order, padded how,
 * with which time_ids, timestep shape/dtype and VAE scaling. A miswired pipeline fails here even when its images
 * look plausible.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { float16BitsToFloat32 } from '../../fp16.js';
import { writeTinySdModel, type TinySdFamily } from '../../onnx-build/sd/write-tiny-sd-model.js';
import { OrtModel, type HostTensor } from '../../ort-session.js';
import { EulerDiscreteScheduler } from '../../schedulers/euler-discrete.js';
import { loadClipTokenizer } from '../../tokenizer/load-clip-tokenizer.js';
import { loadSdPipeline } from './load-sd-pipeline.js';
import { idsFeed, requireInput, type SdModel } from './sd-model.js';

interface Call {
  model: string;
  feeds: Record<string, HostTensor>;
  outputs: Record<string, HostTensor>;
}

let root: string;
const dirs = {} as Record<TinySdFamily, string>;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'tessera-sd-wiring-'));
  for (const family of ['sd15', 'sd21', 'sdxl-base', 'sdxl-refiner', 'sd3'] as const) {
    dirs[family] = await writeTinySdModel(join(root, family), { family, fp16: family === 'sd21' });
  }
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Runs `params` on the model in `dir`, recording every sub-model call. */
async function record(
  dir: string,
  params: Parameters<Awaited<ReturnType<typeof loadSdPipeline>>['run']>[0],
): Promise<Call[]> {
  const log: Call[] = [];
  const loadModel = async (path: string): Promise<SdModel> => {
    const m = await OrtModel.load(path);
    const model = path.split('/').slice(-2, -1)[0];
    return {
      modelPath: m.modelPath,
      inputs: m.inputs,
      outputs: m.outputs,
      run: async (feeds, names) => {
        const outputs = await m.run(feeds, names);
        log.push({ model, feeds, outputs });
        return outputs;
      },
      close: () => m.close(),
    };
  };
  const p = await loadSdPipeline(dir, { loadModel });
  try {
    await p.run(params);
  } finally {
    await p.close();
  }
  return log;
}

/** The final latents of the same run (outputType 'latent'). */
async function finalLatents(
  dir: string,
  params: Parameters<Awaited<ReturnType<typeof loadSdPipeline>>['run']>[0],
): Promise<Float32Array> {
  const p = await loadSdPipeline(dir);
  try {
    const r = await p.run({ ...params, outputType: 'latent' });
    if (!('latents' in r)) throw new Error('expected latents');
    return r.latents.data;
  } finally {
    await p.close();
  }
}

/** The named outputs of a text encoder for `text`, run directly. */
async function encoder(
  dir: string,
  folder: string,
  tokenizerFolder: string,
  text: string,
  names: string[],
): Promise<Float32Array[]> {
  const tok = await loadClipTokenizer(join(dir, tokenizerFolder));
  const m = await OrtModel.load(join(dir, folder, 'model.onnx'));
  try {
    const ids = tok.encodeForModel(text).inputIds;
    const out = await m.run({ input_ids: idsFeed(requireInput(m, 'input_ids'), ids, [1, ids.length]) });
    return names.map((n) => f32(out[n]));
  } finally {
    await m.close();
  }
}

function f32(t: HostTensor): Float32Array {
  return t.type === 'float16' ? float16BitsToFloat32(t.data as Uint16Array) : (t.data as Float32Array);
}
/** Rows [from, to) of a [rows, width] matrix, columns [c0, c1). */
function block(data: Float32Array, width: number, rows: [number, number], cols: [number, number]): Float32Array {
  const out: number[] = [];
  for (let r = rows[0]; r < rows[1]; r++) for (let c = cols[0]; c < cols[1]; c++) out.push(data[r * width + c]);
  return Float32Array.from(out);
}
const calls = (log: Call[], model: string) => log.filter((c) => c.model === model);

describe('SD 1.5 feeds', () => {
  it('int32 input_ids, last_hidden_state as context ([negative, positive]), int64 scalar timestep, latents / 0.18215 to the decoder', async () => {
    const log = await record(dirs.sd15, { prompt: 'a photo of a cat', negativePrompt: 'blurry', steps: 3, seed: 1 });
    const te = calls(log, 'text_encoder');
    expect(te.map((c) => [c.feeds.input_ids.type, c.feeds.input_ids.dims])).toEqual([
      ['int32', [1, 77]],
      ['int32', [1, 77]],
    ]);
    const unet = calls(log, 'unet');
    expect(unet).toHaveLength(3);
    const u = unet[0].feeds;
    expect(u.sample.dims).toEqual([2, 4, 8, 8]);
    expect([u.timestep.type, u.timestep.dims]).toEqual(['int64', []]);
    expect(u.encoder_hidden_states.dims).toEqual([2, 77, 8]);
    const [neg] = await encoder(dirs.sd15, 'text_encoder', 'tokenizer', 'blurry', ['last_hidden_state']);
    const [pos] = await encoder(dirs.sd15, 'text_encoder', 'tokenizer', 'a photo of a cat', ['last_hidden_state']);
    const ehs = f32(u.encoder_hidden_states);
    expect(ehs.subarray(0, 77 * 8)).toEqual(neg);
    expect(ehs.subarray(77 * 8)).toEqual(pos);
    // Both CFG halves get the same latents.
    const s = f32(u.sample);
    expect(s.subarray(0, 256)).toEqual(s.subarray(256));
    const dec = calls(log, 'vae_decoder');
    expect(dec).toHaveLength(1);
    expect(dec[0].feeds.latent_sample.dims).toEqual([1, 4, 8, 8]);
    const final = await finalLatents(dirs.sd15, {
      prompt: 'a photo of a cat',
      negativePrompt: 'blurry',
      steps: 3,
      seed: 1,
    });
    expect(f32(dec[0].feeds.latent_sample)).toEqual(final.map((v) => Math.fround(v / Math.fround(0.18215))));
  });

  it('img2img: the VAE encoder gets the image in [−1, 1] NCHW', async () => {
    const data = new Uint8Array(64 * 64 * 3);
    data[0] = 255; // pixel (0,0) red
    data[1] = 0;
    data[2] = 128;
    const log = await record(dirs.sd15, {
      prompt: 'x',
      steps: 2,
      seed: 1,
      image: { width: 64, height: 64, data },
      strength: 1,
    });
    const enc = calls(log, 'vae_encoder')[0].feeds.sample;
    expect(enc.dims).toEqual([1, 3, 64, 64]);
    const x = f32(enc);
    expect([x[0], x[4096], x[8192], x[1]]).toEqual([
      1,
      -1,
      Math.fround(Math.fround(2 * Math.fround(128 / 255)) - 1),
      -1,
    ]);
  });
});

describe('SD 2.1 (fp16 export) feeds', () => {
  it('int64 input_ids, float16 tensors, timestep [1] as the old exports declare it', async () => {
    const log = await record(dirs.sd21, { prompt: 'a dog', steps: 2, seed: 1 });
    expect(calls(log, 'text_encoder')[0].feeds.input_ids.type).toBe('int64');
    const u = calls(log, 'unet')[0].feeds;
    expect([u.sample.type, u.encoder_hidden_states.type]).toEqual(['float16', 'float16']);
    expect([u.timestep.type, u.timestep.dims]).toEqual(['float16', [1]]);
    expect(calls(log, 'vae_decoder')[0].feeds.latent_sample.type).toBe('float16');
  });
});

describe('SDXL feeds', () => {
  it('context = hidden_states.11 ‖ hidden_states.31, text_embeds from text_encoder_2, time_ids (h, w, 0, 0, h, w), zeros for a missing negative', async () => {
    const log = await record(dirs['sdxl-base'], {
      prompt: 'a photo of a cat',
      steps: 2,
      seed: 1,
      width: 64,
      height: 48,
    });
    const u = calls(log, 'unet')[0].feeds;
    expect(u.encoder_hidden_states.dims).toEqual([2, 77, 20]);
    expect(u.text_embeds.dims).toEqual([2, 12]);
    expect(u.time_ids.dims).toEqual([2, 6]);
    expect(Array.from(f32(u.time_ids))).toEqual([48, 64, 0, 0, 48, 64, 48, 64, 0, 0, 48, 64]);
    const [h11] = await encoder(dirs['sdxl-base'], 'text_encoder', 'tokenizer', 'a photo of a cat', [
      'hidden_states.11',
    ]);
    const [h31, pooled] = await encoder(dirs['sdxl-base'], 'text_encoder_2', 'tokenizer_2', 'a photo of a cat', [
      'hidden_states.31',
      'text_embeds',
    ]);
    const ehs = f32(u.encoder_hidden_states);
    expect(ehs.subarray(0, 77 * 20).every((v) => v === 0)).toBe(true);
    const pos = ehs.subarray(77 * 20);
    expect(block(pos, 20, [0, 77], [0, 8])).toEqual(h11);
    expect(block(pos, 20, [0, 77], [8, 20])).toEqual(h31);
    const te = f32(u.text_embeds);
    expect(te.subarray(0, 12).every((v) => v === 0)).toBe(true);
    expect(te.subarray(12)).toEqual(pooled);
    // Text encoders: both get the prompt (prompt_2 = prompt); no negative encodings with force_zeros.
    expect(calls(log, 'text_encoder')).toHaveLength(1);
    expect(calls(log, 'text_encoder_2')).toHaveLength(1);
  });

  it('an explicit negative prompt is encoded by both encoders', async () => {
    const log = await record(dirs['sdxl-base'], { prompt: 'a cat', negativePrompt: '', steps: 1, seed: 1 });
    expect(calls(log, 'text_encoder')).toHaveLength(2);
    const [h31] = await encoder(dirs['sdxl-base'], 'text_encoder_2', 'tokenizer_2', '', ['hidden_states.31']);
    const ehs = f32(calls(log, 'unet')[0].feeds.encoder_hidden_states);
    expect(block(ehs, 20, [0, 77], [8, 20])).toEqual(h31);
  });

  it('refiner: context = text_encoder_2 hidden_states.31 only; time_ids (h, w, 0, 0, aesthetic) with 2.5 / 6 by default', async () => {
    const latents = { channels: 4, height: 8, width: 8, data: new Float32Array(256).fill(0.1) };
    const log = await record(dirs['sdxl-refiner'], {
      prompt: 'a cat',
      steps: 10,
      seed: 1,
      latents,
      denoisingStart: 0.8,
    });
    expect(calls(log, 'unet')).toHaveLength(2);
    const u = calls(log, 'unet')[0].feeds;
    expect(u.encoder_hidden_states.dims).toEqual([2, 77, 12]);
    expect(Array.from(f32(u.time_ids))).toEqual([64, 64, 0, 0, 2.5, 64, 64, 0, 0, 6]);
    const [negH, negPooled] = await encoder(dirs['sdxl-refiner'], 'text_encoder_2', 'tokenizer_2', '', [
      'hidden_states.31',
      'text_embeds',
    ]);
    const ehs = f32(u.encoder_hidden_states);
    expect(ehs.subarray(0, 77 * 12)).toEqual(negH);
    expect(f32(u.text_embeds).subarray(0, 12)).toEqual(negPooled);
    // Resuming a hand-off adds no noise: the first input is the given latents scaled by Euler at t = 101.
    expect([u.timestep.type, u.timestep.dims]).toEqual(['float32', []]);
    expect(Array.from(f32(u.timestep))).toEqual([101]);
    const euler = EulerDiscreteScheduler.fromDiffusersConfig(
      JSON.parse(await readFile(join(dirs['sdxl-refiner'], 'scheduler', 'scheduler_config.json'), 'utf8')) as Record<
        string,
        unknown
      >,
    );
    euler.setTimesteps(10);
    euler.setBeginIndex(8);
    expect(f32(u.sample).subarray(0, 256)).toEqual(euler.scaleModelInput(latents.data, 101));
    expect(calls(log, 'vae_encoder')).toHaveLength(0);
  });
});

describe('SD3 feeds', () => {
  it('with T5: the 256 T5 rows follow the 77 CLIP rows, from text_encoder_3 last_hidden_state', async () => {
    const dir = await writeTinySdModel(join(root, 'sd3-t5'), { family: 'sd3', t5: true });
    const log = await record(dir, { prompt: 'a photo of a cat', negativePrompt: 'blurry', steps: 1, seed: 1 });
    const t5 = calls(log, 'text_encoder_3');
    expect(t5.map((c) => [c.feeds.input_ids.type, c.feeds.input_ids.dims])).toEqual([
      ['int64', [1, 256]],
      ['int64', [1, 256]],
    ]);
    const ehs = calls(log, 'transformer')[0].feeds.encoder_hidden_states;
    expect(ehs.dims).toEqual([2, 333, 24]);
    const neg = f32(t5[1].outputs.last_hidden_state);
    const pos = f32(t5[0].outputs.last_hidden_state);
    const all = f32(ehs);
    expect(block(all, 24, [77, 333], [0, 24])).toEqual(neg);
    expect(block(all, 24, [333 + 77, 666], [0, 24])).toEqual(pos);
  });

  it('[CLIP-L ‖ CLIP-G ‖ 0-pad ; T5 zeros] context, pooled = both text_embeds, float timestep [batch]', async () => {
    const log = await record(dirs.sd3, { prompt: 'a photo of a cat', steps: 2, seed: 1 });
    const t = calls(log, 'transformer');
    expect(t).toHaveLength(2);
    const f = t[0].feeds;
    expect(f.hidden_states.dims).toEqual([2, 16, 8, 8]);
    expect(f.encoder_hidden_states.dims).toEqual([2, 154, 24]);
    expect(f.pooled_projections.dims).toEqual([2, 20]);
    expect([f.timestep.type, f.timestep.dims]).toEqual(['float32', [2]]);
    const ts = f32(f.timestep);
    expect(ts[0]).toBe(ts[1]);
    expect(ts[0]).toBe(1000); // flow matching starts at σ = 1
    const [l11, lPooled] = await encoder(dirs.sd3, 'text_encoder', 'tokenizer', 'a photo of a cat', [
      'hidden_states.11',
      'text_embeds',
    ]);
    const [g31, gPooled] = await encoder(dirs.sd3, 'text_encoder_2', 'tokenizer_2', 'a photo of a cat', [
      'hidden_states.31',
      'text_embeds',
    ]);
    const pos = f32(f.encoder_hidden_states).subarray(154 * 24);
    expect(block(pos, 24, [0, 77], [0, 8])).toEqual(l11);
    expect(block(pos, 24, [0, 77], [8, 20])).toEqual(g31);
    expect(block(pos, 24, [0, 77], [20, 24]).every((v) => v === 0)).toBe(true);
    expect(block(pos, 24, [77, 154], [0, 24]).every((v) => v === 0)).toBe(true);
    expect(f32(f.pooled_projections).subarray(20)).toEqual(Float32Array.from([...lPooled, ...gPooled]));
    const dec = calls(log, 'vae_decoder')[0].feeds.latent_sample;
    expect(dec.dims).toEqual([1, 16, 8, 8]);
    const final = await finalLatents(dirs.sd3, { prompt: 'a photo of a cat', steps: 2, seed: 1 });
    const r = Math.fround;
    expect(f32(dec)).toEqual(final.map((v) => r(r(v / r(1.5305)) + r(0.0609))));
  });
});
