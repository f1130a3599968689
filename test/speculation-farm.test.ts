/**
 * Issue 12, speculative backups, against the real binaries: a tiled upscale on a fast agent and a
 * very slow one (the same binary held back by the test-only engine slowdown). The slow agent takes a
 * tile in the first dispatch pass (both wait for work when the job arrives) and would hold the job
 * up long after the fast one has run the rest; the idle fast agent backs that tile up, the first
 * commit wins and the other attempt is cancelled. No timing window is relied on: the slowdown (×60)
 * leaves the slow tile running long after the fast agent's whole share, however loaded the box is.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobState, ShardState } from '@tessera/protocol';
import { startFarm, type Farm } from './helpers/farm.js';
import { baboonCrop } from './helpers/images.js';
import { startNats, type TestNats } from './helpers/nats-server.js';
import { waitFor } from './helpers/process.js';
import { metricValue } from './helpers/prometheus.js';

const dir = mkdtempSync(join(tmpdir(), 'tessera-spec-'));
const SPEC = 'tessera_speculative_attempts_total';

/** Runs the tiled upscale on `farm`: the job as finished and its output's SHA-256. */
async function upscale(farm: Farm, image: Buffer) {
  const job = await farm.client.submitUpscale({ image, model: 'esrgan-slim-x4', tile: 32, overlap: 12, seed: 7 });
  const done = await farm.client.waitForJob(job.id);
  expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
  const file = join(dir, `${job.id}.png`);
  await farm.client.downloadOutput(job.id, file);
  const sha = createHash('sha256').update(readFileSync(file)).digest('hex');
  return { job: await farm.client.getJob(job.id), sha };
}

/** A fast agent and a very slow one (×60, the test-only engine slowdown); `logs` collects each process's output. */
async function twoSpeedFarm(nats: TestNats, logs: Map<string, string>): Promise<Farm> {
  const farm = await startFarm({
    nats,
    // The default budget (10 % of the job's GPU-seconds) pays for one tile's backup.
    onOutput: (name, text) => logs.set(name, (logs.get(name) ?? '') + text),
    agents: [
      { name: 'fast', vramGb: 8 },
      { name: 'slow', vramGb: 8, env: { TESSERA_TEST_ENGINE_SLOWDOWN: '60' } },
    ],
  });
  // Both agents wait for work before the job arrives: the first dispatch pass gives each a tile.
  await waitFor(
    async () => (await farm.client.listAgents({ includeLost: false })).length === 2,
    20_000,
    'two agents registered',
  );
  await new Promise((r) => setTimeout(r, 1000));
  return farm;
}

describe('speculative backups of stragglers (real processes)', () => {
  let nats: TestNats;
  let image: Buffer;
  let single: Awaited<ReturnType<typeof upscale>>;

  beforeAll(async () => {
    nats = await startNats();
    image = await baboonCrop(0, 0, 128, 128);
    const solo = await startFarm({ nats, agents: [{ name: 'solo', vramGb: 8 }] });
    try {
      single = await upscale(solo, image);
    } finally {
      await solo.close();
    }
  });
  afterAll(async () => {
    await nats?.stop();
  });

  it('backs up the slow agent’s tile on the idle fast agent: same bytes, each shard committed once', async () => {
    const tiles = single.job.shards.length;
    expect(tiles).toBeGreaterThanOrEqual(6);
    const logs = new Map<string, string>();
    const farm = await twoSpeedFarm(nats, logs);
    try {
      const { job, sha } = await upscale(farm, image);
      expect(sha).toBe(single.sha);
      expect(job.shards).toHaveLength(tiles);
      expect(job.shards.every((s) => s.state === ShardState.SHARD_STATE_DONE)).toBe(true);
      const won = await metricValue(farm.metricsUrl, SPEC, { outcome: 'won' });
      const lost = await metricValue(farm.metricsUrl, SPEC, { outcome: 'lost' });
      expect(won + lost).toBeGreaterThanOrEqual(1);
      // Every shard committed exactly once, whichever attempt won.
      expect(await metricValue(farm.metricsUrl, 'tessera_shards_completed_total')).toBe(tiles);
      // The losing attempt's agent abandons it (told by the attempt cancel notice, or at the latest by
      // its next lease renewal) instead of running it to the end.
      const loser = won > 0 ? 'slow' : 'fast';
      await waitFor(
        async () => (logs.get(loser) ?? '').includes('shard abandoned'),
        20_000,
        `${loser} to abandon its attempt`,
      );
      // A backup carries its own fencing token: the tile it won shows the fast agent and a later attempt.
      if (won > 0) {
        const backedUp = job.shards.filter((s) => s.attempts >= 2);
        expect(backedUp.length).toBeGreaterThanOrEqual(1);
        expect(backedUp.every((s) => s.agent === 'fast')).toBe(true);
      }
    } finally {
      await farm.close();
    }
  });

  it('a coordinator killed once a backup is granted reloads it: the job completes with the same bytes', async () => {
    const logs = new Map<string, string>();
    const farm = await twoSpeedFarm(nats, logs);
    try {
      const submitted = await farm.client.submitUpscale({
        image,
        model: 'esrgan-slim-x4',
        tile: 32,
        overlap: 12,
        seed: 7,
      });
      await waitFor(
        async () => (logs.get('coordinator') ?? '').includes('straggler backed up'),
        60_000,
        'a backup to be granted',
      );
      await farm.restartCoordinator();
      const done = await farm.client.waitForJob(submitted.id);
      expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
      const file = join(dir, `${submitted.id}.png`);
      await farm.client.downloadOutput(submitted.id, file);
      expect(createHash('sha256').update(readFileSync(file)).digest('hex')).toBe(single.sha);
      const job = await farm.client.getJob(submitted.id);
      expect(job.shards).toHaveLength(single.job.shards.length);
      expect(job.shards.every((s) => s.state === ShardState.SHARD_STATE_DONE)).toBe(true);
    } finally {
      await farm.close();
    }
  });
});
