import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { framesDigest, meanAbsDiff, testImage, tinySvdDir } from '../../../test-support/svd.js';
import { EngineAbortedError, EngineError } from '../../errors.js';
import { OrtModel, type HostTensor } from '../../ort-session.js';
import type { RgbImage } from '../../rgb-image.js';
import { EulerDiscreteScheduler } from '../../schedulers/euler-discrete.js';
import { readSvdModelDir, SVD_COMPONENTS, type SvdComponent } from './svd-model-dir.js';
import { InvalidVideoParamsError, type SvdRunParams } from './svd-params.js';
import { SvdPipeline, type SvdSubModel, type SvdSubModels } from './svd-pipeline.js';

const THREADS = 2;
const image = testImage(64, 64, 0);
/** Small but complete: 8 frames of 64×64 (8×8 latents), 6 Euler steps, SVD-XT's other defaults. */
const base: SvdRunParams = { image, seed: 42, numFrames: 8, width: 64, height: 64, steps: 6 };

/** Passes calls through to a real sub-model and records every feed and result. */
class Recorder implements SvdSubModel {
  readonly calls: { feeds: Record<string, HostTensor>; result: Record<string, HostTensor> }[] = [];
  constructor(private readonly inner: SvdSubModel) {}
  get inputs() {
    return this.inner.inputs;
  }
  get outputs() {
    return this.inner.outputs;
  }
  async run(feeds: Record<string, HostTensor>, names?: readonly string[]) {
    const result = await this.inner.run(feeds, names);
    this.calls.push({ feeds, result });
    return result;
  }
  close() {
    return this.inner.close();
  }
}

async function loadModels(dir: string): Promise<SvdSubModels> {
  const { modelPaths } = await readSvdModelDir(dir);
  const models = {} as SvdSubModels;
  for (const c of SVD_COMPONENTS) models[c] = await OrtModel.load(modelPaths[c], { intraOpThreads: THREADS });
  return models;
}

