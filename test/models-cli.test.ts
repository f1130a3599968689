/**
 * `tessera models` against a real coordinator and nats-server: make-tiny writes the suite's tiny
 * models under the model ids, push stores SDXL base and refiner sharing files once (ls --json shows
 * total vs stored bytes), an unchanged re-push transfers nothing, rm frees only unshared bytes, and
 * with API users only a model admin may push.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TesseraModels } from '@tessera/client';
import { hashFile } from '@tessera/models';
import { CLI_BIN, startFarm, type Farm } from './helpers/farm.js';
import { repoRoot } from './helpers/process.js';

const run = promisify(execFile);

interface LsJson {
  models: { id: string; digest: string; files: number; totalBytes: number; uniqueBytes: number; holders: string[] }[];
  totalBytes: number;
  storedBytes: number;
}

describe('tessera models', () => {
  let farm: Farm;
  let dir: string;
  const cli = async (...args: string[]) =>
    (await run(process.execPath, [join(repoRoot, CLI_BIN), '--server', farm.grpcAddr, 'models', ...args])).stdout;

  beforeAll(async () => {
    farm = await startFarm({ agents: [] });
    dir = mkdtempSync(join(tmpdir(), 'tessera-models-cli-'));
  });
  afterAll(async () => {
    await farm?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('make-tiny writes the tiny models under their model ids', async () => {
    for (const family of ['sdxl', 'sdxl-refiner', 'svd-xt'])
      expect(await cli('make-tiny', family, join(dir, family))).toMatch(`wrote tiny ${family}`);
    expect(JSON.parse(readFileSync(join(dir, 'sdxl', 'model_index.json'), 'utf8'))._class_name).toBe(
      'ORTStableDiffusionXLPipeline',
    );
    expect(readFileSync(join(dir, 'svd-xt', 'model_index.json'), 'utf8')).toMatch(/StableVideoDiffusionPipeline/);
    const r = await run(process.execPath, [join(repoRoot, CLI_BIN), 'models', 'make-tiny', 'sdxl-base', dir]).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((r as { stderr: string }).stderr).toMatch(/unknown family "sdxl-base"/);
  });

  it('stores files shared by SDXL base and refiner once; an unchanged re-push uploads nothing', async () => {
    expect(await cli('push', 'sdxl', join(dir, 'sdxl'))).toMatch(/^pushed sdxl sha256:[0-9a-f]{64}: /);
    const refiner = await cli('push', 'sdxl-refiner', join(dir, 'sdxl-refiner'));
    const ls = JSON.parse(await cli('ls', '--json')) as LsJson;
    expect(ls.models.map((m) => m.id)).toEqual(['sdxl', 'sdxl-refiner']);
    // The refiner's text_encoder_2 is the base's (same tiny weights): stored once.
    const shared = await hashFile(join(dir, 'sdxl', 'text_encoder_2', 'model.onnx'));
    expect((await hashFile(join(dir, 'sdxl-refiner', 'text_encoder_2', 'model.onnx'))).sha256).toBe(shared.sha256);
    expect(ls.totalBytes - ls.storedBytes).toBeGreaterThanOrEqual(shared.size);
    expect(refiner).toMatch(/already stored/);
    const [base, ref] = ls.models;
    expect(base.uniqueBytes).toBeLessThan(base.totalBytes);
    expect(ref.uniqueBytes).toBeLessThan(ref.totalBytes);
    expect(await cli('push', 'sdxl', join(dir, 'sdxl'))).toMatch(/uploaded 0 files \(0 B\)/);
    const table = await cli('ls');
    expect(table).toMatch(/^MODEL +DIGEST +FILES +TOTAL +UNIQUE +HELD BY\nsdxl +[0-9a-f]{12} +\d+ /);
    expect(table).toMatch(/^2 model\(s\), .* in total, .* stored$/m);
  });

  it('rm frees only what no other model uses; bad ids and missing models get clear errors', async () => {
    const before = JSON.parse(await cli('ls', '--json')) as LsJson;
    const ref = before.models.find((m) => m.id === 'sdxl-refiner')!;
    const m = new TesseraModels(farm.grpcAddr);
    try {
      expect(await m.remove('sdxl-refiner')).toBe(ref.uniqueBytes);
      await expect(m.remove('sdxl-refiner')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(m.push('Bad/Id', join(dir, 'sdxl'))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      const after = await m.list();
      expect(after.models.map((x) => x.id)).toEqual(['sdxl']);
    } finally {
      m.close();
    }
  });
});

describe('tessera models with API users', () => {
  let farm: Farm;
  const tokensFile = () => {
    const f = join(mkdtempSync(join(tmpdir(), 'tessera-model-tokens-')), 'tokens');
    writeFileSync(f, 'root root-token-1 admin\nbob bob-token-1\nvic vic-token-1 viewer\n');
    return f;
  };
  beforeAll(async () => {
    farm = await startFarm({
      agents: [],
      // root has the admin role (the tokens file's third word); bob is a plain user, vic a viewer.
      coordinatorArgs: ['--api-tokens-file', tokensFile()],
      token: 'root-token-1',
    });
  });
  afterAll(async () => farm?.close());

  it('lets only a user of the admin role push and remove; anyone authenticated may list', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-models-auth-'));
    const file = join(dir, 'x.onnx');
    writeFileSync(file, 'tiny');
    const bob = new TesseraModels(farm.grpcAddr, { token: 'bob-token-1' });
    const admin = new TesseraModels(farm.grpcAddr, { token: 'root-token-1' });
    const vic = new TesseraModels(farm.grpcAddr, { token: 'vic-token-1' });
    try {
      await expect(bob.push('x', file)).rejects.toMatchObject({
        code: 'PERMISSION_DENIED',
        message: expect.stringMatching(/user "bob" may not push models: that takes the admin role/),
      });
      await expect(vic.push('x', file)).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
      expect((await admin.push('x', file)).uploadedFiles).toBe(1);
      expect((await bob.list()).models.map((m) => m.id)).toEqual(['x']);
      await expect(bob.remove('x')).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
      expect((await vic.list()).models.map((m) => m.id)).toEqual(['x']);
      const anon = new TesseraModels(farm.grpcAddr);
      await expect(anon.list()).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
      anon.close();
    } finally {
      bob.close();
      vic.close();
      admin.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
