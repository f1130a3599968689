/**
 * Issue 10: an agent that cannot get a shard's model reports FAILURE_KIND_MODEL_UNAVAILABLE; the
 * coordinator requeues the shard for another agent without counting a failure against the agent
 * (never a blocklist), unlike engine errors. Driven through the core with an in-memory store.
 */
import { createHash } from 'node:crypto';
import pino from 'pino';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { loadHardwareTable } from '@tessera/hardware';
import { FailureKind, type AgentAdvert, type Lease, type ShardResult } from '@tessera/protocol';
import type { BlobInfo, BlobStore } from './blobs.js';
import { createSharpCodec } from './codec.js';
import { Coordinator } from './coordinator.js';
import { createCoordinatorMetrics } from './metrics.js';
import { compileCoordinatorOptions } from './options.js';
import { MemoryStateStore } from './state/memory-store.js';
import { simAdvert } from './sim/sim-shell.js';

const blobs = new Map<string, Uint8Array>();
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const memoryBlobs: BlobStore = {
  async put(key: string, data: Uint8Array): Promise<BlobInfo> {
    blobs.set(key, data);
    return { size: data.length, sha256: sha(data) };
  },
  async putStream(): Promise<BlobInfo> {
    throw new Error('not used');
  },
  async get(key: string) {
    return blobs.get(key) ?? null;
  },
  async getStream() {
    return null;
  },
  async info(key: string) {
    const d = blobs.get(key);
    return d ? { size: d.length, sha256: sha(d) } : null;
  },
  async delete(key: string) {
    blobs.delete(key);
  },
};

const advert = (name: string): AgentAdvert => simAdvert(`${name}-id`, name, 8);

const running: Coordinator[] = [];
afterEach(() => {
  for (const c of running.splice(0)) c.stop();
});

async function coordinator(): Promise<Coordinator> {
  const clock = { t: 1_000_000, now: () => clock.t };
  const c = new Coordinator({
    store: new MemoryStateStore(),
    blobs: memoryBlobs,
    table: loadHardwareTable(),
    codec: await createSharpCodec(),
    assemble: async () => [],
    prepareRefine: async () => new Map(),
    clock,
    events: { jobChanged: () => {}, shardChanged: () => {}, jobCancelled: () => {} },
    metrics: createCoordinatorMetrics({ queuedByClass: () => new Map(), agents: () => [] }),
    log: pino({ level: 'silent' }),
    options: compileCoordinatorOptions({ sweepEveryMs: 3_600_000, retryBackoffMs: 0, blocklistAfter: 2 }),
  });
  await c.start();
  running.push(c);
  // The requeue holds the shard back 1 s: move the clock past it.
  return Object.assign(c, { tick: () => (clock.t += 2000) });
}

const unavailable = (lease: Lease, name: string): ShardResult => ({
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
  failure: FailureKind.FAILURE_KIND_MODEL_UNAVAILABLE,
  error: 'model x is not in this agent’s --models directory; push it with `tessera models push x DIR`',
});

describe('MODEL_UNAVAILABLE results', () => {
  it('requeue the shard without counting a failure or blocklisting the agent', async () => {
    const c = await coordinator();
    const image = await sharp({ create: { width: 16, height: 16, channels: 3, background: 'gray' } })
      .png()
      .toBuffer();
    const job = await c.submitUpscale({
      name: 'u',
      seed: 1,
      priority: 0,
      maxAttempts: 10,
      image,
      model: 'esrgan-slim-x2',
      tile: 16,
      overlap: 10,
    });
    for (let i = 0; i < 3; i++) {
      const lease = (await c.requestWork({ advert: advert('a'), waitMs: 20 })).lease!;
      expect(lease.ref?.jobId).toBe(job.id);
      await c.reportResult(unavailable(lease, 'a'));
      (c as unknown as { tick(): void }).tick();
    }
    const rec = c.jobRecord(job.id);
    expect(rec.state).not.toBe('failed');
    expect(rec.blockedAgents ?? []).toEqual([]);
    expect(rec.agentFailures ?? {}).toEqual({});
    const { shards } = await c.getJob(job.id);
    expect(shards[0].state).toBe('queued');
    expect(shards[0].reason).toMatch(/tessera models push x DIR/);
  });
});
