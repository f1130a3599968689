/**
 * Shard timeouts (three per shard kind: start, runtime, no progress): a lease its agent never
 * confirms, a shard that runs past the maximum runtime, or one whose engine progress stalls, is
 * taken back (its agent is told at the next renewal and stops); after max attempts the job fails
 * with the reason.
 */
import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { connect } from '@nats-io/transport-node';
import { AgentState, JobState, WorkGrant, WorkRequest, farmNames, type AgentAdvert } from '@tessera/protocol';
import { startFarm } from './helpers/farm.js';
import { baboonPng } from './helpers/images.js';
import { metricValue } from './helpers/prometheus.js';

describe('shard timeouts', () => {
  for (const [args, reason, message] of [
    [['--max-shard-runtime-ms', '300'], 'timeout_runtime', /ran longer than the maximum of 0.3 s/],
    [['--stall-timeout-ms', '300'], 'timeout_no_progress', /made no progress for 0.3 s/],
    // Per shard kind: the tile kind's own runtime limit applies, other kinds' do not.
    [
      ['--shard-timeouts', 'upscale_tile.runtime=300ms,svd_batch.stall=1h'],
      'timeout_runtime',
      /ran longer than the maximum of 0.3 s/,
    ],
  ] as const) {
    it(`${args.join(' ')}: the shard is taken back and the job fails after max attempts, saying why`, async () => {
      const farm = await startFarm({
        agents: [{ name: 'slow', vramGb: 8 }],
        coordinatorArgs: [...args, '--max-attempts', '2'],
      });
      try {
        // One 384×384 tile at ×4 keeps a 1-thread agent busy for well over 0.3 s.
        const image = await sharp(baboonPng()).resize(384, 384).png().toBuffer();
        const job = await farm.client.submitUpscale({ image, model: 'esrgan-slim-x4', tile: 384, overlap: 16 });
        const done = await farm.client.waitForJob(job.id);
        expect(done.state).toBe(JobState.JOB_STATE_FAILED);
        expect(done.error).toMatch(message);
        expect(await metricValue(farm.metricsUrl, 'tessera_shard_retries_total', { reason })).toBeGreaterThanOrEqual(1);
        // The agent was told its lease was gone and abandoned the engine run.
        expect(farm.agents.get('slow')!.output()).toContain('lease lost; stopping the shard');
      } finally {
        await farm.close();
      }
    });
  }

  it("another kind's timeouts leave a tile alone: the same job succeeds", async () => {
    const farm = await startFarm({
      agents: [{ name: 'slow', vramGb: 8 }],
      coordinatorArgs: ['--shard-timeouts', 'svd_batch.runtime=300ms,sd_stage.stall=300ms', '--max-attempts', '1'],
    });
    try {
      const image = await sharp(baboonPng()).resize(384, 384).png().toBuffer();
      const job = await farm.client.submitUpscale({ image, model: 'esrgan-slim-x4', tile: 384, overlap: 16 });
      const done = await farm.client.waitForJob(job.id);
      expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
    } finally {
      await farm.close();
    }
  });

  it('--start-timeout-ms: a lease its agent never confirms is taken back and runs on another agent', async () => {
    const farm = await startFarm({ agents: [], coordinatorArgs: ['--start-timeout-ms', '300'] });
    const nc = await connect({ servers: farm.nats.url });
    try {
      const names = farmNames(farm.farmPrefix);
      const image = await sharp(baboonPng()).resize(64, 64).png().toBuffer();
      const job = await farm.client.submitUpscale({ image, model: 'esrgan-slim-x2' });
      // An agent that takes the lease and then never renews it nor lists it in a heartbeat.
      const advert: AgentAdvert = {
        agentId: 'mute-1',
        name: 'mute',
        hostname: 'test',
        deviceIndex: 0,
        deviceName: 'test',
        vramTotalGb: 8,
        vramUsableGb: 8,
        vramClass: '8gb',
        executionProvider: 'cpu',
        modelsLoaded: [],
        version: '0.1.0',
        state: AgentState.AGENT_STATE_IDLE,
        shardsCompleted: 0,
        modelsHeld: [],
        modelCacheFreeBytes: 0,
        modelCacheCapacityBytes: 0,
        modelSpeeds: [],
      };
      const reply = await nc.request(names.workRequest, WorkRequest.encode({ advert, waitMs: 5000 }).finish(), {
        timeout: 10_000,
      });
      const grant = WorkGrant.decode(reply.data);
      expect(grant.lease?.ref?.jobId).toBe(job.id);
      await farm.startAgent({ name: 'real', vramGb: 8 });
      const done = await farm.client.waitForJob(job.id);
      expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
      const s = (await farm.client.getJob(job.id)).shards[0];
      expect(s.agent).toBe('real');
      expect(s.attempts).toBe(2);
      expect(await metricValue(farm.metricsUrl, 'tessera_shard_retries_total', { reason: 'timeout_start' })).toBe(1);
    } finally {
      await nc.close();
      await farm.close();
    }
  });
});
