/**
 * The speed hook in the coordinator's dispatch (coordinator.ts `hook(speed)`), through the agent
 * protocol over the in-memory stores: a measured slow agent is held back from a shard a faster agent
 * about to free up would finish sooner, and tasks carry their work units.
 */
import { createHash } from 'node:crypto';
import pino from 'pino';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { loadHardwareTable } from '@tessera/hardware';
import type { AgentAdvert, ModelSpeed } from '@tessera/protocol';
import type { BlobInfo, BlobStore } from '../blobs.js';
import { createSharpCodec } from '../codec.js';
import { Coordinator } from '../coordinator.js';
import { createCoordinatorMetrics } from '../metrics.js';
import { compileCoordinatorOptions } from '../options.js';
import { MemoryStateStore } from '../state/memory-store.js';
import { simAdvert } from '../sim/sim-shell.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

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

const MODEL = 'esrgan-slim-x2';
const advert = (name: string, unitsPerSecond?: number): AgentAdvert => ({
  ...simAdvert(`${name}-id`, name, 8),
  modelSpeeds: unitsPerSecond === undefined ? [] : [{ model: MODEL, unitsPerSecond, samples: 3 } satisfies ModelSpeed],
});

const running: Coordinator[] = [];
afterEach(() => {
  for (const c of running.splice(0)) c.stop();
});

async function coordinator(): Promise<Coordinator> {
  const clock = { now: () => 1_000_000 };
  const c = new Coordinator({
    store: new MemoryStateStore(),
    blobs: new MemoryBlobs(),
    table: loadHardwareTable(),
    codec: await createSharpCodec(),
    assemble: async () => [],
    prepareRefine: async () => new Map(),
    clock,
    events: { jobChanged: () => {}, shardChanged: () => {}, jobCancelled: () => {} },
    metrics: createCoordinatorMetrics({ queuedByClass: () => new Map(), agents: () => [] }),
    log: pino({ level: 'silent' }),
    options: compileCoordinatorOptions({ sweepEveryMs: 3_600_000 }),
  });
  await c.start();
  running.push(c);
  return c;
}

/** A one-tile upscale of a 16 px image. */
async function submitOneTile(c: Coordinator): Promise<void> {
  const image = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#345' } })
    .png()
    .toBuffer();
  await c.submitUpscale({
    name: 'u',
    seed: 1,
    priority: 0,
    maxAttempts: 3,
    image,
    model: MODEL,
    tile: 16,
    overlap: 10,
  });
}

const ask = async (c: Coordinator, a: AgentAdvert, waitMs = 50) => (await c.requestWork({ advert: a, waitMs })).lease;

describe('the speed hook in dispatch', () => {
  it('holds a measured slow agent back while a measured fast one about to free up would finish sooner', async () => {
    const c = await coordinator();
    const fast = advert('fast', 10);
    const slow = advert('slow', 0.1);
    await submitOneTile(c);
    const first = await ask(c, fast);
    // One tile covering the whole 16 px image: its input is the image (no context beyond the border).
    expect(first?.task?.workUnits).toBeCloseTo((16 * 16) / 1e6, 9);
    await submitOneTile(c);
    // The fast agent holds a lease whose expected run is ~0.1 ms; the slow one would need 100× that.
    expect(await ask(c, slow)).toBeUndefined();
    // Without the fast agent around the slow one takes it (work-conserving for the fastest fitting agent).
    const c2 = await coordinator();
    await submitOneTile(c2);
    expect((await ask(c2, slow))?.ref?.shardIndex).toBe(0);
  });

  it('never holds back an agent that has not measured the model', async () => {
    const c = await coordinator();
    await submitOneTile(c);
    expect(await ask(c, advert('fast', 10))).toBeDefined();
    await submitOneTile(c);
    expect(await ask(c, advert('fresh'))).toBeDefined();
  });
});
