/**
 * Issue 2 point 6: killing an agent mid-shard. Its shard is leased again elsewhere, the output is
 * byte-identical to a fault-free run, and a late result from the killed attempt is refused by its
 * fencing token.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import sharp from 'sharp';
import {
  FailureKind,
  JobState,
  ShardResult,
  ShardResultReply,
  ShardState,
  blobKeys,
  farmNames,
} from '@tessera/protocol';
import { jobRgb, startFarm } from './helpers/farm.js';
import { startNats, type TestNats } from './helpers/nats-server.js';
import { waitFor } from './helpers/process.js';
import { baboonPng } from './helpers/images.js';
import { metricValue } from './helpers/prometheus.js';

describe('agent killed mid-job', () => {
  let nats: TestNats;
  let image: Buffer;
  let reference: Buffer;

  beforeAll(async () => {
    nats = await startNats();
    // The real photo enlarged to 384×384 so that each 96 px tile keeps an agent busy long enough to be killed.
    image = await sharp(baboonPng()).resize(384, 384, { kernel: 'lanczos3' }).png().toBuffer();
    const farm = await startFarm({ nats, agents: [{ name: 'ref', vramGb: 8 }] });
    try {
      const job = await farm.client.submitUpscale({ image, model: 'esrgan-slim-x2', tile: 96, overlap: 12 });
      expect((await farm.client.waitForJob(job.id)).state).toBe(JobState.JOB_STATE_SUCCEEDED);
      reference = await jobRgb(farm.client, job.id);
    } finally {
      await farm.close();
    }
  });
  afterAll(async () => nats?.stop());

  it('requeues the shard elsewhere, finishes with identical bytes, and refuses the late result', async () => {
    const farm = await startFarm({
      nats,
      agents: [
        { name: 'victim', vramGb: 8 },
        { name: 'b', vramGb: 8 },
        { name: 'c', vramGb: 24 },
      ],
      // The requeue of a lost agent's shard is under test. With speculation on, an idle agent may hold
      // a backup of the victim's shard by the time it is killed; the backup then simply carries on
      // (no requeue, no retry counted): core/speculation.test.ts covers that path.
      coordinatorArgs: ['--speculation-budget', '0'],
    });
    try {
      const victimId = (await farm.client.listAgents()).find((a) => a.name === 'victim')!.id;
      const job = await farm.client.submitUpscale({ image, model: 'esrgan-slim-x2', tile: 96, overlap: 12 });
      // Wait until the victim holds a lease, then SIGKILL it in the middle of the shard.
      const held = await waitFor(
        async () =>
          (await farm.client.getJob(job.id)).shards.find(
            (s) => s.agent === 'victim' && s.state === ShardState.SHARD_STATE_LEASED,
          ),
        30_000,
        'the victim to lease a shard',
        10,
      );
      await farm.agents.get('victim')!.stop('SIGKILL');
      const done = await farm.client.waitForJob(job.id);
      expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);

      const full = await farm.client.getJob(job.id);
      const redone = full.shards[held.index];
      expect(redone.state).toBe(ShardState.SHARD_STATE_DONE);
      // The killed attempt was superseded: a later attempt on another agent committed.
      expect(redone.attempts).toBeGreaterThan(held.attempts);
      expect(redone.agent).not.toBe('victim');
      expect(full.shards.every((s) => s.agent !== 'victim' || s.state === ShardState.SHARD_STATE_DONE)).toBe(true);
      expect(Buffer.compare(await jobRgb(farm.client, job.id), reference)).toBe(0);

      // The killed attempt "comes back" with its result: refused by the fencing token.
      const nc = await connect({ servers: nats.url });
      try {
        const names = farmNames(farm.farmPrefix);
        const os = await new Objm(jetstream(nc)).open(names.blobBucket);
        const bogus = new Uint8Array(16).fill(7);
        const key = blobKeys.shardOutput(job.id, held.index, held.attempts);
        await os.putBlob({ name: key }, bogus);
        const late: ShardResult = {
          ref: { jobId: job.id, shardIndex: held.index, fencingToken: held.attempts },
          agentId: victimId,
          ok: true,
          outputKey: key,
          outputWidth: 4,
          outputHeight: 1,
          outputSha256: createHash('sha256').update(bogus).digest('hex'),
          outputBytes: bogus.length,
          outputFrames: 1,
          outputChannels: 0,
          decodeChunk: 0,
          runSeconds: 1,
          failure: FailureKind.FAILURE_KIND_UNSPECIFIED,
          error: '',
        };
        const reply = ShardResultReply.decode(
          (await nc.request(names.workResult, ShardResult.encode(late).finish(), { timeout: 5000 })).data,
        );
        expect(reply).toEqual({ accepted: false, reason: 'superseded' });
      } finally {
        await nc.close();
      }
      // Nothing changed: same bytes, and the coordinator counted the refusal and the requeue.
      expect(Buffer.compare(await jobRgb(farm.client, job.id), reference)).toBe(0);
      const refused = { reason: 'superseded' };
      expect(await metricValue(farm.metricsUrl, 'tessera_shard_results_refused_total', refused)).toBeGreaterThanOrEqual(
        1,
      );
      expect(
        await metricValue(farm.metricsUrl, 'tessera_shard_retries_total', { reason: 'agent_lost' }),
      ).toBeGreaterThanOrEqual(1);
      const agents = await farm.client.listAgents({ includeLost: true });
      expect(agents.find((a) => a.name === 'victim')?.state).toBe(4 /* AGENT_STATE_LOST */);
    } finally {
      await farm.close();
    }
  });
});
