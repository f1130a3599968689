/** gRPC bearer tokens: without one (or with a wrong one) the API refuses; probes stay open. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { TesseraClient } from '@tessera/client';
import { JobState } from '@tessera/protocol';
import { CLI_BIN, startFarm, type Farm } from './helpers/farm.js';
import { repoRoot } from './helpers/process.js';
import { baboonCrop } from './helpers/images.js';

const run = promisify(execFile);

describe('gRPC bearer tokens', () => {
  let farm: Farm;
  beforeAll(async () => {
    farm = await startFarm({
      agents: [{ name: 'a', vramGb: 8 }],
      coordinatorArgs: ['--api-tokens', 'alpha-token,beta-token'],
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
});
