/**
 * The coordinator core over its in-memory state store and blob store, driven through the agent
 * protocol methods with a hand-moved clock: retry backoff, the per-job blocklist (persisted across a
 * restart), fair share between users, and finished jobs' shard records leaving memory.
 */
import { createHash } from 'node:crypto';
import pino from 'pino';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { loadHardwareTable } from '@tessera/hardware';
import { FailureKind, type AgentAdvert, type Lease, type ShardResult } from '@tessera/protocol';
import type { BlobInfo, BlobStore } from './blobs.js';
import { ManualClock, sequentialIds, systemClock, type Clock } from './clock.js';
import { createSharpCodec } from './codec.js';
import { Coordinator, type CoordinatorDeps } from './coordinator.js';
import { createCoordinatorMetrics } from './metrics.js';
import { compileCoordinatorOptions, type CoordinatorOptions } from './options.js';
import { MemoryStateStore } from './state/memory-store.js';
import { simAdvert } from './sim/sim-shell.js';

class MemoryBlobs implements BlobStore {
  readonly data = new Map<string, Uint8Array>();
  async put(key: string, data: Uint8Array): Promise<BlobInfo> {
    this.data.set(key, data);
    return { size: data.length, sha256: sha(data) };
  }
  async putStream(): Promise<BlobInfo> {
    throw new Error('not used');
  }
  async get(key: string) {
    return this.data.get(key) ?? null;
  }
  async getStream() {
    return null;
  }
  async info(key: string) {
    const d = this.data.get(key);
    return d ? { size: d.length, sha256: sha(d) } : null;
  }
  async delete(key: string) {
    this.data.delete(key);
  }
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

const advert = (name: string, vramGb = 8): AgentAdvert => simAdvert(`${name}-id`, name, vramGb);

interface Rig {
  c: Coordinator;
  store: MemoryStateStore;
  blobs: MemoryBlobs;
  metrics: CoordinatorDeps['metrics'];
  clock: { t: number; now(): number; after: Clock['after'] };
}

const running: Coordinator[] = [];
afterEach(() => {
  for (const c of running.splice(0)) c.stop();
});

async function rig(
  opts: CoordinatorOptions = {},
  shared?: Pick<Rig, 'store' | 'blobs' | 'clock'>,
  sweepEveryMs = 3_600_000,
): Promise<Rig> {
  const store = shared?.store ?? new MemoryStateStore();
  const blobs = shared?.blobs ?? new MemoryBlobs();
  const clock: Rig['clock'] = shared?.clock ?? { t: 1_000_000, now: () => clock.t, after: systemClock.after };
  const deps: CoordinatorDeps = {
    store,
    blobs,
    table: loadHardwareTable(),
    codec: await createSharpCodec(),
    assemble: async (job) => [
      { format: 'png', key: `out/${job.id}`, contentType: 'image/png', bytes: 1, sha256: '', frames: 1 },
    ],
    prepareRefine: async () => new Map(),
    clock,
    events: { jobChanged: () => {}, shardChanged: () => {}, jobCancelled: () => {} },
    metrics: createCoordinatorMetrics({ queuedByClass: () => new Map(), agents: () => [] }),
    log: pino({ level: 'silent' }),
    ids: sequentialIds(),
    // Sweeps by hand (the test moves the clock), so the timer is effectively off unless asked for.
    options: compileCoordinatorOptions({ sweepEveryMs, ...opts }),
  };
  const c = new Coordinator(deps);
  await c.start();
  running.push(c);
  return { c, store, blobs, clock, metrics: deps.metrics };
}

/** A grid image cut into `tiles`² upscale tiles of 16 px (overlap 10). */
async function image(tiles: number): Promise<Uint8Array> {
  const px = tiles * 16;
  return sharp({ create: { width: px, height: px, channels: 3, background: { r: 40, g: 90, b: 160 } } })
    .png()
    .toBuffer();
}

const submit = async (c: Coordinator, tiles: number, extra: { owner?: string; priority?: number } = {}) =>
  c.submitUpscale({
    name: 'unit',
    seed: 1,
    priority: extra.priority ?? 0,
    maxAttempts: 10,
    image: await image(tiles),
    model: 'esrgan-slim-x2',
    tile: 16,
    overlap: 10,
    owner: extra.owner,
  });

/** Asks for work; resolves with the lease or undefined after waitMs. */
async function ask(c: Coordinator, name: string, waitMs = 20): Promise<Lease | undefined> {
  return (await c.requestWork({ advert: advert(name), waitMs })).lease;
}

function failure(lease: Lease, name: string): ShardResult {
  return {
    ref: lease.ref,
    agentId: `${name}-id`,
    ok: false,
    outputKey: '',
    outputWidth: 0,
    outputHeight: 0,
    outputSha256: '',
    outputBytes: 0,
    outputFrames: 0,
    outputChannels: 0,
    decodeChunk: 0,
    runSeconds: 0,
    failure: FailureKind.FAILURE_KIND_ERROR,
    error: 'boom',
  };
}

/** Commits a lease with a correctly stored (content-free) output. */
async function commit(r: Rig, lease: Lease, name: string) {
  const data = new Uint8Array([lease.ref!.shardIndex, 1, 2]);
  await r.blobs.put(lease.task!.outputKey, data);
  return r.c.reportResult({
    ...failure(lease, name),
    ok: true,
    outputKey: lease.task!.outputKey,
    outputSha256: sha(data),
    outputBytes: data.length,
    outputWidth: 1,
    outputHeight: 1,
    outputFrames: 1,
    failure: FailureKind.FAILURE_KIND_UNSPECIFIED,
    error: '',
  });
}

describe('coordinator options for sharing and retries', () => {
  it('parses user weights and refuses malformed ones naming the entry', () => {
    expect(compileCoordinatorOptions({ userWeights: 'alice=2, bob=0.5' }).userWeights).toEqual(
      new Map([
        ['alice', 2],
        ['bob', 0.5],
      ]),
    );
    expect(compileCoordinatorOptions({}).userWeights.size).toBe(0);
    for (const bad of ['alice=0', 'alice', 'alice=-1', '=2', 'alice=x'])
      expect(() => compileCoordinatorOptions({ userWeights: bad })).toThrow(
        `option userWeights: ${JSON.stringify(bad)}`,
      );
    expect(() => compileCoordinatorOptions({ blocklistAfter: -1 })).toThrow(/blocklistAfter/);
    expect(compileCoordinatorOptions({}).blocklistAfter).toBe(3);
    expect(compileCoordinatorOptions({}).retryBackoffMs).toBe(1000);
    expect(compileCoordinatorOptions({}).retryBackoffMaxMs).toBe(30_000);
  });
});

describe('coordinator core', () => {
  it('holds a failed shard back for its retry backoff, doubling per attempt', async () => {
    const r = await rig({ retryBackoffMs: 1000, retryBackoffMaxMs: 1500, blocklistAfter: 0 });
    const job = await submit(r.c, 1);
    let lease = await ask(r.c, 'a');
    expect(lease?.ref?.fencingToken).toBe(1);
    await r.c.reportResult(failure(lease!, 'a'));
    // Not before 1 s has passed.
    expect(await ask(r.c, 'a')).toBeUndefined();
    r.clock.t += 999;
    expect(await ask(r.c, 'a')).toBeUndefined();
    r.clock.t += 1;
    lease = await ask(r.c, 'a');
    expect(lease?.ref?.fencingToken).toBe(2);
    // Second failure: 2 s, capped at 1.5 s.
    await r.c.reportResult(failure(lease!, 'a'));
    r.clock.t += 1499;
    expect(await ask(r.c, 'a')).toBeUndefined();
    r.clock.t += 1;
    expect((await ask(r.c, 'a'))?.ref).toMatchObject({ jobId: job.id, fencingToken: 3 });
  });

  it('a lost lease is requeued without backoff', async () => {
    const r = await rig({ retryBackoffMs: 60_000, leaseMs: 1000 });
    await submit(r.c, 1);
    expect(await ask(r.c, 'a')).toBeDefined();
    r.clock.t += 5000;
    r.c.sweep();
    await new Promise((res) => setTimeout(res, 10));
    expect((await ask(r.c, 'b'))?.ref?.fencingToken).toBe(2);
  });

  it('runs its sweeper on the injected clock: moving a manual clock past the lease requeues it', async () => {
    const manual = new ManualClock(1_000_000);
    const r = await rig(
      { leaseMs: 1000, retryBackoffMs: 0 },
      { store: new MemoryStateStore(), blobs: new MemoryBlobs(), clock: manual },
      250,
    );
    const job = await submit(r.c, 1);
    expect(job.id).toBe(`j${(1_000_000).toString(36)}0000000000`);
    const first = await ask(r.c, 'a');
    expect(first?.ref?.fencingToken).toBe(1);
    // No real time passes; the sweeps the manual clock fires find the lease expired.
    manual.advance(5_000);
    await new Promise((res) => setImmediate(res));
    const again = r.c.requestWork({ advert: advert('b'), waitMs: 1_000 });
    expect((await again).lease?.ref).toMatchObject({ jobId: job.id, fencingToken: 2 });
  });

  it('blocklists an agent after N failures on a job, persists it, and keeps it after a restart', async () => {
    const r = await rig({ retryBackoffMs: 0, blocklistAfter: 3 });
    const job = await submit(r.c, 3);
    // b is live (it asked once), so blocking a leaves the job runnable.
    expect((await ask(r.c, 'b'))?.ref).toBeDefined();
    for (let i = 0; i < 3; i++) {
      const lease = await ask(r.c, 'a');
      expect(lease?.ref?.jobId).toBe(job.id);
      await r.c.reportResult(failure(lease!, 'a'));
    }
    expect(r.c.jobRecord(job.id).blockedAgents).toEqual(['a']);
    expect(r.c.jobRecord(job.id).agentFailures).toEqual({ a: 3 });
    // Shards are queued, but a gets none of them; b does.
    expect(r.c.queuedCount()).toBeGreaterThan(0);
    expect(await ask(r.c, 'a')).toBeUndefined();
    expect((await ask(r.c, 'b'))?.ref?.jobId).toBe(job.id);
    const { waitingReason } = await r.c.getJob(job.id);
    expect(waitingReason).toBe('');
    // Persisted: a new coordinator over the same store still refuses a.
    r.c.stop();
    const again = await rig({ retryBackoffMs: 0, blocklistAfter: 3 }, r);
    expect(again.c.jobRecord(job.id).blockedAgents).toEqual(['a']);
    expect(await ask(again.c, 'a')).toBeUndefined();
    expect((await ask(again.c, 'b'))?.ref?.jobId).toBe(job.id);
  });

  it('fails the job when the blocklist leaves no live agent that can run it', async () => {
    const r = await rig({ retryBackoffMs: 0, blocklistAfter: 2 });
    const job = await submit(r.c, 2);
    for (let i = 0; i < 2; i++) await r.c.reportResult(failure((await ask(r.c, 'solo'))!, 'solo'));
    const rec = r.c.jobRecord(job.id);
    expect(rec.state).toBe('failed');
    expect(rec.error).toContain('blocklisted');
    expect(rec.error).toContain('solo');
    expect(r.c.queuedCount()).toBe(0);
  });

  it('shares agents between users by weight within a priority; priority comes first', async () => {
    const r = await rig({ userWeights: 'alice=3' });
    const alice = await submit(r.c, 4, { owner: 'alice' });
    const bob = await submit(r.c, 4, { owner: 'bob' });
    const owners: string[] = [];
    for (let i = 0; i < 8; i++) {
      const lease = await ask(r.c, `agent${i}`);
      owners.push(lease?.ref?.jobId === alice.id ? 'alice' : lease?.ref?.jobId === bob.id ? 'bob' : '?');
    }
    // Running per weight stays balanced: alice 6 (3 per unit), bob 2.
    expect(owners.filter((o) => o === 'alice')).toHaveLength(6);
    expect(owners.filter((o) => o === 'bob')).toHaveLength(2);
    const vip = await submit(r.c, 1, { owner: 'carol', priority: 9 });
    expect((await ask(r.c, 'agent9'))?.ref?.jobId).toBe(vip.id);
  });

  it('drops a finished job’s shard records from memory and reads them from the store on demand', async () => {
    const r = await rig();
    const job = await submit(r.c, 3);
    const held = r.c.heldShardCount();
    expect(held).toBe(9);
    const leases: Lease[] = [];
    for (let i = 0; i < 9; i++) leases.push((await ask(r.c, `a${i}`))!);
    for (const [i, l] of leases.entries()) expect((await commit(r, l, `a${i}`)).accepted).toBe(true);
    for (let i = 0; i < 100 && r.c.jobRecord(job.id).state !== 'succeeded'; i++)
      await new Promise((res) => setTimeout(res, 10));
    expect(r.c.jobRecord(job.id).state).toBe('succeeded');
    expect(r.c.heldShardCount()).toBe(0);
    const { shards } = await r.c.getJob(job.id);
    expect(shards.map((s) => s.state)).toEqual(Array(9).fill('done'));
    expect(r.c.shardsDone(job.id)).toBe(9);
    // A repeated report of a committed result is still a duplicate; a stale token is refused.
    expect(await commit(r, leases[4], 'a4')).toEqual({ accepted: true, reason: 'duplicate' });
    const stale = { ...leases[4], ref: { ...leases[4].ref!, fencingToken: 0 } };
    expect((await commit(r, stale, 'a4')).accepted).toBe(false);
  });
});

describe('dispatch latency', () => {
  it('times a work request that finds a shard waiting, not one that parks until work arrives', async () => {
    const r = await rig();
    const timed = async () =>
      (await r.metrics.grantLatency.get()).values.find((v) => v.metricName === 'tessera_grant_latency_seconds_count')
        ?.value ?? 0;
    // Nothing queued: the request parks, and the submission's shards wake it.
    const parked = r.c.requestWork({ advert: advert('a'), waitMs: 5_000 });
    expect(r.c.parkedRequests()).toBe(1);
    await submit(r.c, 2);
    expect((await parked).lease).toBeDefined();
    expect(r.c.parkedRequests()).toBe(0);
    expect(await timed()).toBe(0);
    // Shards are waiting: the next request is granted in its own dispatch pass, and timed.
    expect(await ask(r.c, 'b')).toBeDefined();
    expect(await timed()).toBe(1);
  });
});
