/**
 * Speculative backups through the whole coordinator (core and shell) over its in-memory state and
 * blob stores, driven through the agent protocol methods with a hand-moved clock: the backup lease,
 * the race's three endings, the metric and the cancel notice of the losing attempt.
 */
import { createHash } from 'node:crypto';
import pino from 'pino';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { loadHardwareTable } from '@tessera/hardware';
import { FailureKind, type AgentAdvert, type Lease, type LeaseRef, type ShardResult } from '@tessera/protocol';
import type { BlobStore } from './blobs.js';
import { sequentialIds, systemClock } from './clock.js';
import { createSharpCodec } from './codec.js';
import { Coordinator } from './coordinator.js';
import { createCoordinatorMetrics, type CoordinatorMetrics } from './metrics.js';
import { compileCoordinatorOptions } from './options.js';
import { MemoryStateStore } from './state/memory-store.js';
import { shardView } from './views.js';
import { simAdvert } from './sim/sim-shell.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function memoryBlobs(): BlobStore & { data: Map<string, Uint8Array> } {
  const data = new Map<string, Uint8Array>();
  return {
    data,
    put: async (key, d) => (data.set(key, d), { size: d.length, sha256: sha(d) }),
    putStream: async () => {
      throw new Error('not used');
    },
    get: async (key) => data.get(key) ?? null,
    getStream: async () => null,
    info: async (key) => {
      const d = data.get(key);
      return d ? { size: d.length, sha256: sha(d) } : null;
    },
    delete: async (key) => void data.delete(key),
  };
}

/** `fast` has measured esrgan-slim-x2 (a backup may run there); `slow` has not. */
const advert = (name: 'fast' | 'slow'): AgentAdvert => ({
  ...simAdvert(`${name}-id`, name, 8),
  modelSpeeds: name === 'fast' ? [{ model: 'esrgan-slim-x2', unitsPerSecond: 1, samples: 3 }] : [],
});

const running: Coordinator[] = [];
afterEach(() => {
  for (const c of running.splice(0)) c.stop();
});

/** A coordinator whose one-tile job runs on `slow`, a minute later 1 % done; then `fast` asks for work. */
async function straggler() {
  const clock = { t: 1_000_000, now: () => clock.t, after: systemClock.after };
  const blobs = memoryBlobs();
  const metrics: CoordinatorMetrics = createCoordinatorMetrics({ queuedByClass: () => new Map(), agents: () => [] });
  const cancelled: LeaseRef[] = [];
  const c = new Coordinator({
    store: new MemoryStateStore(),
    blobs,
    table: loadHardwareTable(),
    codec: await createSharpCodec(),
    assemble: async (job) => [
      { format: 'png', key: `out/${job.id}`, contentType: 'image/png', bytes: 1, sha256: '', frames: 1 },
    ],
    prepareRefine: async () => new Map(),
    clock,
    events: {
      jobChanged: () => {},
      shardChanged: () => {},
      jobCancelled: () => {},
      attemptCancelled: (ref) => cancelled.push(ref),
    },
    metrics,
    log: pino({ level: 'silent' }),
    ids: sequentialIds(),
    options: compileCoordinatorOptions({ sweepEveryMs: 3_600_000, agentSilenceMs: 600_000, leaseMs: 600_000 }),
  });
  await c.start();
  running.push(c);
  const beat = (name: 'fast' | 'slow', leases: LeaseRef[] = []) =>
    c.heartbeat({ advert: advert(name), leases, sequence: 1 });
  const ask = async (name: 'fast' | 'slow') => (await c.requestWork({ advert: advert(name), waitMs: 20 })).lease;
  beat('fast');
  beat('slow');
  const png = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#4a7' } })
    .png()
    .toBuffer();
  const job = await c.submitUpscale({
    name: 'spec',
    seed: 1,
    priority: 0,
    maxAttempts: 5,
    image: png,
    model: 'esrgan-slim-x2',
    tile: 16,
    overlap: 10,
  });
  const primary = (await ask('slow'))!;
  clock.t += 60_000;
  beat('slow', [primary.ref!]);
  expect((await c.renewLease({ ref: primary.ref, agentId: 'slow-id', progress: 0.01 })).ok).toBe(true);
  const backup = await ask('fast');
  const outcomes = async () =>
    Object.fromEntries(
      (await metrics.speculativeAttempts.get()).values.map((v) => [v.labels.outcome, v.value] as const),
    );
  const result = (lease: Lease, name: string, ok = true): ShardResult => ({
    ref: lease.ref,
    agentId: `${name}-id`,
    ok,
    outputKey: ok ? lease.task!.outputKey : '',
    outputWidth: 1,
    outputHeight: 1,
    outputSha256: sha(new Uint8Array([1])),
    outputBytes: 1,
    outputFrames: 1,
    outputChannels: 0,
    decodeChunk: 0,
    runSeconds: 1,
    failure: ok ? FailureKind.FAILURE_KIND_UNSPECIFIED : FailureKind.FAILURE_KIND_ERROR,
    error: ok ? '' : 'boom',
  });
  const report = async (lease: Lease, name: string, ok = true) => {
    if (ok) await blobs.put(lease.task!.outputKey, new Uint8Array([1]));
    return c.reportResult(result(lease, name, ok));
  };
  const renew = (lease: Lease, name: string) => c.renewLease({ ref: lease.ref, agentId: `${name}-id`, progress: 0.5 });
  return { c, job, primary, backup, outcomes, report, renew, cancelled };
}

