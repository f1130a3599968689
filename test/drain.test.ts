/**
 * SIGTERM drains an agent: it finishes and reports the shard it holds, takes no new work, and
 * exits 0; nothing is lost and nothing runs twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { JobState, ShardState } from '@tessera/protocol';
import { startFarm, type Farm } from './helpers/farm.js';
import { waitFor } from './helpers/process.js';
import { baboonPng } from './helpers/images.js';

describe('agent drain on SIGTERM', () => {
  let farm: Farm;
  beforeAll(async () => {
    farm = await startFarm({ agents: [{ name: 'leaving', vramGb: 8 }] });
  });
  afterAll(async () => farm?.close());

  it('finishes and commits the shard it holds, exits 0, and the job completes on another agent', async () => {
    const image = await sharp(baboonPng()).resize(384, 384, { kernel: 'lanczos3' }).png().toBuffer();
    const job = await farm.client.submitUpscale({ image, model: 'esrgan-slim-x2', tile: 96, overlap: 12 });
    const held = await waitFor(
      async () => (await farm.client.getJob(job.id)).shards.find((s) => s.state === ShardState.SHARD_STATE_LEASED),
      30_000,
      'a leased shard',
      10,
    );
    const agent = farm.agents.get('leaving')!;
    agent.child.kill('SIGTERM');
    expect(await agent.exited()).toBe(0);
    const mid = await farm.client.getJob(job.id);
    const finished = mid.shards[held.index];
    expect(finished.state).toBe(ShardState.SHARD_STATE_DONE);
    expect(finished.attempts).toBe(held.attempts);
    expect(finished.agent).toBe('leaving');
    expect(mid.state).not.toBe(JobState.JOB_STATE_SUCCEEDED);
    expect(agent.output()).toContain('draining');

    await farm.startAgent({ name: 'arriving', vramGb: 8 });
    const done = await farm.client.waitForJob(job.id);
    expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
    const full = await farm.client.getJob(job.id);
    // Each shard ran exactly once: no lease was lost or repeated.
    expect(full.shards.every((s) => s.attempts === 1)).toBe(true);
    expect(new Set(full.shards.map((s) => s.agent))).toEqual(new Set(['leaving', 'arriving']));
  });
});
