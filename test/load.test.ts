/**
 * Issue 6 (load), CI-sized: 40 upscale jobs × 25 tiles through a real nats-server and the real
 * coordinator binary, worked by 20 lightweight agent slots in this process — the real Slot code on
 * the real NATS protocol with ZeroWorkLoadTestEngine (no inference). Nothing may be lost and every
 * shard is committed exactly once. No timing assertions: the figures live in `npm run bench -- load`.
 */
import pino from 'pino';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobState, ShardState } from '@tessera/protocol';
import { startZeroWorkLoadTestAgents, type ZeroWorkAgents } from '../services/agent/src/zero-work-engine.js';
import { startFarm, type Farm } from './helpers/farm.js';
import { parseExposition, scrape, sumOf } from './helpers/prometheus.js';

const JOBS = 40;
const GRID = 5; // 5 × 5 tiles of 16 px per job
const AGENTS = 20;

describe('load (CI size): 40 jobs × 25 shards, 20 zero-work agents', () => {
  let farm: Farm;
  let agents: ZeroWorkAgents;

  beforeAll(async () => {
    // Long leases: a slow shared CI box must not turn a late renewal into a second attempt; nor may a
    // backup of an attempt the box stalled (speculation off: every shard is leased exactly once here).
    farm = await startFarm({
      agents: [],
      coordinatorArgs: ['--lease-ms', '60000', '--agent-silence-ms', '30000', '--speculation-budget', '0'],
    });
    agents = await startZeroWorkLoadTestAgents({
      natsUrl: farm.nats.url,
      farm: farm.farmPrefix,
      count: AGENTS,
      namePrefix: 'zw',
      heartbeatMs: 250,
      waitMs: 5000,
      log: pino({ level: 'warn' }),
    });
  });

  afterAll(async () => {
    await agents?.drain();
    await farm?.close();
  });

  it('finishes every job with every shard committed exactly once and no result refused', async () => {
    const px = GRID * 16;
    const image = await sharp({
      create: { width: px, height: px, channels: 3, background: { r: 200, g: 120, b: 30 } },
    })
      .png()
      .toBuffer();
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i++) {
      const job = await farm.client.submitUpscale({
        image,
        model: 'esrgan-slim-x2',
        tile: 16,
        overlap: 10,
        name: `load-${i}`,
      });
      expect(job.shardsTotal).toBe(GRID * GRID);
      ids.push(job.id);
    }
    for (const id of ids) {
      const done = await farm.client.waitForJob(id);
      expect(done.state, `${id}: ${done.error}`).toBe(JobState.JOB_STATE_SUCCEEDED);
    }
    // Finished jobs' shard records come from the store now; each was leased once and committed.
    for (const id of ids) {
      const job = await farm.client.getJob(id);
      expect(job.shardsDone).toBe(GRID * GRID);
      expect(job.outputWidth).toBe(px * 2);
      expect(job.shards).toHaveLength(GRID * GRID);
      for (const s of job.shards) {
        expect(s.state).toBe(ShardState.SHARD_STATE_DONE);
        expect(s.attempts).toBe(1);
      }
    }
    const total = JOBS * GRID * GRID;
    const m = parseExposition(await scrape(farm.metricsUrl));
    expect(sumOf(m, 'tessera_shards_completed_total')).toBe(total);
    expect(sumOf(m, 'tessera_jobs_completed_total', { outcome: 'succeeded' })).toBe(JOBS);
    expect(sumOf(m, 'tessera_shard_results_refused_total')).toBe(0);
    expect(sumOf(m, 'tessera_shard_retries_total')).toBe(0);
    // The engine ran each shard once: no shard was computed twice.
    expect(agents.computed()).toBe(total);
  });
});
