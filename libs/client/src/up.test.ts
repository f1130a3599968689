import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tessera } from '../fixtures/cli.js';
import type { Job } from '@tessera/protocol';
import { shardPlacement } from './cli/up.js';
import { describeExit } from './up/child.js';
import { baboonPng, decodeDataUri, demoOutputName } from './up/demo.js';
import { agentVramGb } from './up/farm.js';
import { freePort, portIsFree } from './up/ports.js';
import { findExecutable, findNatsServer } from './up/which.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
const PNG_MAGIC = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

describe('up helpers', () => {
  it('agents advertise 6, 8, 24 GB, then repeat', () => {
    expect([0, 1, 2, 3, 4].map(agentVramGb)).toEqual([6, 8, 24, 6, 8]);
  });

  it('names the demo output after the input and the model scale', () => {
    expect(demoOutputName(undefined, 'esrgan-slim-x4')).toBe('baboon-x4.png');
    expect(demoOutputName('/a/b/cat.jpg', 'esrgan-slim-x2', 'image/webp')).toBe('cat-x2.webp');
    expect(demoOutputName(undefined, 'weird', 'application/x')).toBe('baboon-weird.png');
  });

  it('decodes data URIs; the baboon is a 128x128 PNG', () => {
    expect(decodeDataUri('data:text/plain;base64,aGk=')).toEqual({ mime: 'text/plain', data: Buffer.from('hi') });
    expect(() => decodeDataUri('http://x')).toThrow('data: URI');
    const png = baboonPng();
    expect([...png.subarray(0, 8)]).toEqual(PNG_MAGIC);
    expect(png.readUInt32BE(16)).toBe(128);
    expect(png.readUInt32BE(20)).toBe(128);
  });

  it('finds nats-server on PATH first, then in the fallback directories (Debian: /usr/sbin)', async () => {
    const root = await mkdtemp(join(tmpdir(), 'tessera-which-'));
    const [onPath, sbin, empty] = ['bin', 'sbin', 'empty'].map((d) => join(root, d));
    for (const d of [onPath, sbin, empty]) await mkdir(d);
    for (const d of [onPath, sbin]) {
      await writeFile(join(d, 'nats-server'), '#!/bin/sh\n');
      await chmod(join(d, 'nats-server'), 0o755);
    }
    expect(findNatsServer(onPath, [sbin])).toBe(join(onPath, 'nats-server'));
    expect(findNatsServer(empty, [empty, sbin])).toBe(join(sbin, 'nats-server'));
    expect(findNatsServer(empty, [empty])).toBeNull();
    await rm(root, { recursive: true, force: true });
  });

  it('finds a free port and sees a taken one', async () => {
    const port = await freePort();
    expect(port).toBeGreaterThan(0);
    const srv = createServer().listen(port, '127.0.0.1');
    await new Promise((r) => srv.once('listening', r));
    expect(await portIsFree(port)).toBe(false);
    await new Promise((r) => srv.close(r));
  });

  it('looks executables up on PATH', () => {
    expect(findExecutable('node', `/nonexistent:${join(process.execPath, '..')}`)).toBe(process.execPath);
    expect(findExecutable('definitely-not-a-binary-xyz')).toBeNull();
  });

  it('lists which agent ran each shard', () => {
    const shards = [0, 1].map((index) => ({
      index,
      agent: `local-${index + 1}`,
      agentVramClass: `${6 + 2 * index}gb`,
    }));
    expect(shardPlacement({ shards } as unknown as Job)).toBe('0:local-1(6gb) 1:local-2(8gb)');
  });

  it('describes child exits', () => {
    expect(describeExit({ code: 3, signal: null })).toBe('exited with code 3');
    expect(describeExit({ code: null, signal: 'SIGSEGV' })).toBe('was killed by SIGSEGV');
    expect(describeExit({ code: null, signal: null, error: new Error('spawn x ENOENT') })).toBe(
      'could not start: spawn x ENOENT',
    );
  });
});

