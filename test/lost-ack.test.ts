/**
 * State writes lost at the wrong moment, made to happen exactly by a TCP proxy between the
 * coordinator and nats-server:
 * - a write that lands but whose acknowledgement is lost (the connection drops after the server
 *   applied a KV update, before its reply came back). The coordinator's cache is then a revision
 *   behind the store; every later write of that record used to be refused as stale, for good: the
 *   shard stayed leased (or the job stayed running) until the coordinator restarted. Now the stale
 *   record is reloaded;
 * - the write that records 'assembling' lost and the coordinator killed before retrying it: the
 *   restarted coordinator found every shard committed and a running job, and nothing started the
 *   assembly (found by test/chaos.test.ts: a job stuck RUNNING). Now it assembles.
 * Each job finishes with the bytes of an undisturbed run.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { JobState, ShardState } from '@tessera/protocol';
import { startFarm, type Farm } from './helpers/farm.js';
import { startNats, type TestNats } from './helpers/nats-server.js';
import { startTcpProxy, type TcpProxy } from './helpers/tcp-proxy.js';
import { waitFor } from './helpers/process.js';
import { baboonPng } from './helpers/images.js';

describe('state writes lost at the wrong moment', () => {
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

  const waitFinal = (id: string) =>
    waitFor(
      async () => {
        const j = await farm.client.getJob(id, { deadlineMs: 2000 });
        return j.state !== JobState.JOB_STATE_QUEUED &&
          j.state !== JobState.JOB_STATE_RUNNING &&
          j.state !== JobState.JOB_STATE_ASSEMBLING
          ? j
          : undefined;
      },
      90_000,
      `job ${id} to finish`,
      250,
    );

  /** Runs a job with the reply to the first client write matching `subject` and `text` lost. */
  const runWithLostAck = async (subject: RegExp, text: string) => {
    const fired = proxy.loseReplyTo((bytes) => subject.test(bytes) && bytes.includes(text));
    const job = await farm.client.submitUpscale({ image, model: 'esrgan-slim-x2', tile: 32, overlap: 12 });
    await fired;
    const done = await waitFinal(job.id);
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

  it('coordinator killed after the last commit, before assembly was recorded: the restarted one assembles', async () => {
    // The write that moves the job to 'assembling' never lands; the coordinator dies before its retry.
    const lost = proxy.loseRequest(
      (bytes) => /PUB \$KV\.[^ ]+-state\.job\./.test(bytes) && bytes.includes('"state":"assembling"'),
    );
    const job = await farm.client.submitUpscale({ image, model: 'esrgan-slim-x2', tile: 32, overlap: 12 });
    await lost;
    await farm.restartCoordinator();
    const before = await farm.client.getJob(job.id);
    // What the restarted coordinator found: every shard committed, the job not yet assembling.
    expect(before.shards.every((s) => s.state === ShardState.SHARD_STATE_DONE)).toBe(true);
    const done = await waitFinal(job.id);
    expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect(done.outputSha256).toBe(reference);
  });
});
