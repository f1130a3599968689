import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { UnknownModelError } from './errors.js';
import { ensureUpscalerModel, resolveCacheDir } from './model-cache.js';
import { Upscaler } from './ort-upscaler.js';
import type { UpscalerId } from './zoo.js';

const run = promisify(execFile);
const distIndex = new URL('../dist/index.js', import.meta.url).href;
const tempDir = () => mkdtempSync(join(tmpdir(), 'tessera-cache-'));

describe('ensureUpscalerModel', () => {
  it('converts once; a second call returns the same file without rewriting it', async () => {
    const cacheDir = tempDir();
    const first = await ensureUpscalerModel('esrgan-slim-x4', { cacheDir });
    expect(basename(first)).toMatch(/^esrgan-slim-x4-[0-9a-f]{16}\.onnx$/);
    const before = statSync(first, { bigint: true }).mtimeNs;
    await new Promise((r) => setTimeout(r, 20));
    const second = await ensureUpscalerModel('esrgan-slim-x4', { cacheDir });
    expect(second).toBe(first);
    expect(statSync(second, { bigint: true }).mtimeNs).toBe(before);
    expect(readdirSync(cacheDir)).toEqual([basename(first)]);
  });

  it('keeps x2 and x4 apart and dedupes concurrent calls in one process', async () => {
    const cacheDir = tempDir();
    const paths = await Promise.all(
      (['esrgan-slim-x2', 'esrgan-slim-x4', 'esrgan-slim-x2'] as const).map((id) =>
        ensureUpscalerModel(id, { cacheDir }),
      ),
    );
    expect(paths[0]).toBe(paths[2]);
    expect(paths[0]).not.toBe(paths[1]);
    expect(readdirSync(cacheDir).sort()).toEqual([basename(paths[0]), basename(paths[1])].sort());
  });

  it('is safe when several processes convert into one cold cache at once', async () => {
    const cacheDir = tempDir();
    const script = `const m = await import(${JSON.stringify(distIndex)}); process.stdout.write(await m.ensureUpscalerModel('esrgan-slim-x4', { cacheDir: ${JSON.stringify(cacheDir)} }));`;
    const outs = await Promise.all([1, 2, 3].map(() => run(process.execPath, ['--input-type=module', '-e', script])));
    const paths = new Set(outs.map((o) => o.stdout));
    expect(paths.size).toBe(1);
    const [path] = paths;
    expect(readdirSync(cacheDir)).toEqual([basename(path)]); // no temp files left behind
    const upscaler = await Upscaler.load(path); // the survivor is a complete model
    await upscaler.close();
  });

  it('defaults to $TESSERA_MODEL_CACHE, then ~/.cache/tessera/models', () => {
    const saved = process.env.TESSERA_MODEL_CACHE;
    try {
      process.env.TESSERA_MODEL_CACHE = '/srv/models';
      expect(resolveCacheDir()).toBe('/srv/models');
      delete process.env.TESSERA_MODEL_CACHE;
      expect(resolveCacheDir()).toMatch(/\.cache[/\\]tessera[/\\]models$/);
      expect(resolveCacheDir({ cacheDir: '/x' })).toBe('/x');
    } finally {
      if (saved === undefined) delete process.env.TESSERA_MODEL_CACHE;
      else process.env.TESSERA_MODEL_CACHE = saved;
    }
  });

  it('rejects unknown ids', async () => {
    await expect(ensureUpscalerModel('esrgan-slim-x3' as UpscalerId, { cacheDir: tempDir() })).rejects.toThrow(
      UnknownModelError,
    );
  });
});
