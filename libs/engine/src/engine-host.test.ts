import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baboon } from '../test-support/fixtures.js';
// The host must run the compiled worker, so everything comes from dist (build first).
import {
  EngineAbortedError,
  EngineClosedError,
  EngineError,
  EngineHost,
  executionProviders,
  ExecutionProviderUnavailableError,
  UnknownModelError,
  Upscaler,
  type RgbImage,
} from '../dist/index.js';

const cacheDir = mkdtempSync(join(tmpdir(), 'tessera-host-'));

/** `img` repeated n×n times: a real-photo image big enough that inference takes a while. */
function mosaic(img: RgbImage, n: number): RgbImage {
  const width = img.width * n;
  const data = new Uint8Array(width * img.height * n * 3);
  for (let y = 0; y < img.height * n; y++)
    for (let t = 0; t < n; t++) {
      const from = (y % img.height) * img.width * 3;
      data.set(img.data.subarray(from, from + img.width * 3), (y * width + t * img.width) * 3);
    }
  return { width, height: img.height * n, data };
}

/** PIDs of this process's engine workers (children running engine-worker.js). */
function workerPids(): number[] {
  let out = '';
  try {
    out = execFileSync('pgrep', ['-P', String(process.pid)], { encoding: 'utf8' });
  } catch {
    return []; // pgrep exits 1 when there is no child
  }
  return out
    .split('\n')
    .filter(Boolean)
    .map(Number)
    .filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('engine-worker.js'));
}

describe('EngineHost', () => {
  let photo: RgbImage;
  let big: RgbImage;
  let host: EngineHost;
  beforeAll(async () => {
    photo = await baboon();
    big = mosaic(photo, 4); // 512×512: x2 takes ~1 s on 2 cores
    host = new EngineHost({ executionProvider: 'cpu', cacheDir, threads: 2 });
  });
  afterAll(() => host.close());

  it('upscales in a child process, identically to the in-process adapter, and keeps the model loaded', async () => {
    const progress: number[] = [];
    const out = await host.upscale('esrgan-slim-x2', photo, { onProgress: (f) => progress.push(f) });
    expect([out.width, out.height]).toEqual([256, 256]);
    expect(progress).toEqual([0, 0.1, 1]);
    expect(host.loadedModels()).toEqual(['esrgan-slim-x2']);
    const pid = workerPids();
    expect(pid).toHaveLength(1);

    const local = await Upscaler.load('esrgan-slim-x2', { cacheDir, intraOpThreads: 2 });
    const expected = await local.run(photo);
    await local.close();
    expect(Buffer.compare(out.data, expected.data)).toBe(0);

    await host.upscale('esrgan-slim-x4', photo);
    expect(host.loadedModels().sort()).toEqual(['esrgan-slim-x2', 'esrgan-slim-x4']);
    expect(workerPids()).toEqual(pid); // same worker served both
  });

  it('abort kills the running inference, rejects with EngineAbortedError, and the next call works', async () => {
    await host.upscale('esrgan-slim-x2', photo); // worker up, model loaded
    const [oldPid] = workerPids();
    const controller = new AbortController();
    let abortedAt = 0;
    const call = host.upscale('esrgan-slim-x2', big, {
      signal: controller.signal,
      onProgress: (f) => {
        if (f === 0.1) setTimeout(() => ((abortedAt = performance.now()), controller.abort()), 50);
      },
    });
    await expect(call).rejects.toBeInstanceOf(EngineAbortedError);
    expect(performance.now() - abortedAt).toBeLessThan(300); // did not wait for the inference
    expect(host.loadedModels()).toEqual([]);

    const next = await host.upscale('esrgan-slim-x2', photo);
    expect([next.width, next.height]).toEqual([256, 256]);
    const [newPid] = workerPids();
    expect(newPid).not.toBe(oldPid);
    expect(() => process.kill(oldPid, 0)).toThrow(); // the killed worker is gone
  });

  it('aborting a queued call leaves the running one alone', async () => {
    const controller = new AbortController();
    const running = host.upscale('esrgan-slim-x2', photo);
    const queued = host.upscale('esrgan-slim-x2', photo, { signal: controller.signal });
    controller.abort();
    await expect(queued).rejects.toBeInstanceOf(EngineAbortedError);
    expect((await running).width).toBe(256);
    await expect(host.upscale('esrgan-slim-x2', photo, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(
      EngineAbortedError,
    );
  });

  it('a crashed worker rejects its call with EngineError and the next call respawns', async () => {
    await host.upscale('esrgan-slim-x2', photo);
    const call = host.upscale('esrgan-slim-x2', big, {
      onProgress: (f) => {
        if (f === 0.1) for (const pid of workerPids()) process.kill(pid, 'SIGKILL');
      },
    });
    const err = await call.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(EngineError);
    expect(err).not.toBeInstanceOf(EngineAbortedError);
    expect((err as Error).message).toMatch(/engine worker exited \(code null, signal SIGKILL\)/);
    expect((await host.upscale('esrgan-slim-x2', photo)).width).toBe(256);
  });

  it('reports worker-side failures as named errors', async () => {
    await expect(host.upscale('no-such-model', photo)).rejects.toBeInstanceOf(UnknownModelError);
    expect((await host.upscale('esrgan-slim-x2', photo)).width).toBe(256);
  });

  it.skipIf(executionProviders().some((p) => p.name === 'cuda' && p.available))(
    'asking for CUDA where it is not installed names the fix',
    async () => {
      const cuda = new EngineHost({ executionProvider: 'cuda', cacheDir });
      try {
        const err = await cuda.upscale('esrgan-slim-x2', photo).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ExecutionProviderUnavailableError);
        expect((err as Error).message).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12');
      } finally {
        await cuda.close();
      }
    },
  );

  it('close rejects later calls with EngineClosedError', async () => {
    const h = new EngineHost({ cacheDir });
    await h.upscale('esrgan-slim-x2', photo);
    await h.close();
    await expect(h.upscale('esrgan-slim-x2', photo)).rejects.toBeInstanceOf(EngineClosedError);
  });

  it('an idle host does not keep the process alive', async () => {
    const script = `
      const { EngineHost } = await import(${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)});
      const host = new EngineHost({ cacheDir: ${JSON.stringify(cacheDir)} });
      const img = { width: 8, height: 8, data: new Uint8Array(8 * 8 * 3).fill(90) };
      const out = await host.upscale('esrgan-slim-x2', img);
      console.log(out.width);`; // no close(): the process must still exit by itself
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      timeout: 30_000,
    });
    expect(stdout.trim()).toBe('16');
  });
});
