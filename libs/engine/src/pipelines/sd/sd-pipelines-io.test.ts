/**
 * SD pipelines beyond one process (sd-pipelines.test.ts runs the families): the same bytes from a
 * child process, txt2imgFile (PNG in, PNG out) and the worker handler (one load per directory,
 * progress fractions, images or latents).
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { decodeToRgb, encodeRgbPng } from '../../image-codec.js';
import { loadSdPipeline } from './load-sd-pipeline.js';
import { txt2imgFile } from './txt2img-file.js';
import { SdWorkerHandler } from './worker-handler.js';
import {
  BASE,
  dirs,
  image,
  latents,
  pipeline,
  root,
  sha,
  testImage,
  useTinySdModels,
} from './sd-pipelines.test-support.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../../../../..');

useTinySdModels();

describe('same bytes in another process', () => {
  it('a child process generates the identical image for the same seed', async () => {
    const script = join(root, 'child.mts');
    const mod = (f: string) => JSON.stringify(join(here, f));
    await writeFile(
      script,
      `import { loadSdPipeline } from ${mod('load-sd-pipeline.ts')};
import { createHash } from 'node:crypto';
const p = await loadSdPipeline(process.argv[2], { intraOpThreads: 1 });
const r = await p.run(JSON.parse(process.argv[3]));
process.stdout.write(createHash('sha256').update(r.images[0].data).digest('hex'));
await p.close();
`,
    );
    const tsx = join(repoRoot, 'node_modules', '.bin', 'tsx');
    for (const name of ['sdxl-base', 'sd3']) {
      const { stdout } = await promisify(execFile)(tsx, [script, dirs[name], JSON.stringify(BASE)], { cwd: repoRoot });
      expect(stdout.trim(), name).toBe(sha(image(await (await pipeline(name)).run(BASE))));
    }
  });
});

describe('txt2imgFile', () => {
  it('writes a PNG of the requested size, and does img2img from a file (resized to a multiple of 8)', async () => {
    const out = join(root, 'out.png');
    const r = await txt2imgFile({
      modelDir: dirs.sd15,
      outputPath: out,
      prompt: 'a red cat',
      steps: 4,
      seed: 5,
      width: 48,
      height: 32,
    });
    expect(r).toMatchObject({
      width: 48,
      height: 32,
      seed: 5,
      steps: 4,
      family: 'sd',
      scheduler: 'dpm++2m',
      schedulerSubstitutedFor: 'PNDMScheduler',
    });
    const png = await decodeToRgb(await readFile(out));
    expect([png.width, png.height]).toEqual([48, 32]);
    const again = join(root, 'again.png');
    await txt2imgFile({
      modelDir: dirs.sd15,
      outputPath: again,
      prompt: 'a red cat',
      steps: 4,
      seed: 5,
      width: 48,
      height: 32,
    });
    expect(Buffer.compare(await readFile(out), await readFile(again))).toBe(0);

    const input = join(root, 'in.png');
    await writeFile(input, await encodeRgbPng(testImage(70)));
    const i2i = await txt2imgFile({
      modelDir: dirs['sdxl-base'],
      outputPath: join(root, 'i2i.png'),
      prompt: 'a dog',
      imagePath: input,
      strength: 0.5,
      steps: 6,
    });
    expect(i2i).toMatchObject({ width: 64, height: 64, steps: 3, family: 'sdxl', scheduler: 'euler' });
  });
});

describe('SdWorkerHandler', () => {
  it('loads once per directory, reports progress fractions, and returns images or latents', async () => {
    const loads: string[] = [];
    const handler = new SdWorkerHandler({ executionProvider: 'cpu', threads: 1 }, (dir, opts) => {
      loads.push(dir);
      return loadSdPipeline(dir, opts);
    });
    try {
      const fractions: number[] = [];
      const r = await handler.generate(
        { modelDir: dirs.sd21, params: { ...BASE, steps: 4 } },
        { onProgress: (f) => fractions.push(f) },
      );
      expect(image(r).width).toBe(64);
      expect(fractions).toEqual([0.25, 0.5, 0.75, 1]);
      const l = await handler.generate({ modelDir: dirs.sd21, params: { ...BASE, steps: 2, outputType: 'latent' } });
      expect(latents(l).channels).toBe(4);
      expect(loads).toEqual([dirs.sd21]);
      expect(handler.loadedModels()).toEqual([dirs.sd21]);
      await expect(handler.generate({ modelDir: join(root, 'missing'), params: BASE })).rejects.toThrow(
        /model_index\.json/,
      );
      expect(handler.loadedModels()).toEqual([dirs.sd21]);
    } finally {
      await handler.close();
    }
  });
});
