import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { baboon, esrganSlimFixturePath } from '../test-support/fixtures.js';
import { deserializeError, serializeError } from './engine-protocol.js';
import {
  classifyEngineError,
  EngineError,
  EngineOutOfMemoryError,
  ExecutionProviderUnavailableError,
  InvalidImageError,
} from './errors.js';
import { decodeToRgb, encodeRgbPng } from './image-codec.js';
import { Upscaler } from './ort-upscaler.js';
import { toRgb8 } from './rgb-image.js';
import { upscaleImageFile } from './single-pass.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-image-'));

describe('toRgb8', () => {
  it('clamps to [0, 255], then rounds half up; NaN becomes 0', () => {
    expect([...toRgb8([-3, -0.4, 0.49, 0.5, 127.5, 254.5, 255.2, 1e9, Number.NaN])]).toEqual([
      0, 0, 0, 1, 128, 255, 255, 255, 0,
    ]);
  });
});

describe('decodeToRgb / encodeRgbPng', () => {
  it('round-trips RGB8 losslessly through PNG', async () => {
    const img = await baboon();
    const back = await decodeToRgb(await encodeRgbPng(img));
    expect(back.width).toBe(128);
    expect(Buffer.compare(back.data, img.data)).toBe(0);
  });

  it('flattens alpha onto black and expands grey to RGB', async () => {
    const rgba = await sharp(Buffer.from([200, 100, 50, 0, 200, 100, 50, 255]), {
      raw: { width: 2, height: 1, channels: 4 },
    })
      .png()
      .toBuffer();
    expect([...(await decodeToRgb(rgba)).data]).toEqual([0, 0, 0, 200, 100, 50]);
    const grey = await sharp(Buffer.from([7, 250]), { raw: { width: 2, height: 1, channels: 1 } })
      .png()
      .toBuffer();
    expect([...(await decodeToRgb(grey)).data]).toEqual([7, 7, 7, 250, 250, 250]);
  });

  it('rejects bytes that are not an image and malformed RgbImages', async () => {
    await expect(decodeToRgb(new Uint8Array([1, 2, 3]))).rejects.toBeInstanceOf(InvalidImageError);
    await expect(encodeRgbPng({ width: 2, height: 2, data: new Uint8Array(11) })).rejects.toBeInstanceOf(
      InvalidImageError,
    );
  });
});

describe('upscaleImageFile (single pass)', () => {
  it('upscales the package fixture (RGBA PNG) x4 and writes an RGB PNG', async () => {
    const input = esrganSlimFixturePath();
    const output = join(dir, 'fixture-x4.png');
    const result = await upscaleImageFile(input, output, 'esrgan-slim-x4', { cacheDir: dir });
    console.log(`single pass 128x128 x4: ${result.inferenceMs.toFixed(0)} ms inference`);
    expect(result).toMatchObject({ width: 512, height: 512 });
    const meta = await sharp(output).metadata();
    expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['png', 512, 512, 3]);
  });

  it('Upscaler.run rejects an image whose data does not match its size', async () => {
    const upscaler = await Upscaler.load('esrgan-slim-x2', { cacheDir: dir });
    await expect(upscaler.run({ width: 4, height: 4, data: new Uint8Array(47) })).rejects.toBeInstanceOf(
      InvalidImageError,
    );
    await upscaler.close();
  });
});

describe('execution providers', () => {
  it('webgpu runs on a Vulkan GPU like the CPU does, or names the missing Vulkan driver', async () => {
    let gpu: Upscaler;
    try {
      gpu = await Upscaler.load('esrgan-slim-x2', { cacheDir: dir, executionProvider: 'webgpu' });
    } catch (e) {
      // Machines without a GPU (CI): a named, actionable error, not a crash.
      expect(e).toBeInstanceOf(ExecutionProviderUnavailableError);
      expect((e as ExecutionProviderUnavailableError).provider).toBe('webgpu');
      expect((e as Error).message).toMatch(/Vulkan/);
      return;
    }
    const img = await decodeToRgb(
      await encodeRgbPng({ width: 24, height: 16, data: new Uint8Array(24 * 16 * 3).map((_, i) => (i * 37) % 256) }),
    );
    const cpu = await Upscaler.load('esrgan-slim-x2', { cacheDir: dir });
    const [a, b] = [await gpu.runFloat(img), await cpu.runFloat(img)];
    await Promise.all([gpu.close(), cpu.close()]);
    let max = 0;
    for (let i = 0; i < a.data.length; i++) max = Math.max(max, Math.abs(a.data[i] - b.data[i]));
    expect(max).toBeLessThan(0.05);
  });
});

describe('error classification', () => {
  it.each([
    'Failed to allocate memory for requested buffer of size 1073741824',
    'CUDA failure 2: out of memory ; GPU=0',
    'std::bad_alloc',
    '[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : CUDNN_STATUS_ALLOC_FAILED',
  ])('%s → EngineOutOfMemoryError', (message) => {
    const err = classifyEngineError(new Error(message), 'inference');
    expect(err).toBeInstanceOf(EngineOutOfMemoryError);
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('other failures become EngineError with the cause kept; engine errors pass through', () => {
    const err = classifyEngineError(new Error('Invalid rank for input'), 'inference');
    expect(err).toBeInstanceOf(EngineError);
    expect(err).not.toBeInstanceOf(EngineOutOfMemoryError);
    expect(err.message).toBe('inference: Invalid rank for input');
    const named = new ExecutionProviderUnavailableError('cuda', 'no cuda');
    expect(classifyEngineError(named, 'x')).toBe(named);
  });

  it('survives the trip through the worker channel with its class', () => {
    const back = deserializeError(serializeError(new ExecutionProviderUnavailableError('cuda', 'no cuda')));
    expect(back).toBeInstanceOf(ExecutionProviderUnavailableError);
    expect((back as ExecutionProviderUnavailableError).provider).toBe('cuda');
    expect(deserializeError(serializeError(new EngineOutOfMemoryError('oom')))).toBeInstanceOf(EngineOutOfMemoryError);
  });
});
