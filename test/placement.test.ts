/**
 * Issue 2 point 5: VRAM-class placement with a hardware table that makes the upscaler need 8 GB,
 * agents of 6, 8 and 24 GB, against the real binaries.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { JobState, ShardState } from '@tessera/protocol';
import { CLI_BIN, startFarm, type Farm } from './helpers/farm.js';
import { startNats, type TestNats } from './helpers/nats-server.js';
import { repoRoot, waitFor } from './helpers/process.js';
import { baboonCrop } from './helpers/images.js';

const run = promisify(execFile);
const classGb = (label: string) => (label === 'cpu' ? 0 : Number(label.replace('gb', '')));

/** The bundled table with esrgan-slim-x4 needing 8 GB. */
function tableNeeding8Gb(): string {
  const doc = parse(readFileSync(join(repoRoot, 'libs/hardware/hardware-table.yaml'), 'utf8'));
  const row = doc.models.find((m: { id: string }) => m.id === 'esrgan-slim-x4');
  row.min_vram_gb = 8;
  const file = join(mkdtempSync(join(tmpdir(), 'tessera-table-')), 'table.yaml');
  writeFileSync(file, stringify(doc));
  return file;
}

describe('placement by VRAM class', () => {
  let nats: TestNats;
  let table: string;
  let image: Buffer;

  beforeAll(async () => {
    nats = await startNats();
    table = tableNeeding8Gb();
    image = await baboonCrop(0, 0, 128, 128);
  });
  afterAll(async () => {
    await nats?.stop();
  });

  describe('with agents of 6, 8 and 24 GB', () => {
    let farm: Farm;
    beforeAll(async () => {
      farm = await startFarm({
        nats,
        hardwareTable: table,
        agents: [
          { name: 'a6', vramGb: 6 },
          { name: 'a8', vramGb: 8 },
          { name: 'a24', vramGb: 24 },
        ],
      });
    });
    afterAll(async () => farm?.close());

    it('prefers the 8 GB agent while it is free', async () => {
      // One tile: both the 8 and the 24 GB agent wait for work; best fit is the 8 GB one.
      const job = await farm.client.submitUpscale({ image, model: 'esrgan-slim-x4', tile: 128, overlap: 12 });
      const done = await farm.client.waitForJob(job.id);
      expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
      const full = await farm.client.getJob(job.id);
      expect(full.shards.map((s) => [s.agent, s.agentVramClass, s.requiredVramClass])).toEqual([['a8', '8gb', '8gb']]);
    });

    it('never gives the 6 GB agent a shard; the 24 GB agent takes work while the 8 GB one is busy', async () => {
      const job = await farm.client.submitUpscale({ image, model: 'esrgan-slim-x4', tile: 32, overlap: 12 });
      const done = await farm.client.waitForJob(job.id);
      expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
      const full = await farm.client.getJob(job.id);
      expect(full.shards).toHaveLength(16);
      const ranOn = new Set(full.shards.map((s) => s.agent));
      expect(ranOn.has('a6')).toBe(false);
      expect(ranOn).toEqual(new Set(['a8', 'a24']));
      for (const s of full.shards) {
        expect(classGb(s.agentVramClass)).toBeGreaterThanOrEqual(classGb(s.requiredVramClass));
      }
    });
  });

  it('keeps a job queued with the reason visible while no agent fits, and runs it when one joins', async () => {
    const farm = await startFarm({ nats, hardwareTable: table, agents: [{ name: 'small', vramGb: 6 }] });
    try {
      const job = await farm.client.submitUpscale({ image, model: 'esrgan-slim-x4', tile: 64, overlap: 12 });
      const waiting = await waitFor(
        async () => {
          const j = await farm.client.getJob(job.id);
          return j.waitingReason ? j : undefined;
        },
        10_000,
        'a waiting reason',
      );
      expect(waiting.state).toBe(JobState.JOB_STATE_QUEUED);
      expect(waiting.waitingReason).toBe('no agent of VRAM class 8gb or larger is connected (fleet: 6gb)');
      expect(waiting.shards.every((s) => s.state === ShardState.SHARD_STATE_QUEUED && s.attempts === 0)).toBe(true);
      const { stdout } = await run(process.execPath, [
        join(repoRoot, CLI_BIN),
        '--server',
        farm.grpcAddr,
        'status',
        job.id,
        '--json',
      ]);
      const st = JSON.parse(stdout);
      expect(st.state).toBe('queued');
      expect(st.waitingReason).toContain('8gb');
      expect(st.shards.every((s: { requiredVramClass: string }) => s.requiredVramClass === '8gb')).toBe(true);

      // Its output is not there yet: FAILED_PRECONDITION, saying why.
      await expect(
        (async () => {
          for await (const _ of farm.client.jobOutput(job.id)) void _;
        })(),
      ).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });

      await farm.startAgent({ name: 'big', vramGb: 24 });
      const done = await farm.client.waitForJob(job.id);
      expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
      const full = await farm.client.getJob(job.id);
      expect(new Set(full.shards.map((s) => s.agent))).toEqual(new Set(['big']));
      expect(full.waitingReason).toBe('');
    } finally {
      await farm.close();
    }
  });
});
