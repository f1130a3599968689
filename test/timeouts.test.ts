/**
 * Shard timeouts: a shard that runs past the maximum runtime, or whose engine progress stalls, is
 * taken back (its agent is told at the next renewal and stops); after max attempts the job fails
 * with the reason.
 */
import { describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { JobState } from '@tessera/protocol';
import { startFarm } from './helpers/farm.js';
import { baboonPng } from './helpers/images.js';

const metric = (text: string, name: string, labels: string) =>
  Number(
    text
      .split('\n')
      .find((l) => l.startsWith(`${name}{`) && l.includes(labels))
      ?.split(' ')
      .pop() ?? 0,
  );

describe('shard timeouts', () => {
  for (const [flag, reason, message] of [
    ['--max-shard-runtime-ms', 'timeout_runtime', /ran longer than the maximum of 0.3 s/],
    ['--stall-timeout-ms', 'timeout_no_progress', /made no progress for 0.3 s/],
  ] as const) {
    it(`${flag}: the shard is taken back and the job fails after max attempts, saying why`, async () => {
      const farm = await startFarm({
        agents: [{ name: 'slow', vramGb: 8 }],
        coordinatorArgs: [flag, '300', '--max-attempts', '2'],
      });
      try {
        // One 384×384 tile at ×4 keeps a 1-thread agent busy for well over 0.3 s.
        const image = await sharp(baboonPng()).resize(384, 384).png().toBuffer();
        const job = await farm.client.submitUpscale({ image, model: 'esrgan-slim-x4', tile: 384, overlap: 16 });
        const done = await farm.client.waitForJob(job.id);
        expect(done.state).toBe(JobState.JOB_STATE_FAILED);
        expect(done.error).toMatch(message);
        const metrics = await (await fetch(farm.metricsUrl)).text();
        expect(metric(metrics, 'tessera_shard_retries_total', `reason="${reason}"`)).toBeGreaterThanOrEqual(1);
        // The agent was told its lease was gone and abandoned the engine run.
        expect(farm.agents.get('slow')!.output()).toContain('lease lost; stopping the shard');
      } finally {
        await farm.close();
      }
    });
  }
});
