/** Pure parts of the SD pipelines: layout classification, scheduler choice, parameter compilation, timestep cuts. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTinySdModel } from '../../onnx-build/sd/write-tiny-sd-model.js';
import { EulerDiscreteScheduler } from '../../schedulers/euler-discrete.js';
import { SdModelLayoutError, SdParamsError } from './errors.js';
import { classifySdPipeline, parseVaeConfig, readOptimumLayout } from './optimum-layout.js';
import { compileSdParams, cutAtDenoisingEnd, img2imgTimesteps, pyRound, type SdDefaults } from './sd-params.js';
import { chooseSdScheduler } from './sd-scheduler.js';
import { loadT5Tokenizer, T5Tokenizer } from './t5-tokenizer.js';
import { tinyT5TokenizerJson } from '../../onnx-build/sd/tiny-tokenizer.js';

const DEFAULTS: SdDefaults = { width: 64, height: 64, steps: 10, guidanceScale: 7.5, strength: 0.8, sizeMultiple: 8 };

describe('classifySdPipeline', () => {
  const set = (...s: string[]) => new Set(s);
  it('reads the diffusers / Optimum / old-diffusers-ONNX class names', () => {
    expect(classifySdPipeline({ _class_name: 'StableDiffusionPipeline' }, set('unet', 'text_encoder'))).toBe('sd');
    expect(classifySdPipeline({ _class_name: 'OnnxStableDiffusionPipeline' }, set('unet', 'text_encoder'))).toBe('sd');
    expect(classifySdPipeline({ _class_name: 'ORTStableDiffusionImg2ImgPipeline' }, set('unet'))).toBe('sd');
    expect(
      classifySdPipeline(
        { _class_name: 'ORTStableDiffusionXLPipeline' },
        set('unet', 'text_encoder', 'text_encoder_2'),
      ),
    ).toBe('sdxl');
    expect(classifySdPipeline({ _class_name: 'StableDiffusion3Pipeline' }, set('transformer'))).toBe('sd3');
  });
  it('tells the SDXL refiner from an SDXL base img2img checkpoint', () => {
    const refiner = { _class_name: 'StableDiffusionXLImg2ImgPipeline', requires_aesthetics_score: true };
    const base = { _class_name: 'StableDiffusionXLImg2ImgPipeline', requires_aesthetics_score: false };
    expect(classifySdPipeline(refiner, set('unet', 'text_encoder_2'))).toBe('sdxl-refiner');
    expect(classifySdPipeline(base, set('unet', 'text_encoder', 'text_encoder_2'))).toBe('sdxl');
    expect(classifySdPipeline({ _class_name: 'StableDiffusionXLImg2ImgPipeline' }, set('unet', 'text_encoder_2'))).toBe(
      'sdxl-refiner',
    );
  });
  it('falls back to the components for unknown names, and says null when nothing fits', () => {
    expect(classifySdPipeline({ _class_name: 'MyPipeline' }, set('transformer', 'text_encoder_2'))).toBe('sd3');
    expect(classifySdPipeline({ _class_name: 'KandinskyPipeline' }, set('unet'))).toBeNull();
  });
});

describe('readOptimumLayout on the tiny models', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'tessera-sd-layout-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('finds every component, the scaling factors and the flags of each family', async () => {
    const sd15 = await readOptimumLayout(await writeTinySdModel(join(root, 'sd15'), { family: 'sd15' }));
    expect(sd15.family).toBe('sd');
    expect(sd15.vae).toMatchObject({ scalingFactor: 0.18215, shiftFactor: null, latentChannels: 4, scaleFactor: 8 });
    expect(sd15.schedulerConfig._class_name).toBe('PNDMScheduler');
    const xl = await readOptimumLayout(await writeTinySdModel(join(root, 'xl'), { family: 'sdxl-base' }));
    expect(xl.family).toBe('sdxl');
    expect(xl.forceZerosForEmptyPrompt).toBe(true);
    expect(xl.vae.scalingFactor).toBe(0.13025);
    expect(Object.keys(xl.tokenizers).sort()).toEqual(['tokenizer', 'tokenizer2']);
    const refiner = await readOptimumLayout(await writeTinySdModel(join(root, 'refiner'), { family: 'sdxl-refiner' }));
    expect(refiner).toMatchObject({
      family: 'sdxl-refiner',
      forceZerosForEmptyPrompt: false,
      requiresAestheticsScore: true,
    });
    expect(refiner.models.textEncoder).toBeUndefined();
    const sd3 = await readOptimumLayout(await writeTinySdModel(join(root, 'sd3'), { family: 'sd3' }));
    expect(sd3.family).toBe('sd3');
    expect(sd3.models.textEncoder3).toBeUndefined();
    expect(sd3.vae).toMatchObject({ scalingFactor: 1.5305, shiftFactor: 0.0609, latentChannels: 16 });
    expect(sd3.denoiserConfig.joint_attention_dim).toBe(24);
  });

  it('names the missing file', async () => {
    const dir = await writeTinySdModel(join(root, 'broken'), { family: 'sd15' });
    await rm(join(dir, 'unet'), { recursive: true });
    await expect(readOptimumLayout(dir)).rejects.toThrow(SdModelLayoutError);
    await expect(readOptimumLayout(dir)).rejects.toThrow(/unet/);
    await expect(readOptimumLayout(join(root, 'nowhere'))).rejects.toThrow(/model_index\.json/);
    await writeFile(join(dir, 'model_index.json'), '{"_class_name": "KandinskyPipeline"}');
    await expect(readOptimumLayout(dir)).rejects.toThrow(/unsupported pipeline/);
  });

  it('writes the same bytes for the same options', async () => {
    const { readFile } = await import('node:fs/promises');
    const a = await writeTinySdModel(join(root, 'again-a'), { family: 'sdxl-base', fp16: true });
    const b = await writeTinySdModel(join(root, 'again-b'), { family: 'sdxl-base', fp16: true });
    for (const f of ['unet/model.onnx', 'text_encoder_2/model.onnx', 'tokenizer_2/vocab.json']) {
      expect(Buffer.compare(await readFile(join(a, f)), await readFile(join(b, f)))).toBe(0);
    }
  });

  it('parses VAE configs with family defaults', () => {
    expect(parseVaeConfig({}, 'sd3')).toMatchObject({
      scalingFactor: 1.5305,
      shiftFactor: 0.0609,
      latentChannels: 16,
      scaleFactor: 8,
    });
    expect(
      parseVaeConfig({ scaling_factor: 0.5, block_out_channels: [1, 2, 3], latents_mean: [1, 2, 3, 4] }, 'sdxl'),
    ).toMatchObject({
      scalingFactor: 0.5,
      scaleFactor: 4,
      latentsMean: [1, 2, 3, 4],
      latentsStd: null,
    });
  });
});

describe('chooseSdScheduler', () => {
  it("keeps the model's class when the engine has it", () => {
    expect(chooseSdScheduler({ _class_name: 'EulerDiscreteScheduler' })).toEqual({
      name: 'euler',
      className: 'EulerDiscreteScheduler',
    });
    expect(chooseSdScheduler({ _class_name: 'FlowMatchEulerDiscreteScheduler' }).name).toBe('flow-match-euler');
  });
  it('substitutes DPM-Solver++ 2M for classes it does not implement, and says so', () => {
    expect(chooseSdScheduler({ _class_name: 'PNDMScheduler' })).toEqual({
      name: 'dpm++2m',
      className: 'DPMSolverMultistepScheduler',
      substitutedFor: 'PNDMScheduler',
    });
  });
  it('takes overrides by short or diffusers name and refuses ones that cannot drive the model', () => {
    expect(chooseSdScheduler({ _class_name: 'PNDMScheduler' }, 'euler-ancestral').name).toBe('euler-ancestral');
    expect(chooseSdScheduler({ _class_name: 'PNDMScheduler' }, 'DDIMScheduler').name).toBe('ddim');
    expect(() => chooseSdScheduler({ _class_name: 'FlowMatchEulerDiscreteScheduler' }, 'euler')).toThrow(SdParamsError);
    expect(() => chooseSdScheduler({ _class_name: 'EulerDiscreteScheduler' }, 'flow-match-euler')).toThrow(
      SdParamsError,
    );
    expect(() => chooseSdScheduler({}, 'plms')).toThrow(/unknown scheduler/);
  });
});

describe('compileSdParams', () => {
  it('fills defaults and takes the size from the image or the latents', () => {
    const p = compileSdParams({ prompt: 'x' }, DEFAULTS, 8);
    expect(p).toMatchObject({
      width: 64,
      height: 64,
      steps: 10,
      guidanceScale: 7.5,
      seed: 0,
      strength: 0.8,
      outputType: 'image',
    });
    const img = { width: 32, height: 48, data: new Uint8Array(32 * 48 * 3) };
    expect(compileSdParams({ prompt: 'x', image: img }, DEFAULTS, 8)).toMatchObject({ width: 32, height: 48 });
    const latents = { channels: 4, height: 2, width: 3, data: new Float32Array(24) };
    expect(compileSdParams({ prompt: 'x', latents }, DEFAULTS, 8)).toMatchObject({ width: 24, height: 16 });
  });
  it('names the offending field', () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ width: 60 }, 'width'],
      [{ height: 0 }, 'height'],
      [{ steps: 0 }, 'steps'],
      [{ steps: 2.5 }, 'steps'],
      [{ strength: 0 }, 'strength'],
      [{ strength: 1.5 }, 'strength'],
      [{ guidanceScale: -1 }, 'guidanceScale'],
      [{ seed: -1 }, 'seed'],
      [{ denoisingEnd: 1 }, 'denoisingEnd'],
      [{ image: { width: 8, height: 8, data: new Uint8Array(192) }, width: 16 }, 'width'],
    ];
    for (const [extra, field] of bad) {
      let caught: unknown;
      try {
        compileSdParams({ prompt: 'x', ...extra }, DEFAULTS, 8);
      } catch (err) {
        caught = err;
      }
      expect(caught, field).toBeInstanceOf(SdParamsError);
      expect((caught as SdParamsError).field).toBe(field);
    }
  });
});

describe('img2img timesteps and denoising end', () => {
  const euler = () => {
    const s = EulerDiscreteScheduler.fromDiffusersConfig({
      beta_schedule: 'scaled_linear',
      beta_start: 0.00085,
      beta_end: 0.012,
      steps_offset: 1,
      timestep_spacing: 'leading',
    });
    s.setTimesteps(10);
    return s;
  };
  it('runs floor(steps·strength) steps from the end of the schedule and sets the begin index', () => {
    for (const [strength, n] of [
      [1, 10],
      [0.75, 7],
      [0.3, 3],
      [0.1, 1],
    ] as const) {
      const s = euler();
      const ts = img2imgTimesteps(s, 10, strength, undefined, 1000);
      expect(ts).toEqual(Array.from(s.timesteps).slice(10 - n));
    }
    expect(() => img2imgTimesteps(euler(), 10, 0.05, undefined, 1000)).toThrow(SdParamsError);
  });
  it('splits the schedule at round(N − fraction·N) for the base → refiner hand-off', () => {
    const s = euler(); // 901, 801, …, 101, 1
    const base = cutAtDenoisingEnd(Array.from(s.timesteps), 0.8, 1000);
    expect(base).toEqual([901, 801, 701, 601, 501, 401, 301, 201]);
    const refiner = img2imgTimesteps(euler(), 10, 0.3, 0.8, 1000);
    expect(refiner).toEqual([101, 1]);
  });
  it("rounds like Python's round", () => {
    expect([0.5, 1.5, 2.5, -0.5, 200.00000000000003].map(pyRound)).toEqual([0, 2, 2, -0, 200]);
  });
});

describe('T5Tokenizer (Unigram)', () => {
  const vocab: [string, number][] = [
    ['<pad>', 0],
    ['</s>', 0],
    ['<unk>', 0],
    ['▁', -2],
    ['c', -5],
    ['a', -5],
    ['t', -5],
    ['▁cat', -3],
    ['▁c', -4],
    ['at', -2.5],
    ['▁a', -3],
  ];
  const tok = new T5Tokenizer({ vocab, unkId: 2, maxLength: 8 });

  it('segments each ▁-prefixed word by the most probable path', () => {
    expect(tok.encode('cat')).toEqual([7]); // ▁cat (−3) beats ▁c + at (−6.5)
    expect(tok.encode('a   cat')).toEqual([10, 7]);
    expect(tok.encode('cata')).toEqual([7, 5]); // ▁cat + a (−8) beats ▁c + at + a (−11.5)
  });
  it('maps unknown characters to one fused <unk>, and pads / truncates around </s>', () => {
    expect(tok.encode('cXYZ')).toEqual([8, 2]);
    expect(Array.from(tok.encodeForModel('a cat'))).toEqual([10, 7, 1, 0, 0, 0, 0, 0]);
    expect(Array.from(tok.encodeForModel('a a a a a a a a a a'))).toEqual([10, 10, 10, 10, 10, 10, 10, 1]);
  });
  it('reads tokenizer.json and refuses non-Unigram models', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-t5-'));
    try {
      await writeFile(join(dir, 'tokenizer.json'), tinyT5TokenizerJson());
      const t5 = await loadT5Tokenizer(dir);
      expect(t5.encodeForModel('a photo of a cat').slice(0, 7)).toEqual(
        Int32Array.from([...['▁a', '▁photo', '▁of', '▁a', '▁cat'].map((p) => pieceId(p)), 1, 0]),
      );
      await writeFile(join(dir, 'tokenizer.json'), JSON.stringify({ model: { type: 'BPE', vocab: {} } }));
      await expect(loadT5Tokenizer(dir)).rejects.toThrow(/not Unigram/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

function pieceId(piece: string): number {
  const v = (JSON.parse(tinyT5TokenizerJson()) as { model: { vocab: [string, number][] } }).model.vocab;
  return v.findIndex(([p]) => p === piece);
}