describe('tessera up with fake services', () => {
  let dir: string;
  const hasNats = findExecutable('nats-server') !== null;
  const fakes = ['--coordinator-bin', fixture('fake-coordinator.mjs'), '--agent-bin', fixture('fake-agent.mjs')];
  beforeAll(async () => (dir = await mkdtemp(join(tmpdir(), 'tessera-up-'))));
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('starts the farm, writes the demo output, prints where everything is, and stops cleanly', async () => {
    const out = join(dir, 'ok');
    const grpc = await freePort();
    const nats = hasNats ? [] : ['--nats', 'nats://127.0.0.1:4222'];
    const r = await tessera(['up', '--agents', '4', '--out', out, '--grpc', String(grpc), ...nats, ...fakes], {
      FAKE_AGENTS: '4',
    });
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.code).toBe(0);
    // The fake coordinator streams the input back as the output: the file is the baboon PNG.
    expect(await readFile(join(out, 'baboon-x4.png'))).toEqual(baboonPng());
    expect(r.stdout).toMatch(/^output {2}\S*baboon-x4\.png \(512x512, /m);
    expect(r.stdout).toContain('job job-1 succeeded');
    expect(r.stdout).toMatch(
      new RegExp(`coordinator\\s+127\\.0\\.0\\.1:${grpc}\\s+http://127\\.0\\.0\\.1:\\d+/metrics`),
    );
    // The NATS URL another agent attaches to.
    expect(r.stdout).toMatch(/^nats\s+nats:\/\/127\.0\.0\.1:\d+\s*$/m);
    expect(r.stdout).toMatch(/agent local-1\s+6 GB\s+class 6gb\s+http:\/\/127\.0\.0\.1:\d+\/metrics/);
    expect(r.stdout).toMatch(/agent local-3\s+24 GB\s+class 24gb/);
    expect(r.stdout).toMatch(/agent local-4\s+6 GB\s+class 6gb/);
    const logs = (await readdir(join(out, 'logs'))).sort();
    const expected = [
      'agent-local-1.log',
      'agent-local-2.log',
      'agent-local-3.log',
      'agent-local-4.log',
      'coordinator.log',
    ];
    expect(logs).toEqual(hasNats ? [...expected, 'nats-server.log'] : expected);
    const coordinatorLog = await readFile(join(out, 'logs', 'coordinator.log'), 'utf8');
    expect(coordinatorLog).toMatch(
      /--nats nats:\/\/127\.0\.0\.1:\d+ --grpc 127\.0\.0\.1:\d+ --metrics 127\.0\.0\.1:\d+/,
    );
    expect(coordinatorLog).toContain('fake coordinator: SIGTERM');
    const agentLog = await readFile(join(out, 'logs', 'agent-local-2.log'), 'utf8');
    expect(agentLog).toMatch(/--vram-gb 8 --name local-2 --metrics 127\.0\.0\.1:\d+/);
    expect(agentLog).toContain('fake agent: SIGTERM');
  });

  it('a child that exits early fails the run with its log tail', async () => {
    const r = await tessera(['up', '--out', join(dir, 'crash'), '--nats', 'nats://127.0.0.1:4222', ...fakes], {
      FAKE_COORDINATOR_EXIT: '3',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('tessera up: coordinator exited with code 3; last lines of');
    expect(r.stderr).toContain('fake coordinator: failing on purpose');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('--keep serves until SIGINT, then stops the children and exits 0', async () => {
    const out = join(dir, 'keep');
    const bin = fileURLToPath(new URL('../bin/tessera.js', import.meta.url));
    const args = [bin, 'up', '--keep', '--agents', '1', '--out', out, '--nats', 'nats://127.0.0.1:4222', ...fakes];
    const child = spawn(process.execPath, args, { env: { ...process.env, FAKE_AGENTS: '1' } });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await expect.poll(() => stderr, { timeout: 30_000 }).toContain('Ctrl-C stops the farm');
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(stderr).toContain('tessera up: stopping the farm');
    expect(await readFile(join(out, 'logs', 'coordinator.log'), 'utf8')).toContain('fake coordinator: SIGTERM');
    expect(await readFile(join(out, 'logs', 'agent-local-1.log'), 'utf8')).toContain('fake agent: SIGTERM');
  });

  it.skipIf(!existsSync('/usr/sbin/nats-server'))(
    "finds Debian's /usr/sbin/nats-server with a non-root user's PATH (no sbin)",
    async () => {
      const out = join(dir, 'sbin');
      const r = await tessera(['up', '--agents', '1', '--out', out, ...fakes], {
        FAKE_AGENTS: '1',
        PATH: '/usr/bin:/bin',
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/tessera up: NATS at nats:\/\/127\.0\.0\.1:\d+; coordinator at/);
      expect(await readdir(join(out, 'logs'))).toContain('nats-server.log');
    },
  );

  it('without nats-server it says how to install it', async () => {
    const r = await tessera([
      'up',
      '--out',
      join(dir, 'nonats'),
      '--nats-server',
      '/nonexistent/nats-server',
      ...fakes,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^tessera: nats-server \/nonexistent\/nats-server \(--nats-server\) is not an executable file\. Install it \(Debian\/Ubuntu: `apt-get install nats-server`, macOS: `brew install nats-server`\), name it with --nats-server FILE, or point at .* --nats URL/,
    );
  });
});
