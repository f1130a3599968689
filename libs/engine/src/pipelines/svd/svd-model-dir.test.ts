import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tinySvdDir, testImage } from '../../../test-support/svd.js';
import { UnknownModelError, UnsupportedModelError } from '../../errors.js';
import type { TensorInfo } from '../../ort-session.js';
import { readSvdModelDir, resolveSvdSignatures, type SvdComponent } from './svd-model-dir.js';
import { compileSvdParams, InvalidVideoParamsError } from './svd-params.js';

type Sig = { inputs: TensorInfo[]; outputs: TensorInfo[] };
const t = (name: string, type: string, shape: (number | string)[]): TensorInfo => ({ name, type, shape });

/** The signatures of a real fp32 export (what scripts/export_svd_onnx.py writes). */
function realExport(): Record<SvdComponent, Sig> {
  return {
    image_encoder: {
      inputs: [t('pixel_values', 'float32', ['batch', 3, 224, 224])],
      outputs: [t('image_embeds', 'float32', ['batch', 1024]), t('last_hidden_state', 'float32', ['batch', 257, 1280])],
    },
    vae_encoder: {
      inputs: [t('sample', 'float32', ['batch', 3, 'height', 'width'])],
      outputs: [t('latent_sample', 'float32', ['batch', 4, 'latent_height', 'latent_width'])],
    },
    unet: {
      inputs: [
        t('sample', 'float32', ['batch', 'num_frames', 8, 'height', 'width']),
        t('timestep', 'float32', [1]),
        t('encoder_hidden_states', 'float32', ['batch', 1, 1024]),
        t('added_time_ids', 'float32', ['batch', 3]),
      ],
      outputs: [t('out_sample', 'float32', ['batch', 'num_frames', 4, 'height', 'width'])],
    },
    vae_decoder: {
      inputs: [
        t('latent_sample', 'float32', ['batch', 4, 'latent_height', 'latent_width']),
        t('num_frames', 'int64', []),
      ],
      outputs: [t('sample', 'float32', ['batch', 3, 'height', 'width'])],
    },
  };
}

