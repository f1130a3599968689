/**
 * What a new user meets first, on the real binaries: --version on each, defaults and environment in
 * --help, a second agent on a box failing at once on a taken metrics port (before joining the farm),
 * and an agent whose NATS server is not up yet backing off instead of retrying every 500 ms.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { AGENT_BIN, CLI_BIN, COORDINATOR_BIN, startFarm } from './helpers/farm.js';
import { freePort, repoRoot, spawnBin, waitFor } from './helpers/process.js';

const run = promisify(execFile);
const bin = (file: string, ...args: string[]) => run(process.execPath, [join(repoRoot, file), ...args]);
const versionOf = (pkg: string) =>
  (JSON.parse(readFileSync(join(repoRoot, pkg, 'package.json'), 'utf8')) as { version: string }).version;

describe('first steps', () => {
  it('--version works on every binary', async () => {
    expect((await bin(CLI_BIN, '--version')).stdout.trim()).toBe(versionOf('libs/client'));
    expect((await bin(COORDINATOR_BIN, '--version')).stdout.trim()).toBe(versionOf('services/coordinator'));
    expect((await bin(AGENT_BIN, '--version')).stdout.trim()).toBe(versionOf('services/agent'));
  });

  it("--help shows the coordinator's numeric defaults and every environment variable a service reads", async () => {
    const coordinator = (await bin(COORDINATOR_BIN, '--help')).stdout.replace(/\s+/g, ' ');
    for (const shown of [
      '--lease-ms <ms> lease length; agents renew every quarter (default: 20000, env: TESSERA_LEASE_MS)',
      '(default: 10000, env: TESSERA_AGENT_SILENCE_MS)',
      '(default: 5, env: TESSERA_MAX_ATTEMPTS)',
      '(default: 67108864, env: TESSERA_MAX_INPUT_BYTES)',
      '(default: 200000, env: TESSERA_MAX_QUEUED_SHARDS)',
      '(default: 86400000, env: TESSERA_RETENTION_MS)',
      '(default: 600000, env: TESSERA_STALL_TIMEOUT_MS)',
      '(default: 3, env: TESSERA_BLOCKLIST_AFTER)',
      '(default: 0.1, env: TESSERA_SPECULATION_BUDGET)',
      'TESSERA_PROTO_DIR',
    ])
      expect(coordinator).toContain(shown);
    const agent = (await bin(AGENT_BIN, '--help')).stdout.replace(/\s+/g, ' ');
    expect(agent).toContain('(default: 2000, env: TESSERA_HEARTBEAT_MS)');
    for (const help of [coordinator, agent])
      for (const variable of [
        'TESSERA_LOG_LEVEL',
        'TESSERA_NATS_USER',
        'TESSERA_NATS_PASSWORD ',
        'TESSERA_NATS_PASSWORD_FILE',
        'TESSERA_NATS_NKEY_SEED_FILE',
      ])
        expect(help).toContain(variable);
    // Options commander cannot mark as required in help say so themselves.
    expect((await bin(CLI_BIN, 'get', '--help')).stdout).toMatch(/--output <file>\s+where to write it \(required\)/);
  });

  describe('a second agent on one box', () => {
    let taken: Server;
    let port: number;
    beforeAll(async () => {
      port = await freePort();
      taken = createServer();
      await new Promise<void>((r) => taken.listen(port, '127.0.0.1', r));
    });
    afterAll(() => new Promise<void>((r) => taken.close(() => r())));

    it('fails at once, before joining the farm, with one line naming --metrics', async () => {
      // NATS is not even reachable: had the agent tried to join first, it would be retrying.
      const p = spawnBin(
        AGENT_BIN,
        ['--nats', `nats://127.0.0.1:${await freePort()}`, '--metrics', `127.0.0.1:${port}`, '--vram-gb', '8'],
        'second',
      );
      expect(await p.exited()).toBe(1);
      const lines = p
        .output()
        .split('\n')
        .filter((l) => l.startsWith('tessera-agent:'));
      expect(lines).toEqual([
        `tessera-agent: metrics address 127.0.0.1:${port} is in use (another agent on this host?): give each agent its own --metrics HOST:PORT (TESSERA_METRICS_ADDR), or --metrics "" to disable`,
      ]);
      expect(p.output()).not.toContain('NATS not reachable');
    });
  });

  it('an agent waiting for NATS backs off: 0.5 s, 1 s, 2 s, …', async () => {
    const p = spawnBin(
      AGENT_BIN,
      ['--nats', `nats://127.0.0.1:${await freePort()}`, '--metrics', '', '--vram-gb', '8'],
      'waiting',
    );
    try {
      const retries = () =>
        p
          .output()
          .split('\n')
          .filter((l) => l.includes('NATS not reachable yet'))
          .map((l) => (JSON.parse(l) as { retryInMs: number; attempt: number }).retryInMs);
      await waitFor(() => retries().length >= 3, 30_000, 'three connection attempts');
      expect(retries().slice(0, 3)).toEqual([500, 1000, 2000]);
    } finally {
      await p.stop('SIGKILL');
    }
  });

  it('a job whose model no agent holds fails naming the cause, not only the blocklist', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'tessera-no-models-'));
    const farm = await startFarm({
      agents: [{ name: 'bare', vramGb: 8 }],
      agentArgs: ['--models', empty],
      coordinatorArgs: ['--retry-backoff-ms', '0'],
    });
    try {
      // With the farm's model store, the submission itself is refused, naming the model and the fix;
      // a job that still reaches agents lacking the files fails with their error (failure-messages.ts).
      await expect(
        farm.client.submitImage({ model: 'sd15', prompt: 'a baboon', seed: 1, steps: 2 }),
      ).rejects.toMatchObject({
        code: 'FAILED_PRECONDITION',
        message: expect.stringContaining("model sd15 is in no agent's model cache and not in the farm's model store"),
      });
    } finally {
      await farm.close();
    }
  });
});
