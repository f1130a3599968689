import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error plain-JS test fixture without types
import { startFakeServer } from '../fixtures/fake-server.mjs';
import { tessera } from '../fixtures/cli.js';

const COMMANDS = ['submit', 'status', 'watch', 'get', 'cancel', 'jobs', 'agents', 'up', 'plan'];

describe.concurrent('tessera usage', () => {
  it('--help lists every command and the global options', async () => {
    const r = await tessera(['--help']);
    expect(r.code).toBe(0);
    for (const c of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
    expect(r.stdout).toContain('--server <host:port>');
    expect(r.stdout).toContain('TESSERA_SERVER');
    const sub = await tessera(['submit', 'upscale', '--help']);
    for (const f of [
      '--input',
      '--model',
      '--tile',
      '--overlap',
      '--seed',
      '--priority',
      '--name',
      '--wait',
      '--output',
      '--json',
    ]) {
      expect(sub.stdout).toContain(f);
    }
  });

  it.each([
    [[], /Usage: tessera/],
    [['bogus'], /tessera: unknown command 'bogus'/],
    [['status'], /tessera: missing required argument 'job'/],
    [['submit'], /Usage: tessera submit/],
    [['submit', 'upscale', '--model', 'esrgan-slim-x4'], /tessera: required option '--input <img>' not specified/],
    [['submit', 'upscale', '--input', 'x', '--model', 'm', '--tile', 'big'], /--tile <px>' argument 'big' is invalid/],
    [
      ['submit', 'upscale', '--input', '/no/such.png', '--model', 'm'],
      /tessera: cannot read --input "\/no\/such.png": ENOENT/,
    ],
    [['get', 'j-1'], /tessera: required option '--output <file>' not specified/],
    [['jobs', '--limit', '0'], /--limit <n>' argument '0' is invalid/],
    [['--server', 'nohost', 'jobs'], /--server <host:port>' argument 'nohost' is invalid/],
    [['status', 'j', '--frobnicate'], /tessera: unknown option '--frobnicate'/],
    [['up', '--agents', 'x'], /--agents <n>' argument 'x' is invalid/],
  ])('tessera %j exits 2 with a message', async (args, message) => {
    const r = await tessera(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('reads flags from the environment', async () => {
    const r = await tessera(['submit', 'upscale', '--model', 'm'], { TESSERA_TILE: 'zz', TESSERA_INPUT: 'x' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`value 'zz' from env 'TESSERA_TILE' is invalid`);
  });
});

describe('tessera against a fake coordinator', () => {
  let fake: Awaited<ReturnType<typeof startFakeServer>>;
  let dir: string;
  beforeAll(async () => {
    fake = await startFakeServer();
    dir = await mkdtemp(join(tmpdir(), 'tessera-cli-'));
  });
  afterAll(async () => {
    fake.forceStop();
    await rm(dir, { recursive: true, force: true });
  });

  it('status --json prints the documented schema', async () => {
    const r = await tessera(['--server', fake.address, 'status', 'job-1', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ id: 'job-1', kind: 'upscale', state: 'succeeded', shardsTotal: 4, shardsDone: 4 });
    expect(j.shards[1]).toEqual({
      index: 1,
      stage: 'upscale',
      state: 'done',
      attempts: 1,
      agent: 'local-2',
      agentVramClass: '8gb',
      requiredVramClass: 'cpu',
      region: { x: 256, y: 0, width: 256, height: 256 },
      reason: '',
      runSeconds: 0.5,
      firstFrame: 0,
      frameCount: 0,
      dependsOn: -1,
      decodeChunk: 0,
      backupAgent: '',
      backupAttempt: 0,
    });
  });

  it('a server error is one line, CODE: details, exit 1', async () => {
    const input = join(dir, 'in.png');
    await writeFile(input, 'png');
    const r = await tessera(['submit', 'upscale', '--input', input, '--model', 'foo'], {
      TESSERA_SERVER: fake.address,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'tessera: INVALID_ARGUMENT: upscale.model: unknown model "foo" (known: esrgan-slim-x2, esrgan-slim-x4)\n',
    );
    const missing = await tessera(['--server', fake.address, 'status', 'nope']);
    expect(missing).toMatchObject({ code: 1, stderr: 'tessera: NOT_FOUND: job nope not found\n' });
  });

  it('an unreachable server names the address', async () => {
    const r = await tessera(['--server', '127.0.0.1:1', 'jobs']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tessera: UNAVAILABLE: .*is a coordinator serving 127\.0\.0\.1:1\?/);
  });

  it('submit prints the id; --wait --output downloads the result', async () => {
    const input = join(dir, 'in.png');
    await writeFile(input, 'pretend png');
    const plain = await tessera([
      '--server',
      fake.address,
      'submit',
      'upscale',
      '--input',
      input,
      '--model',
      'esrgan-slim-x4',
    ]);
    expect(plain).toMatchObject({ code: 0, stdout: 'job-1\n' });
    const out = join(dir, 'o', 'result.png');
    const waited = await tessera([
      '--server',
      fake.address,
      'submit',
      'upscale',
      '--input',
      input,
      '--model',
      'esrgan-slim-x4',
      '--wait',
      '--output',
      out,
    ]);
    expect(waited.code).toBe(0);
    expect(waited.stdout).toBe('job-1\n');
    expect(waited.stderr).toContain('job job-1 succeeded (4/4 shards, 10.0 s)');
    expect(waited.stderr).toContain(`wrote ${out}`);
    expect(await readFile(out, 'utf8')).toBe('pretend png');
  });

  it('watch --json prints one event per line', async () => {
    const r = await tessera(['--server', fake.address, 'watch', 'job-1', '--json']);
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.event)).toEqual(['snapshot', 'shard', 'shard', 'shard', 'shard', 'job']);
    expect(lines.at(-1).job.state).toBe('succeeded');
    expect(lines[1].shard.index).toBe(0);
  });

  it('jobs, agents, cancel and get', async () => {
    const jobs = await tessera(['--server', fake.address, 'jobs', '--json', '--limit', '3']);
    expect(JSON.parse(jobs.stdout)[0].id).toBe('job-1');
    const agents = await tessera(['--server', fake.address, 'agents', '--json']);
    const list = JSON.parse(agents.stdout);
    expect(Object.keys(list[0])).toEqual([
      'id',
      'name',
      'hostname',
      'deviceIndex',
      'deviceName',
      'vramGb',
      'usableVramGb',
      'vramClass',
      'state',
      'executionProvider',
      'modelsLoaded',
      'lastSeen',
      'shardsCompleted',
      'currentShard',
    ]);
    expect(list.map((a: { vramGb: number }) => a.vramGb)).toEqual([6, 8, 24]);
    expect((await tessera(['--server', fake.address, 'agents'])).stdout).toMatch(/^AGENT\s+HOST/);
    expect((await tessera(['--server', fake.address, 'cancel', 'job-1'])).stdout).toBe('job job-1 cancelled\n');
    const got = await tessera(['--server', fake.address, 'get', 'job-1', '--output', join(dir, 'got.bin')]);
    expect(got.code).toBe(0);
    expect(got.stdout).toMatch(/^wrote .*got\.bin \(\d+ B, sha256 [0-9a-f]{64}\)\n$/);
  });
});
