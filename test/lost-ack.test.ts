/**
 * A state write that lands but whose acknowledgement is lost: the coordinator's NATS connection
 * drops after the server applied a KV update and before its reply came back (a nats-server crash
 * or a network cut at the wrong moment). The coordinator's cache is then one revision behind the
 * store; every later write of that record used to be refused as stale, for good: the shard stayed
 * leased (or the job stayed assembling) until the coordinator restarted. Now the stale record is
 * reloaded and the job finishes, with the bytes of an undisturbed run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { JobState, ShardState } from '@tessera/protocol';
import { startFarm, type Farm } from './helpers/farm.js';
import { startNats, type TestNats } from './helpers/nats-server.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';
import { waitFor } from './helpers/process.js';
import { baboonPng } from './helpers/images.js';

describe('a state write whose acknowledgement is lost', () => {
  let nats: TestNats;
  let proxy: TcpProxy;
  let farm: Farm;
  let log = '';
  let image: Buffer;
  let reference: string;

  beforeAll(async () => {
    nats = await startNats({ args: ['-n', 'tessera-lost-ack'] });
    proxy = await startTcpProxy(Number(new URL(nats.url).port));
    farm = await startFarm({
      nats,
      // The coordinator reaches NATS through the proxy; the agent directly.
      coordinatorNatsUrl: proxy.url,
      agents: [{ name: 'a', vramGb: 8 }],
      onOutput: (name, text) => {
        if (name.startsWith('coordinator')) log += text;
      },
    });
    image = await sharp(baboonPng()).resize(96, 64).png().toBuffer();
    const job = await farm.client.submitUpscale({ image, model: 'esrgan-slim-x2', tile: 32, overlap: 12 });
    const done = await farm.client.waitForJob(job.id);
    expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
    reference = done.outputSha256;
  });
  afterAll(async () => {
    await farm?.close();
    await proxy?.close();
    await nats?.stop();
  });

  /** Runs a job with the reply to the first client write matching `subject` and `text` lost. */
  const runWithLostAck = async (subject: RegExp, text: string) => {
    const fired = proxy.loseReplyTo((bytes) => subject.test(bytes) && bytes.includes(text));
    const job = await farm.client.submitUpscale({ image, model: 'esrgan-slim-x2', tile: 32, overlap: 12 });
    await fired;
    const done = await waitFor(
      async () => {
        const j = await farm.client.getJob(job.id, { deadlineMs: 2000 });
        return j.state !== JobState.JOB_STATE_QUEUED &&
          j.state !== JobState.JOB_STATE_RUNNING &&
          j.state !== JobState.JOB_STATE_ASSEMBLING
          ? j
          : undefined;
      },
      90_000,
      `job ${job.id} to finish`,
      250,
    );
    expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect(done.shards.every((s) => s.state === ShardState.SHARD_STATE_DONE)).toBe(true);
    expect(done.outputSha256).toBe(reference);
  };

  it('a shard commit: the shard record is reloaded, the job finishes', async () => {
    await runWithLostAck(/PUB \$KV\.[^ ]+-state\.shard\./, '"state":"done"');
    expect(log).toContain('shard record reloaded from the store');
  });

  it('a job record update: the patch is applied to the stored record, the job finishes', async () => {
    await runWithLostAck(/PUB \$KV\.[^ ]+-state\.job\./, '"state":"assembling"');
    expect(log).toContain('job record reloaded from the store');
  });
});