describe('SVD signatures from session metadata', () => {
  it('resolves a real export: names, dtypes, timestep [1], num_frames scalar, image_embeds among two outputs', () => {
    const sig = resolveSvdSignatures(realExport());
    expect(sig.imageEncoder.imageEmbeds).toEqual({ name: 'image_embeds', type: 'float32' });
    expect(sig.unet.timestep).toEqual({ name: 'timestep', type: 'float32', dims: 'one' });
    expect(sig.vaeDecoder.numFrames).toEqual({ name: 'num_frames', type: 'int64', dims: 'scalar' });
  });

  it('accepts exporter variants: fp16 I/O, int64 [batch] timesteps, other names, a decoder without num_frames', () => {
    const m = realExport();
    for (const s of Object.values(m))
      for (const io of [...s.inputs, ...s.outputs]) if (io.type === 'float32') io.type = 'float16';
    m.unet.inputs[1] = t('timesteps', 'int64', ['batch']);
    m.unet.outputs[0].name = 'noise_pred';
    m.vae_decoder.inputs = [t('latents', 'float16', ['N', 4, 'h', 'w'])];
    const sig = resolveSvdSignatures(m);
    expect(sig.unet.sample.type).toBe('float16');
    expect(sig.unet.timestep).toEqual({ name: 'timesteps', type: 'int64', dims: 'batch' });
    expect(sig.unet.outSample.name).toBe('noise_pred');
    expect(sig.vaeDecoder.numFrames).toBeNull();
    expect(sig.vaeDecoder.latentSample.name).toBe('latents');
  });

  it('rejects wrong signatures with UnsupportedModelError naming the sub-model', () => {
    const cases: [string, (m: Record<SvdComponent, Sig>) => void, RegExp][] = [
      ['missing input', (m) => m.unet.inputs.splice(3, 1), /unet\/model\.onnx no input named added_time_ids/],
      ['extra input', (m) => m.unet.inputs.push(t('return_dict', 'bool', [])), /does not feed: return_dict/],
      ['4-channel UNet', (m) => (m.unet.inputs[0].shape = ['b', 'f', 4, 'h', 'w']), /sample' has shape/],
      ['int image', (m) => (m.vae_encoder.inputs[0].type = 'uint8'), /vae_encoder.*uint8/],
      ['2-d timestep', (m) => (m.unet.inputs[1].shape = [2, 1]), /timestep' has shape/],
    ];
    for (const [, mutate, message] of cases) {
      const m = realExport();
      mutate(m);
      expect(() => resolveSvdSignatures(m)).toThrowError(UnsupportedModelError);
      expect(() => resolveSvdSignatures(m)).toThrowError(message);
    }
  });
});

describe('SVD model directory', () => {
  it('reads the tiny directory: SVD-XT scheduler, CLIP mean/std, VAE factors, default frame count', async () => {
    const { config, modelPaths } = await readSvdModelDir(await tinySvdDir());
    expect(config.schedulerConfig).toMatchObject({
      prediction_type: 'v_prediction',
      timestep_type: 'continuous',
      use_karras_sigmas: true,
    });
    expect(config.imageMean).toEqual([0.48145466, 0.4578275, 0.40821073]);
    expect([config.clipSize, config.vaeScalingFactor, config.vaeScaleFactor, config.defaultNumFrames]).toEqual([
      224, 0.18215, 8, 25,
    ]);
    expect(modelPaths.unet).toMatch(/unet[/\\]model\.onnx$/);
  });

  it('names what is missing or wrong', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-svd-bad-'));
    try {
      await expect(readSvdModelDir(dir)).rejects.toThrowError(UnknownModelError);
      await cp(await tinySvdDir(), dir, { recursive: true });
      rmSync(join(dir, 'vae_decoder', 'model.onnx'));
      await expect(readSvdModelDir(dir)).rejects.toThrowError(/vae_decoder\/model\.onnx is missing/);
      writeFileSync(join(dir, 'model_index.json'), JSON.stringify({ _class_name: 'StableDiffusionPipeline' }));
      await expect(readSvdModelDir(dir)).rejects.toThrowError(UnsupportedModelError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('SVD run parameters', () => {
  const image = testImage(16, 16);

  it('fills diffusers defaults, the frame count from the model', () => {
    const p = compileSvdParams({ image, seed: 5 }, { numFrames: 14 });
    expect(p).toMatchObject({
      numFrames: 14,
      width: 1024,
      height: 576,
      fps: 7,
      motionBucketId: 127,
      noiseAugStrength: 0.02,
      steps: 25,
      minGuidanceScale: 1,
      maxGuidanceScale: 3,
      decodeChunkSize: 14,
      seed: 5,
    });
    expect(compileSvdParams({ image, seed: 2n ** 40n }).numFrames).toBe(25);
  });

  it('names the bad field', () => {
    const bad: [object, string][] = [
      [{ seed: -1 }, 'seed'],
      [{ seed: 1.5 }, 'seed'],
      [{ seed: 1, width: 100 }, 'width'],
      [{ seed: 1, height: 0 }, 'height'],
      [{ seed: 1, numFrames: 0 }, 'numFrames'],
      [{ seed: 1, steps: 2.5 }, 'steps'],
      [{ seed: 1, decodeChunkSize: 0 }, 'decodeChunkSize'],
      [{ seed: 1, noiseAugStrength: Number.NaN }, 'noiseAugStrength'],
      [{ seed: 1, maxGuidanceScale: -1 }, 'maxGuidanceScale'],
    ];
    for (const [raw, field] of bad) {
      let err: unknown;
      try {
        compileSvdParams({ image, ...raw } as never);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidVideoParamsError);
      expect((err as InvalidVideoParamsError).field).toBe(field);
    }
  });
});
