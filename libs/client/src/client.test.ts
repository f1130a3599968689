import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata, status } from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobState } from '@tessera/protocol';
import { TesseraClient } from './client.js';
import { OutputIntegrityError, TesseraRpcError } from './errors.js';
// @ts-expect-error plain-JS test fixture without types
import { fakeJob, startFakeServer } from '../fixtures/fake-server.mjs';

type Fake = Awaited<ReturnType<typeof startFakeServer>>;

let fake: Fake;
let client: TesseraClient;
let dir: string;

beforeEach(async () => {
  fake = await startFakeServer();
  client = new TesseraClient(fake.address, { token: 's3cret' });
  dir = await mkdtemp(join(tmpdir(), 'tessera-client-'));
});

afterEach(async () => {
  client.close();
  fake.forceStop();
  await rm(dir, { recursive: true, force: true });
});

describe('TesseraClient', () => {
  it('submits an upscale with every field and the bearer token', async () => {
    const image = new Uint8Array([1, 2, 3, 4]);
    const job = await client.submitUpscale({
      image,
      model: 'esrgan-slim-x2',
      tile: 96,
      overlap: 12,
      seed: 42,
      priority: 3,
      name: 'n',
      maxAttempts: 5,
    });
    expect(job.id).toBe('job-1');
    const call = fake.state.calls.find((c: { method: string }) => c.method === 'SubmitJob');
    expect(call.metadata.authorization).toBe('Bearer s3cret');
    expect(call.request).toMatchObject({ name: 'n', seed: 42, priority: 3, maxAttempts: 5 });
    expect(call.request.spec.$case).toBe('upscale');
    expect(call.request.spec.value).toMatchObject({ model: 'esrgan-slim-x2', tile: 96, overlap: 12 });
    expect([...call.request.spec.value.image]).toEqual([1, 2, 3, 4]);
  });

  it('defaults unset submit numbers to 0 (coordinator chooses)', async () => {
    await client.submitUpscale({ image: new Uint8Array([9]), model: 'esrgan-slim-x4' });
    const call = fake.state.calls.find((c: { method: string }) => c.method === 'SubmitJob');
    expect(call.request).toMatchObject({ name: '', seed: 0, priority: 0, maxAttempts: 0 });
    expect(call.request.spec.value).toMatchObject({ tile: 0, overlap: 0 });
  });

  it('translates server errors into TesseraRpcError', async () => {
    const err = await client.submitUpscale({ image: new Uint8Array([1]), model: 'foo' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TesseraRpcError);
    expect(err).toMatchObject({
      code: 'INVALID_ARGUMENT',
      details: 'upscale.model: unknown model "foo" (known: esrgan-slim-x2, esrgan-slim-x4)',
      method: 'SubmitJob',
    });
    await expect(client.getJob('nope')).rejects.toMatchObject({ code: 'NOT_FOUND', details: 'job nope not found' });
  });

  it('gets, lists and cancels', async () => {
    expect((await client.getJob('job-1')).state).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect(await client.listJobs({ limit: 5, includeShards: true })).toHaveLength(1);
    expect(fake.state.calls.at(-1).request).toEqual({ limit: 5, includeShards: true });
    expect((await client.cancelJob('job-1')).state).toBe(JobState.JOB_STATE_CANCELLED);
    const agents = await client.listAgents({ includeLost: true });
    expect(agents.map((a) => a.vramClass)).toEqual(['6gb', '8gb', '24gb']);
    expect(fake.state.calls.at(-1).request).toEqual({ includeLost: true });
  });

  it('applies the unary deadline and honours an abort signal', async () => {
    const slow = await startFakeServer({ overrides: { getJob: () => undefined } });
    const c = new TesseraClient(slow.address, { deadlineMs: 100 });
    try {
      await expect(c.getJob('job-1')).rejects.toMatchObject({ code: 'DEADLINE_EXCEEDED' });
      await expect(c.getJob('job-1', { deadlineMs: 0, signal: AbortSignal.timeout(50) })).rejects.toMatchObject({
        name: 'TimeoutError',
      });
    } finally {
      c.close();
      slow.forceStop();
    }
  });

  it('watchJob yields the snapshot, shard events and the final job', async () => {
    const events = [];
    for await (const e of client.watchJob('job-1')) events.push(e);
    expect(events.map((e) => e.event)).toEqual(['snapshot', 'shard', 'shard', 'shard', 'shard', 'job']);
    expect(events.at(-1)?.job?.state).toBe(JobState.JOB_STATE_SUCCEEDED);
  });

  it('leaving a watch early cancels the server stream', async () => {
    for await (const e of client.watchJob('job-1')) {
      expect(e.event).toBe('snapshot');
      break;
    }
    await expect.poll(() => fake.state.watchCancelled).toBe(true);
  });

  it('waitForJob reports every event and resolves to the final job', async () => {
    const seen: string[] = [];
    const job = await client.waitForJob('job-1', (e) => seen.push(e.event));
    expect(job.state).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect(seen).toHaveLength(6);
  });

  it('waitForJob re-asks with GetJob when a stream ends early', async () => {
    const f = await startFakeServer({ overrides: { watchJob: (call: { end(): void }) => call.end() } });
    const c = new TesseraClient(f.address);
    try {
      expect((await c.waitForJob('job-1')).state).toBe(JobState.JOB_STATE_SUCCEEDED);
    } finally {
      c.close();
      f.forceStop();
    }
  });

  it('downloads the output atomically and checks its sha256', async () => {
    fake.state.output = Buffer.from('x'.repeat(1000));
    const file = join(dir, 'sub', 'out.png');
    const progress: number[] = [];
    const res = await client.downloadOutput('job-1', file, { onProgress: (b) => progress.push(b) });
    expect(res).toMatchObject({ file, bytes: 1000, contentType: 'image/png' });
    expect(await readFile(file, 'utf8')).toBe('x'.repeat(1000));
    expect(progress).toEqual([334, 668, 1000]);
    expect(await readdir(join(dir, 'sub'))).toEqual(['out.png']);
  });

  it('refuses an output whose sha256 does not match and leaves no file', async () => {
    fake.state.badSha = true;
    const file = join(dir, 'bad.png');
    await expect(client.downloadOutput('job-1', file)).rejects.toBeInstanceOf(OutputIntegrityError);
    expect(await readdir(dir)).toEqual([]);
  });

  it('uses 64 MiB message limits both ways', async () => {
    fake.state.output = Buffer.alloc(20 * 1024 * 1024, 7);
    const big = new Uint8Array(20 * 1024 * 1024);
    await client.submitUpscale({ image: big, model: 'esrgan-slim-x4' });
    const res = await client.downloadOutput('job-1', join(dir, 'big.bin'));
    expect(res.bytes).toBe(20 * 1024 * 1024);
  });
});

describe('TesseraClient during a coordinator fail-over', () => {
  /** A server whose SubmitJob fails `failures` times with UNAVAILABLE, marked retry-safe or not. */
  async function flaky(failures: number, retrySafe: boolean) {
    let calls = 0;
    const server = await startFakeServer({
      overrides: {
        submitJob(_call: unknown, cb: (err: unknown, res?: unknown) => void) {
          calls++;
          if (calls <= failures) {
            const metadata = new Metadata();
            if (retrySafe) metadata.set('x-tessera-retry-safe', 'no-leader');
            return cb({ code: status.UNAVAILABLE, details: 'no leader coordinator is serving yet', metadata });
          }
          cb(null, { job: fakeJob({ id: 'job-after-election' }) });
        },
      },
    });
    return { server, calls: () => calls };
  }

  it('retries a submission the coordinator refused before doing anything (no leader yet)', async () => {
    const { server, calls } = await flaky(2, true);
    const c = new TesseraClient(server.address);
    try {
      expect((await c.submitUpscale({ image: new Uint8Array([1]), model: 'esrgan-slim-x2' })).id).toBe(
        'job-after-election',
      );
      expect(calls()).toBe(3);
    } finally {
      c.close();
      server.forceStop();
    }
  });

  it('never retries a submission whose fate is unknown (UNAVAILABLE without the mark)', async () => {
    const { server, calls } = await flaky(1, false);
    const c = new TesseraClient(server.address);
    try {
      await expect(c.submitUpscale({ image: new Uint8Array([1]), model: 'esrgan-slim-x2' })).rejects.toMatchObject({
        code: 'UNAVAILABLE',
        retrySafe: false,
      });
      expect(calls()).toBe(1);
    } finally {
      c.close();
      server.forceStop();
    }
  });
});
