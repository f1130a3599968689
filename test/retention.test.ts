/** Retention: finished jobs and every blob they stored are deleted after --retention-ms. */
import { describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { JobState, blobKeys, farmNames } from '@tessera/protocol';
import { startFarm } from './helpers/farm.js';
import { waitFor } from './helpers/process.js';
import { baboonCrop } from './helpers/images.js';

describe('retention', () => {
  it('deletes a finished job, its records and its blobs', async () => {
    const farm = await startFarm({ agents: [{ name: 'r', vramGb: 8 }], coordinatorArgs: ['--retention-ms', '1500'] });
    const nc = await connect({ servers: farm.nats.url });
    try {
      const job = await farm.client.submitUpscale({
        image: await baboonCrop(0, 0, 48, 40),
        model: 'esrgan-slim-x2',
        tile: 24,
        overlap: 12,
      });
      expect((await farm.client.waitForJob(job.id)).state).toBe(JobState.JOB_STATE_SUCCEEDED);
      const os = await new Objm(jetstream(nc)).open(farmNames(farm.farmPrefix).blobBucket);
      const keys = [blobKeys.jobOutput(job.id), blobKeys.shardInput(job.id, 0), blobKeys.shardOutput(job.id, 0, 1)];
      for (const k of keys) expect(await os.info(k), k).not.toBeNull();
      await waitFor(
        () =>
          farm.client.getJob(job.id).then(
            () => false,
            (e: { code?: string }) => e.code === 'NOT_FOUND',
          ),
        20_000,
        'the job to expire',
        200,
      );
      for (const k of keys) {
        const info = await os.info(k);
        expect(info === null || info.deleted, k).toBe(true);
      }
      expect((await farm.client.listJobs()).map((j) => j.id)).not.toContain(job.id);
    } finally {
      await nc.close();
      await farm.close();
    }
  });
});
