/**
 * gRPC bearer tokens: without one (or with a wrong one) the API refuses; probes stay open. Tokens
 * name users (`user:token`, a tokens file; a bare token is user "default"), who own their jobs.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { TesseraClient } from '@tessera/client';
import { JobState } from '@tessera/protocol';
import { CLI_BIN, COORDINATOR_BIN, startFarm, type Farm } from './helpers/farm.js';
import { repoRoot, spawnBin } from './helpers/process.js';
import { baboonCrop } from './helpers/images.js';

const run = promisify(execFile);

describe('gRPC bearer tokens', () => {
  let farm: Farm;
  let tokensFile: string;
  beforeAll(async () => {
    tokensFile = join(mkdtempSync(join(tmpdir(), 'tessera-tokens-')), 'tokens');
    writeFileSync(tokensFile, '# users of the test farm\ncarol carol-secret-1\nroot root-secret-1 admin\n');
    farm = await startFarm({
      agents: [{ name: 'a', vramGb: 8 }],
      coordinatorArgs: ['--api-tokens', 'alpha-token,bob:beta-token', '--api-tokens-file', tokensFile],
      token: 'beta-token',
    });
  });
  afterAll(async () => farm?.close());

  it('refuses calls without a token or with a wrong one, unary and streaming', async () => {
    for (const token of [undefined, 'wrong']) {
      const c = new TesseraClient(farm.grpcAddr, { token });
      await expect(c.listAgents()).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
      await expect(
        c.submitUpscale({ image: await baboonCrop(0, 0, 16, 16), model: 'esrgan-slim-x2' }),
      ).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
      await expect(
        (async () => {
          for await (const _ of c.watchJob('any')) void _;
        })(),
      ).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
      c.close();
    }
    const r = await run(process.execPath, [join(repoRoot, CLI_BIN), '--server', farm.grpcAddr, 'agents']).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tessera: UNAUTHENTICATED: missing bearer token/);
  });

  it('serves a valid token (either of the configured ones)', async () => {
    const job = await farm.client.submitUpscale({ image: await baboonCrop(0, 0, 24, 24), model: 'esrgan-slim-x2' });
    expect(job.owner).toBe('bob');
    expect((await farm.client.waitForJob(job.id)).state).toBe(JobState.JOB_STATE_SUCCEEDED);
    const alpha = new TesseraClient(farm.grpcAddr, { token: 'alpha-token' });
    expect((await alpha.listAgents()).map((a) => a.name)).toEqual(['a']);
    alpha.close();
    const { stdout } = await run(process.execPath, [
      join(repoRoot, CLI_BIN),
      '--server',
      farm.grpcAddr,
      '--token',
      'alpha-token',
      'agents',
      '--json',
    ]);
    expect(JSON.parse(stdout)).toHaveLength(1);
  });

  it('health stays open for probes', async () => {
    const { loadSync } = await import('@grpc/proto-loader');
    const { createRequire } = await import('node:module');
    const require = createRequire(import.meta.url);
    const dir = join(require.resolve('grpc-health-check/package.json'), '..', 'proto');
    const def = loadSync('health/v1/health.proto', { includeDirs: [dir], keepCase: true, enums: String });
    const Health = (
      grpc.loadPackageDefinition(def) as unknown as {
        grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
      }
    ).grpc.health.v1.Health;
    const client = new Health(farm.grpcAddr, grpc.credentials.createInsecure());
    const res = await new Promise<{ status: string }>((resolve, reject) =>
      client.check({ service: '' }, (err: grpc.ServiceError | null, r: { status: string }) =>
        err ? reject(err) : resolve(r),
      ),
    );
    expect(res.status).toBe('SERVING');
    client.close();
  });

  it("makes the token's user the owner of the job: named, from the file, or 'default' for a bare token", async () => {
    const image = await baboonCrop(0, 0, 16, 16);
    const owners: string[] = [];
    for (const token of ['beta-token', 'carol-secret-1', 'alpha-token']) {
      const c = new TesseraClient(farm.grpcAddr, { token });
      const job = await c.submitUpscale({ image, model: 'esrgan-slim-x2' });
      owners.push((await c.getJob(job.id)).owner);
      c.close();
    }
    expect(owners).toEqual(['bob', 'carol', 'default']);

    const c = new TesseraClient(farm.grpcAddr, { token: 'carol-secret-1' });
    const job = await c.submitUpscale({ image, model: 'esrgan-slim-x2' });
    c.close();
    // Another user's job is visible to an admin only (see ownership.test.ts).
    const cli = (...args: string[]) =>
      run(process.execPath, [join(repoRoot, CLI_BIN), '--server', farm.grpcAddr, '--token', 'root-secret-1', ...args]);
    expect((await cli('status', job.id)).stdout).toMatch(/\nowner {5}carol\n/);
    expect(JSON.parse((await cli('status', job.id, '--json')).stdout).owner).toBe('carol');
  });

  it('refuses to start on a bad tokens file, naming the file and line', async () => {
    const bad = join(mkdtempSync(join(tmpdir(), 'tessera-tokens-')), 'tokens');
    writeFileSync(bad, 'carol carol-secret-1\ndave short\n');
    const p = spawnBin(COORDINATOR_BIN, ['--api-tokens-file', bad, '--metrics', '', '--grpc', '127.0.0.1:0'], 'bad');
    expect(await p.exited()).toBe(1);
    expect(p.output()).toContain(
      `tessera-coordinator: option apiTokensFile: ${bad} line 2: the token of user dave is shorter than 8 characters`,
    );
  });
});
