/**
 * DESIGN §9: restarting the coordinator and restarting NATS (file store) in the middle of a job
 * each leave it completing with the same output, nothing lost and nothing committed twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { JobState, ShardState } from '@tessera/protocol';
import { jobRgb, startFarm, type Farm } from './helpers/farm.js';
import { startNats, type TestNats } from './helpers/nats-server.js';
import { waitFor } from './helpers/process.js';
import { baboonPng } from './helpers/images.js';
import { metricValue } from './helpers/prometheus.js';

describe('restarts mid-job', () => {
  let nats: TestNats;
  let image: Buffer;
  let reference: Buffer;
  const job = { model: 'esrgan-slim-x2', tile: 96, overlap: 12 };

  beforeAll(async () => {
    nats = await startNats();
    image = await sharp(baboonPng()).resize(384, 384, { kernel: 'lanczos3' }).png().toBuffer();
    const farm = await startFarm({ nats, agents: [{ name: 'ref', vramGb: 8 }] });
    try {
      const j = await farm.client.submitUpscale({ image, ...job });
      expect((await farm.client.waitForJob(j.id)).state).toBe(JobState.JOB_STATE_SUCCEEDED);
      reference = await jobRgb(farm.client, j.id);
    } finally {
      await farm.close();
    }
  });
  afterAll(async () => nats?.stop());

  /** Waits until some shards are done and at least one is leased. */
  const midJob = (farm: Farm, id: string) =>
    waitFor(
      async () => {
        const j = await farm.client.getJob(id);
        const done = j.shards.filter((s) => s.state === ShardState.SHARD_STATE_DONE).length;
        return (
          done >= 2 && done < j.shards.length - 2 && j.shards.some((s) => s.state === ShardState.SHARD_STATE_LEASED)
        );
      },
      60_000,
      'the job to be part done',
      20,
    );

  it('coordinator killed (SIGKILL) and restarted: the job resumes from JetStream and finishes with the same bytes', async () => {
    const farm = await startFarm({
      nats,
      agents: [
        { name: 'r1', vramGb: 8 },
        { name: 'r2', vramGb: 24 },
      ],
    });
    try {
      const j = await farm.client.submitUpscale({ image, ...job });
      await midJob(farm, j.id);
      const before = await farm.client.getJob(j.id);
      await farm.restartCoordinator();
      const done = await farm.client.waitForJob(j.id);
      expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
      const after = await farm.client.getJob(j.id);
      // Shards committed before the restart were kept, not run again.
      for (const s of before.shards.filter((x) => x.state === ShardState.SHARD_STATE_DONE)) {
        expect(after.shards[s.index].attempts).toBe(s.attempts);
        expect(after.shards[s.index].agent).toBe(s.agent);
      }
      expect(after.shards.every((s) => s.state === ShardState.SHARD_STATE_DONE)).toBe(true);
      expect(Buffer.compare(await jobRgb(farm.client, j.id), reference)).toBe(0);
      // The restarted coordinator still serves new work.
      const small = await sharp(baboonPng()).resize(64, 64).png().toBuffer();
      const next = await farm.client.submitUpscale({ image: small, model: 'esrgan-slim-x2' });
      expect((await farm.client.waitForJob(next.id)).state).toBe(JobState.JOB_STATE_SUCCEEDED);
    } finally {
      await farm.close();
    }
  });

  it('nats-server killed and restarted on its file store: the job finishes with the same bytes', async () => {
    const own = await startNats();
    if (!own.owned) return; // NATS_URL: a shared server cannot be restarted by a test
    const farm = await startFarm({
      nats: own,
      agents: [
        { name: 'n1', vramGb: 8 },
        { name: 'n2', vramGb: 24 },
      ],
    });
    try {
      const j = await farm.client.submitUpscale({ image, ...job });
      await midJob(farm, j.id);
      await own.kill();
      await new Promise((r) => setTimeout(r, 1000));
      await own.restart();
      const done = await farm.client.waitForJob(j.id);
      expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
      const after = await farm.client.getJob(j.id);
      expect(after.shards.every((s) => s.state === ShardState.SHARD_STATE_DONE)).toBe(true);
      expect(Buffer.compare(await jobRgb(farm.client, j.id), reference)).toBe(0);
      expect(await metricValue(farm.metricsUrl, 'tessera_nats_reconnects_total')).toBeGreaterThanOrEqual(1);
    } finally {
      await farm.close();
      await own.stop();
    }
  });
});