describe('SvdPipeline on tiny models', () => {
  let pipe: SvdPipeline;
  let reference: RgbImage[];
  beforeAll(async () => {
    pipe = await SvdPipeline.load(await tinySvdDir(), { intraOpThreads: THREADS });
    reference = await pipe.run(base);
  });
  afterAll(() => pipe?.close());

  it('returns numFrames RGB8 frames of width×height that vary over time', async () => {
    expect(reference).toHaveLength(8);
    for (const f of reference) {
      expect([f.width, f.height, f.data.length]).toEqual([64, 64, 64 * 64 * 3]);
      expect(new Set(f.data).size).toBeGreaterThan(50); // a picture, not a flat or saturated frame
    }
    expect(meanAbsDiff(reference[0], reference[7])).toBeGreaterThan(0.5);

    const other = await pipe.run({ ...base, numFrames: 3, width: 48, height: 80, steps: 2 });
    expect(other.map((f) => [f.width, f.height])).toEqual([
      [48, 80],
      [48, 80],
      [48, 80],
    ]);
  });

  it('the same seed gives the same bytes; seed, motion, fps, noise augmentation and image all change them', async () => {
    expect(framesDigest(await pipe.run(base))).toBe(framesDigest(reference));
    const changes: Partial<SvdRunParams>[] = [
      { seed: 43 },
      { motionBucketId: 30 },
      { fps: 12 },
      { noiseAugStrength: 0.1 },
      { image: testImage(64, 64, 1) },
      { minGuidanceScale: 2 },
      { steps: 7 },
    ];
    const digests = new Set([framesDigest(reference)]);
    for (const change of changes) {
      const frames = await pipe.run({ ...base, ...change });
      const d = framesDigest(frames);
      expect(digests.has(d), JSON.stringify(Object.keys(change))).toBe(false);
      digests.add(d);
      expect(meanAbsDiff(frames[4], reference[4])).toBeGreaterThan(0.05);
    }
  });

  it('decode chunk size 1, 2, 3 and 8 give identical frames (the tiny decoder is frame-local)', async () => {
    for (const decodeChunkSize of [1, 2, 3]) {
      expect(framesDigest(await pipe.run({ ...base, decodeChunkSize }))).toBe(framesDigest(reference));
    }
  });

  it('reports every step and decoded chunk, and aborts between steps with EngineAbortedError', async () => {
    const steps: [number, number][] = [];
    const decoded: number[] = [];
    await pipe.run(
      { ...base, decodeChunkSize: 3 },
      { onStep: (i, n) => steps.push([i, n]), onDecode: (d) => decoded.push(d) },
    );
    expect(steps).toEqual([1, 2, 3, 4, 5, 6].map((i) => [i, 6]));
    expect(decoded).toEqual([3, 6, 8]);

    const ac = new AbortController();
    const seen: number[] = [];
    const run = pipe.run(base, {
      signal: ac.signal,
      onStep: (i) => {
        seen.push(i);
        if (i === 2) ac.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(EngineAbortedError);
    expect(seen).toEqual([1, 2]);
    const pre = new AbortController();
    pre.abort();
    await expect(pipe.run(base, { signal: pre.signal })).rejects.toBeInstanceOf(EngineAbortedError);
    // the pipeline is unharmed
    expect(framesDigest(await pipe.run(base))).toBe(framesDigest(reference));
  });

  it('rejects bad params before any inference', async () => {
    await expect(pipe.run({ ...base, width: 60 })).rejects.toBeInstanceOf(InvalidVideoParamsError);
    await expect(pipe.run({ ...base, image: { width: 2, height: 2, data: new Uint8Array(3) } })).rejects.toThrowError(
      /image/,
    );
  });
});

describe('SvdPipeline wiring (recorded sub-model calls)', () => {
  it('feeds each sub-model as diffusers does', async () => {
    const dir = await tinySvdDir();
    const real = await loadModels(dir);
    const rec = Object.fromEntries(SVD_COMPONENTS.map((c) => [c, new Recorder(real[c])])) as Record<
      SvdComponent,
      Recorder
    >;
    const pipe = new SvdPipeline(rec, (await readSvdModelDir(dir)).config);
    try {
      await pipe.run({ ...base, decodeChunkSize: 3 });
      const F = 8;
      const latent = 4 * 8 * 8;

      const [clip] = rec.image_encoder.calls;
      expect(clip.feeds.pixel_values.dims).toEqual([1, 3, 224, 224]);
      const embeds = clip.result.image_embeds.data as Float32Array;

      const [vae] = rec.vae_encoder.calls;
      expect(vae.feeds.sample.dims).toEqual([1, 3, 64, 64]);
      // the image in [−1, 1] plus 0.02·randn
      const cond = vae.feeds.sample.data as Float32Array;
      let maxNoise = 0;
      for (let p = 0; p < 64 * 64; p++) {
        for (let c = 0; c < 3; c++)
          maxNoise = Math.max(maxNoise, Math.abs(cond[c * 4096 + p] - ((2 * image.data[p * 3 + c]) / 255 - 1)));
      }
      expect(maxNoise).toBeGreaterThan(0.02);
      expect(maxNoise).toBeLessThan(0.02 * 6);
      const imageLatent = vae.result.latent_sample.data as Float32Array;

      const scheduler = EulerDiscreteScheduler.fromDiffusersConfig((await readSvdModelDir(dir)).config.schedulerConfig);
      scheduler.setTimesteps(6);
      expect(rec.unet.calls).toHaveLength(6);
      rec.unet.calls.forEach(({ feeds }, i) => {
        expect(feeds.sample.dims).toEqual([2, F, 8, 8, 8]);
        expect(feeds.timestep.dims).toEqual([]);
        expect((feeds.timestep.data as Float32Array)[0]).toBe(scheduler.timesteps[i]);
        expect((feeds.timestep.data as Float32Array)[0]).toBeCloseTo(0.25 * Math.log(scheduler.sigmas[i]), 5);
        expect(Array.from(feeds.added_time_ids.data)).toEqual([6, 127, Math.fround(0.02), 6, 127, Math.fround(0.02)]);
        const ehs = feeds.encoder_hidden_states.data as Float32Array;
        expect(feeds.encoder_hidden_states.dims).toEqual([2, 1, 1024]);
        expect(ehs.subarray(0, 1024).every((v) => v === 0)).toBe(true);
        expect(ehs.subarray(1024)).toEqual(embeds);
        const s = feeds.sample.data as Float32Array;
        for (let f = 0; f < F; f++) {
          const u = f * 2 * latent;
          const c = (F + f) * 2 * latent;
          expect(s.subarray(u, u + latent)).toEqual(s.subarray(c, c + latent)); // same noisy latents in both halves
          expect(s.subarray(u + latent, u + 2 * latent).every((v) => v === 0)).toBe(true); // uncond: no image
          expect(s.subarray(c + latent, c + 2 * latent)).toEqual(imageLatent); // cond: the image latent, every frame
        }
      });
      // first step: latents = randn · init_noise_sigma (σ_max = 700 ⇒ √(700² + 1)), scaled by 1/√(σ² + 1)
      const first = rec.unet.calls[0].feeds.sample.data as Float32Array;
      let sq = 0;
      for (let f = 0; f < F; f++) for (let k = 0; k < latent; k++) sq += first[(F + f) * 2 * latent + k] ** 2;
      expect(Math.sqrt(sq / (F * latent))).toBeCloseTo(1, 0);

      expect(
        rec.vae_decoder.calls.map((c) => [
          c.feeds.latent_sample.dims[0],
          Number((c.feeds.num_frames.data as BigInt64Array)[0]),
        ]),
      ).toEqual([
        [3, 3],
        [3, 3],
        [2, 2],
      ]);
      expect(rec.vae_decoder.calls[0].feeds.num_frames.dims).toEqual([]);

      // without guidance (max scale ≤ 1) the UNet sees one item and the real embedding
      rec.unet.calls.length = 0;
      await pipe.run({ ...base, minGuidanceScale: 1, maxGuidanceScale: 1, steps: 2 });
      expect(rec.unet.calls[0].feeds.sample.dims).toEqual([1, F, 8, 8, 8]);
      expect(rec.unet.calls[0].feeds.encoder_hidden_states.data).toEqual(embeds);
    } finally {
      await pipe.close();
    }
  });

  it('ramps guidance per frame: with a frame-local UNet, frame f of a min→max run equals a run at constant g_f', async () => {
    const dir = await tinySvdDir();
    const models = await loadModels(dir);
    await models.unet.close();
    // frame-local stand-in UNet: out = tanh(0.5·noisy + 0.3·image latent + 0.1·t), per frame and channel
    const unet: SvdSubModel = {
      inputs: models.unet.inputs,
      outputs: models.unet.outputs,
      async run(feeds) {
        const [n, f, , h, w] = feeds.sample.dims;
        const s = feeds.sample.data as Float32Array;
        const t = (feeds.timestep.data as Float32Array)[0];
        const plane = 4 * h * w;
        const out = new Float32Array(n * f * plane);
        for (let item = 0; item < n * f; item++) {
          for (let k = 0; k < plane; k++)
            out[item * plane + k] = Math.tanh(
              0.5 * s[item * 2 * plane + k] + 0.3 * s[item * 2 * plane + plane + k] + 0.1 * t,
            );
        }
        return { out_sample: { type: 'float32', dims: [n, f, 4, h, w], data: out } };
      },
      async close() {},
    };
    const pipe = new SvdPipeline({ ...models, unet }, (await readSvdModelDir(dir)).config);
    try {
      const params = { ...base, numFrames: 5, minGuidanceScale: 1.5, maxGuidanceScale: 3.5 }; // 1.5, 2, 2.5, 3, 3.5
      const ramp = await pipe.run(params);
      for (let f = 0; f < 5; f++) {
        const g = 1.5 + 0.5 * f;
        const flat = await pipe.run({ ...params, minGuidanceScale: g, maxGuidanceScale: g });
        for (let k = 0; k < 5; k++) {
          const same = Buffer.compare(ramp[k].data, flat[k].data) === 0;
          expect(same, `frame ${k} of the ramp vs constant ${g}`).toBe(k === f);
        }
      }
    } finally {
      await pipe.close();
    }
  });
});

describe('SvdPipeline with exporter variants', () => {
  it('runs an fp16 model (float16 I/O as raw bits) deterministically, close to the fp32 model', async () => {
    const pipe = await SvdPipeline.load(await tinySvdDir({ fp16: true }), { intraOpThreads: THREADS });
    const fp32 = await SvdPipeline.load(await tinySvdDir(), { intraOpThreads: THREADS });
    try {
      expect(pipe.signatures.unet.sample.type).toBe('float16');
      expect(pipe.signatures.unet.timestep.type).toBe('float16');
      const a = await pipe.run(base);
      expect(a).toHaveLength(8);
      expect(framesDigest(await pipe.run(base))).toBe(framesDigest(a));
      const b = await fp32.run(base);
      for (let f = 0; f < 8; f++) expect(meanAbsDiff(a[f], b[f])).toBeLessThan(3);
    } finally {
      await Promise.all([pipe.close(), fp32.close()]);
    }
  });

  it('feeds a [batch] float timestep and gives the same frames as the scalar one', async () => {
    const scalar = await SvdPipeline.load(await tinySvdDir(), { intraOpThreads: THREADS });
    const batched = await SvdPipeline.load(await tinySvdDir({ timestep: { dims: ['batch'] } }), {
      intraOpThreads: THREADS,
    });
    try {
      expect(batched.signatures.unet.timestep.dims).toBe('batch');
      expect(framesDigest(await batched.run(base))).toBe(framesDigest(await scalar.run(base)));
    } finally {
      await Promise.all([scalar.close(), batched.close()]);
    }
  });

  it('a decoder given a frame count that does not divide the chunk fails loudly, not silently', async () => {
    const dir = await tinySvdDir();
    const models = await loadModels(dir);
    const decoder = models.vae_decoder;
    const lying: SvdSubModel = {
      inputs: decoder.inputs,
      outputs: decoder.outputs,
      run: (feeds, names) =>
        decoder.run({ ...feeds, num_frames: { type: 'int64', dims: [], data: BigInt64Array.from([5n]) } }, names),
      close: () => decoder.close(),
    };
    const pipe = new SvdPipeline({ ...models, vae_decoder: lying }, (await readSvdModelDir(dir)).config);
    try {
      await expect(pipe.run({ ...base, steps: 1 })).rejects.toBeInstanceOf(EngineError);
    } finally {
      await pipe.close();
    }
  });
});
