/**
 * gRPC over TLS and mutual TLS (issue 6), against the real coordinator, agent and CLI. Certificates
 * are made at test time by a throwaway CA; a second CA plays the stranger.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TesseraClient, type TlsOptions } from '@tessera/client';
import { JobState } from '@tessera/protocol';
import { createTestCa, type CertFiles, type TestCa } from './helpers/certs.js';
import { CLI_BIN, COORDINATOR_BIN, startFarm, type Farm } from './helpers/farm.js';
import { baboonCrop } from './helpers/images.js';
import { freePort, repoRoot, spawnBin, waitFor } from './helpers/process.js';

const run = promisify(execFile);

/** Runs the `tessera` CLI; resolves to its exit status and output (never rejects). */
async function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(process.execPath, [join(repoRoot, CLI_BIN), ...args], { env: { ...process.env, ...env } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

/** The gRPC status name a first call from a client with these settings gets ('OK' if it is served). */
async function firstCall(addr: string, tls: TlsOptions | boolean | undefined, token?: string): Promise<string> {
  const c = new TesseraClient(addr, { tls, token, deadlineMs: 20_000 });
  try {
    await c.listAgents();
    return 'OK';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  } finally {
    c.close();
  }
}

let ca: TestCa;
let stranger: TestCa;
let server: CertFiles;
beforeAll(async () => {
  ca = await createTestCa('farm');
  stranger = await createTestCa('stranger');
  server = await ca.server();
});

describe('gRPC over TLS', () => {
  let farm: Farm;
  beforeAll(async () => {
    farm = await startFarm({
      agents: [{ name: 'a', vramGb: 8 }],
      coordinatorArgs: ['--tls-cert', server.certFile, '--tls-key', server.keyFile],
      tls: { rootCerts: Buffer.from(ca.cert) },
    });
  });
  afterAll(async () => farm?.close());

  it('serves clients that trust its CA: submit and status, from the library and the CLI', async () => {
    const job = await farm.client.submitUpscale({ image: await baboonCrop(0, 0, 24, 24), model: 'esrgan-slim-x2' });
    const done = await farm.client.waitForJob(job.id);
    expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
    const byFlag = await cli(['--server', farm.grpcAddr, '--tls-ca', ca.certFile, 'status', job.id, '--json']);
    expect(byFlag.stderr).toBe('');
    expect(JSON.parse(byFlag.stdout)).toMatchObject({ id: job.id, state: 'succeeded', owner: '' });
    const byEnv = await cli(['--server', farm.grpcAddr, 'status', job.id, '--json'], { TESSERA_TLS_CA: ca.certFile });
    expect(JSON.parse(byEnv.stdout).state).toBe('succeeded');
  });

  it('refuses plaintext clients and clients that trust another CA (or only the system roots)', async () => {
    expect(await firstCall(farm.grpcAddr, undefined)).toBe('UNAVAILABLE');
    expect(await firstCall(farm.grpcAddr, { rootCerts: Buffer.from(stranger.cert) })).toBe('UNAVAILABLE');
    expect(await firstCall(farm.grpcAddr, true)).toBe('UNAVAILABLE');
    const plain = await cli(['--server', farm.grpcAddr, 'agents']);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(/^tessera: UNAVAILABLE/);
    const wrongCa = await cli(['--server', farm.grpcAddr, '--tls-ca', stranger.certFile, 'agents']);
    expect(wrongCa.code).toBe(1);
    expect(wrongCa.stderr).toMatch(/^tessera: UNAVAILABLE/);
  });

  it('the CLI names an unreadable CA file as a usage error', async () => {
    const r = await cli(['--server', farm.grpcAddr, '--tls-ca', '/nonexistent/ca.pem', 'agents']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^tessera: --tls-ca: cannot read \/nonexistent\/ca\.pem/);
  });
});

describe('gRPC over mutual TLS', () => {
  let farm: Farm;
  let carol: CertFiles;
  beforeAll(async () => {
    carol = await ca.client('carol');
    farm = await startFarm({
      agents: [],
      coordinatorArgs: [
        '--tls-cert',
        server.certFile,
        '--tls-key',
        server.keyFile,
        '--tls-client-ca',
        ca.certFile,
        '--api-tokens',
        'bob:bob-token-1',
      ],
      tls: { rootCerts: Buffer.from(ca.cert), certChain: Buffer.from(carol.cert), privateKey: Buffer.from(carol.key) },
    });
  });
  afterAll(async () => farm?.close());

  it('serves a client certificate signed by its CA; its CN is the user unless a token names one', async () => {
    const image = await baboonCrop(0, 0, 16, 16);
    const job = await farm.client.submitUpscale({ image, model: 'esrgan-slim-x2' });
    expect((await farm.client.getJob(job.id)).owner).toBe('carol');

    const tls = {
      rootCerts: Buffer.from(ca.cert),
      certChain: Buffer.from(carol.cert),
      privateKey: Buffer.from(carol.key),
    };
    const asBob = new TesseraClient(farm.grpcAddr, { tls, token: 'bob-token-1' });
    const bobs = await asBob.submitUpscale({ image, model: 'esrgan-slim-x2' });
    expect(bobs.owner).toBe('bob');
    asBob.close();

    const r = await cli([
      '--server',
      farm.grpcAddr,
      '--tls-ca',
      ca.certFile,
      '--tls-cert',
      carol.certFile,
      '--tls-key',
      carol.keyFile,
      'status',
      job.id,
    ]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/\nowner {5}carol\n/);
  });

  it('refuses a client without a certificate (even with a valid token) and one from another CA', async () => {
    const rootCerts = Buffer.from(ca.cert);
    expect(await firstCall(farm.grpcAddr, { rootCerts })).toBe('UNAVAILABLE');
    expect(await firstCall(farm.grpcAddr, { rootCerts }, 'bob-token-1')).toBe('UNAVAILABLE');
    const mallory = await stranger.client('mallory');
    expect(
      await firstCall(farm.grpcAddr, {
        rootCerts,
        certChain: Buffer.from(mallory.cert),
        privateKey: Buffer.from(mallory.key),
      }),
    ).toBe('UNAVAILABLE');
    const noCert = await cli(['--server', farm.grpcAddr, '--tls-ca', ca.certFile, 'agents']);
    expect(noCert.code).toBe(1);
    expect(noCert.stderr).toMatch(/^tessera: UNAVAILABLE/);
  });

  it("a standby replica forwards to the leader over mutual TLS with the caller's identity", async () => {
    const port = await freePort();
    const tlsArgs = ['--tls-cert', server.certFile, '--tls-key', server.keyFile, '--tls-client-ca', ca.certFile];
    const standby = spawnBin(
      COORDINATOR_BIN,
      [
        '--nats',
        farm.nats.url,
        '--farm',
        farm.farmPrefix,
        '--grpc',
        `127.0.0.1:${port}`,
        '--metrics',
        '',
        '--api-tokens',
        'bob:bob-token-1',
        ...tlsArgs,
      ],
      'standby',
    );
    const tls = {
      rootCerts: Buffer.from(ca.cert),
      certChain: Buffer.from(carol.cert),
      privateKey: Buffer.from(carol.key),
    };
    const viaStandby = new TesseraClient(`127.0.0.1:${port}`, { tls });
    try {
      await waitFor(() => viaStandby.listAgents().then(() => true), 30_000, 'the standby to forward', 100);
      expect(standby.output()).not.toContain('"msg":"leadership acquired"');
      const image = await baboonCrop(0, 0, 16, 16);
      // Carol's certificate reaches the standby only; the leader learns her name from it.
      const job = await viaStandby.submitUpscale({ image, model: 'esrgan-slim-x2' });
      expect(job.owner).toBe('carol');
      expect((await farm.client.getJob(job.id)).owner).toBe('carol');
      const asBob = new TesseraClient(`127.0.0.1:${port}`, { tls, token: 'bob-token-1' });
      expect((await asBob.submitUpscale({ image, model: 'esrgan-slim-x2' })).owner).toBe('bob');
      asBob.close();
    } finally {
      viaStandby.close();
      await standby.stop('SIGKILL');
    }
  });

  it('refuses a certificate whose CN cannot be a user name, unless a token names the user', async () => {
    const odd = await ca.client('Carol Smith');
    const tls = { rootCerts: Buffer.from(ca.cert), certChain: Buffer.from(odd.cert), privateKey: Buffer.from(odd.key) };
    expect(await firstCall(farm.grpcAddr, tls)).toBe('UNAUTHENTICATED');
    expect(await firstCall(farm.grpcAddr, tls, 'bob-token-1')).toBe('OK');
  });
});

describe('TLS options of the coordinator', () => {
  it('refuse a certificate without its key, a key of another certificate, and a client CA without a certificate', async () => {
    for (const [args, message] of [
      [['--tls-cert', server.certFile], 'options tlsCert and tlsKey must be set together'],
      [['--tls-client-ca', ca.certFile], 'option tlsClientCa (mutual TLS) needs tlsCert and tlsKey'],
      [
        ['--tls-cert', server.certFile, '--tls-key', '/nonexistent/server.key'],
        'option tlsKey: cannot read /nonexistent/server.key',
      ],
      [
        ['--tls-cert', server.certFile, '--tls-key', ca.keyFile],
        `options tlsCert/tlsKey/tlsClientCa (${server.certFile}, ${ca.keyFile}): `,
      ],
    ] as const) {
      const p = spawnBin(COORDINATOR_BIN, [...args, '--metrics', '', '--grpc', '127.0.0.1:0'], 'bad-tls');
      expect(await p.exited()).toBe(1);
      expect(p.output()).toContain(`tessera-coordinator: ${message}`);
    }
  });
});
