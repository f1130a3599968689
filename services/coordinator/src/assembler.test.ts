/**
 * Assembly while the object store fails (found by test/chaos.test.ts: a nats-server restart during
 * an assembly crashed the coordinator). Tiles fetched ahead of their turn that fail must fail the
 * assembly (which is retried), never surface as unhandled rejections, which kill the process.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadHardwareTable } from '@tessera/hardware';
import { blobKeys } from '@tessera/protocol';
import { createUpscaleAssembler } from './assembler.js';
import type { BlobStore } from './blobs.js';
import { compileCoordinatorOptions } from './options.js';
import { planUpscale } from './planner.js';

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
const turn = () => new Promise((r) => setImmediate(r));

afterEach(() => {
  process.off('unhandledRejection', onUnhandled);
  unhandled.length = 0;
});

describe('upscale assembly', () => {
  it('fails without unhandled rejections when prefetched tiles fail before the tile awaited', async () => {
    process.on('unhandledRejection', onUnhandled);
    const { job, shards } = planUpscale(
      {
        jobId: 'jtest',
        name: '',
        model: 'esrgan-slim-x2',
        seed: 1,
        priority: 0,
        maxAttempts: 3,
        width: 96,
        height: 64,
        tile: 32,
        overlap: 12,
        agents: 1,
        nowMs: 0,
      },
      loadHardwareTable(),
      compileCoordinatorOptions(),
    );
    expect(shards.length).toBeGreaterThan(4);
    for (const s of shards) s.outputKey = blobKeys.shardOutput(job.id, s.index, 1);
    // Tile 0's fetch hangs until released; every other fetch fails at once (NATS went away).
    let releaseFirst: (e: Error) => void = () => {};
    const first = new Promise<Uint8Array>((_, reject) => (releaseFirst = reject));
    const blobs = {
      get: (key: string) =>
        key === shards[0].outputKey ? first : Promise.reject(new Error(`timeout fetching ${key}`)),
    } as unknown as BlobStore;
    const assembly = createUpscaleAssembler(blobs)(job, shards);
    assembly.catch(() => undefined);
    await turn();
    releaseFirst(new Error('timeout fetching tile 0'));
    await expect(assembly).rejects.toThrow('timeout fetching tile 0');
    await turn();
    expect(unhandled).toEqual([]);
  });
});