describe('speculative backups through the coordinator', () => {
  it('grants the idle measured agent a backup with its own token and output key; the backup wins', async () => {
    const s = await straggler();
    expect(s.primary.ref?.fencingToken).toBe(1);
    expect(s.backup?.ref).toMatchObject({ jobId: s.job.id, shardIndex: 0, fencingToken: 2 });
    expect(s.backup?.task?.outputKey).toMatch(/out-2$/);
    // Status views show the race: the primary's agent and the backup's.
    const racing = shardView((await s.c.getJob(s.job.id)).shards[0]);
    expect(racing).toMatchObject({ agent: 'slow', attempts: 1, backupAgent: 'fast', backupAttempt: 2 });
    // What the backup budget spent is written to the job record (a restart does not spend it again).
    for (let i = 0; i < 100 && !(await s.c.getJob(s.job.id)).job.backupSpentS; i++)
      await new Promise((r) => setTimeout(r, 5));
    expect((await s.c.getJob(s.job.id)).job.backupSpentS).toBeGreaterThan(0);
    expect((await s.renew(s.backup!, 'fast')).ok).toBe(true);
    expect(await s.report(s.backup!, 'fast')).toEqual({ accepted: true, reason: '' });
    expect(await s.outcomes()).toEqual({ won: 1, lost: 0, cancelled: 0 });
    // The primary is told to stop; its late result and renewal are refused.
    expect(s.cancelled).toEqual([s.primary.ref]);
    expect((await s.renew(s.primary, 'slow')).reason).toBe('superseded');
    expect(await s.report(s.primary, 'slow')).toMatchObject({ accepted: false, reason: 'superseded' });
    const job = await s.c.getJob(s.job.id);
    expect(job.shards[0]).toMatchObject({ agentName: 'fast', attempt: 2 });
    expect(shardView(job.shards[0])).toMatchObject({ agent: 'fast', attempts: 2, backupAgent: '', backupAttempt: 0 });
  });

  it('primary commits first: the backup is cancelled (lost) and its result refused', async () => {
    const s = await straggler();
    expect(await s.report(s.primary, 'slow')).toEqual({ accepted: true, reason: '' });
    expect(await s.outcomes()).toEqual({ won: 0, lost: 1, cancelled: 0 });
    expect(s.cancelled).toEqual([s.backup!.ref]);
    expect(await s.report(s.backup!, 'fast')).toMatchObject({ accepted: false, reason: 'superseded' });
    expect((await s.c.getJob(s.job.id)).shards[0]).toMatchObject({ agentName: 'slow', attempt: 1 });
  });

  it('the backup fails: the primary runs on alone, nothing is requeued', async () => {
    const s = await straggler();
    expect(await s.report(s.backup!, 'fast', false)).toEqual({ accepted: true, reason: 'failure recorded' });
    expect(await s.outcomes()).toEqual({ won: 0, lost: 0, cancelled: 1 });
    // The failure counts against the backup's agent on the job, as any failed attempt does.
    expect((await s.c.getJob(s.job.id)).job.agentFailures).toEqual({ fast: 1 });
    expect((await s.renew(s.primary, 'slow')).ok).toBe(true);
    expect((await s.renew(s.backup!, 'fast')).reason).toBe('superseded');
    expect(await s.report(s.primary, 'slow')).toEqual({ accepted: true, reason: '' });
  });

  it('the primary fails: the backup carries on as the shard’s attempt and commits', async () => {
    const s = await straggler();
    expect(await s.report(s.primary, 'slow', false)).toEqual({ accepted: true, reason: 'failure recorded' });
    expect(await s.outcomes()).toEqual({ won: 1, lost: 0, cancelled: 0 });
    expect((await s.renew(s.primary, 'slow')).reason).toBe('superseded');
    expect(await s.report(s.backup!, 'fast')).toEqual({ accepted: true, reason: '' });
    expect((await s.c.getJob(s.job.id)).shards[0]).toMatchObject({ agentName: 'fast', attempt: 2 });
  });

  it('the job is cancelled: both attempts are refused, the backup counts as cancelled', async () => {
    const s = await straggler();
    await s.c.cancelJob(s.job.id);
    expect(await s.outcomes()).toEqual({ won: 0, lost: 0, cancelled: 1 });
    expect((await s.renew(s.primary, 'slow')).reason).toBe('cancelled');
    expect((await s.renew(s.backup!, 'fast')).reason).toBe('cancelled');
    expect(await s.report(s.backup!, 'fast')).toMatchObject({ accepted: false, reason: 'cancelled' });
  });
});
