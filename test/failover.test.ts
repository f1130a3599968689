/**
 * Issue 6, coordinator fail-over: two replicas share the JetStream state; one leads (lease in KV),
 * the other serves the gRPC API by forwarding to it. Killing the leader mid-job: the standby takes
 * over, the job finishes with the bytes of an undisturbed run, committed shards are kept. A leader
 * that stops gracefully hands the lease back, so its standby takes over at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { JobState, ShardState } from '@tessera/protocol';
import { jobRgb, startFarm, type Farm } from './helpers/farm.js';
import { startNats, type TestNats } from './helpers/nats-server.js';
import { waitFor } from './helpers/process.js';
import { logTime, startReplica, type Replica } from './helpers/replica.js';
import { baboonPng } from './helpers/images.js';
import { metricValue } from './helpers/prometheus.js';

const LEASE = ['--leader-lease-ms', '3000'];

describe('coordinator fail-over (leader lease in JetStream KV)', () => {
  let nats: TestNats;
  let farm: Farm;
  let image: Buffer;
  let reference: Buffer;
  const standbys: Replica[] = [];
  const job = { model: 'esrgan-slim-x2', tile: 96, overlap: 12 };

  beforeAll(async () => {
    nats = await startNats();
    image = await sharp(baboonPng()).resize(384, 384, { kernel: 'lanczos3' }).png().toBuffer();
    farm = await startFarm({
      nats,
      coordinatorArgs: [...LEASE, '--replica-id', 'a'],
      agents: [
        { name: 'f1', vramGb: 8 },
        { name: 'f2', vramGb: 24 },
      ],
    });
  });
  afterAll(async () => {
    for (const s of standbys) {
      s.client.close();
      await s.proc.stop('SIGKILL');
    }
    await farm?.close();
    await nats?.stop();
  });

  it('a standby serves the API by forwarding to the leader, streams included', async () => {
    const b = await startReplica(farm, 'b', LEASE, 2);
    standbys.push(b);
    expect(await metricValue(farm.metricsUrl, 'tessera_coordinator_is_leader')).toBe(1);
    expect(await metricValue(b.metricsUrl, 'tessera_coordinator_is_leader')).toBe(0);
    const names = (await b.client.listAgents()).map((a) => a.name).sort();
    expect(names).toEqual(['f1', 'f2']);
    // A fault-free run, submitted through the standby; its output fetched through both replicas.
    const j = await b.client.submitUpscale({ image, ...job });
    const done = await b.client.waitForJob(j.id);
    expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
    reference = await jobRgb(b.client, j.id);
    expect(Buffer.compare(reference, await jobRgb(farm.client, j.id))).toBe(0);
    // Errors come back unchanged through the forwarder.
    await expect(b.client.getJob('no-such-job')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('leader killed (SIGKILL) mid-job: the standby takes over and the job finishes with the same bytes', async () => {
    const b = standbys[0];
    const j = await b.client.submitUpscale({ image, ...job });
    await waitFor(
      async () => {
        const s = await b.client.getJob(j.id);
        const doneN = s.shards.filter((x) => x.state === ShardState.SHARD_STATE_DONE).length;
        return (
          doneN >= 2 && doneN < s.shards.length - 2 && s.shards.some((x) => x.state === ShardState.SHARD_STATE_LEASED)
        );
      },
      60_000,
      'the job to be part done',
      20,
    );
    const before = await b.client.getJob(j.id);
    const killedAt = Date.now();
    await farm.coordinator.stop('SIGKILL');
    const acquiredAt = await waitFor(
      () => logTime(b.proc, 'serving as leader'),
      60_000,
      'the standby to take over',
      20,
    );
    const finished = await b.client.waitForJob(j.id);
    const finishedAt = Date.now();
    expect(finished.state, finished.error).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect(await metricValue(b.metricsUrl, 'tessera_coordinator_is_leader')).toBe(1);
    const after = await b.client.getJob(j.id);
    for (const s of before.shards.filter((x) => x.state === ShardState.SHARD_STATE_DONE)) {
      expect(after.shards[s.index].attempts).toBe(s.attempts);
      expect(after.shards[s.index].agent).toBe(s.agent);
    }
    expect(after.shards.every((s) => s.state === ShardState.SHARD_STATE_DONE)).toBe(true);
    expect(Buffer.compare(await jobRgb(b.client, j.id), reference)).toBe(0);
    console.log(
      `fail-over: leader SIGKILLed; standby took the lease ${acquiredAt - killedAt} ms later ` +
        `(leader lease 3000 ms); job finished ${finishedAt - killedAt} ms after the kill; ` +
        `${before.shards.filter((x) => x.state === ShardState.SHARD_STATE_DONE).length} shards committed before the kill were kept`,
    );
  });

  it('a leader stopped gracefully hands the lease back: the next standby takes over at once', async () => {
    const b = standbys[0];
    const c = await startReplica(farm, 'c', LEASE, 2);
    standbys.push(c);
    expect(await metricValue(c.metricsUrl, 'tessera_coordinator_is_leader')).toBe(0);
    const small = await sharp(baboonPng()).resize(64, 64).png().toBuffer();
    const stoppedAt = Date.now();
    await b.proc.stop('SIGTERM');
    // Submitted at once, during the hand-over: an answer "no leader yet" is retried by the client.
    const next = await c.client.submitUpscale({ image: small, model: 'esrgan-slim-x2' });
    const acquiredAt = await waitFor(() => logTime(c.proc, 'serving as leader'), 60_000, 'c to take over', 20);
    expect((await c.client.waitForJob(next.id)).state).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect(await metricValue(c.metricsUrl, 'tessera_coordinator_is_leader')).toBe(1);
    console.log(`hand-over: leader sent SIGTERM; standby took the lease ${acquiredAt - stoppedAt} ms later`);
  });
});
