/**
 * Assembly while the object store fails (found by test/chaos.test.ts: a nats-server restart during
 * an assembly crashed the coordinator). Tiles fetched ahead of their turn that fail must fail the
 * assembly (which is retried), never surface as unhandled rejections, which kill the process.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadHardwareTable } from '@tessera/hardware';
import { blobKeys } from '@tessera/protocol';
import { createUpscaleAssembler, shardOutput } from './assembler.js';
import { BlobCorruptError, type BlobStore } from './blobs.js';
import { newShard } from './model.js';
import { ShardOutputCorruptError } from './shell/deps.js';
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

  it('tells a corrupt shard output (run the shard again) from store trouble (retry) by error class', async () => {
    const s = {
      ...newShard({ jobId: 'j', index: 4, stage: 'upscale', kind: 'upscale_tile', requiredClassGb: 8, seed: 0 }),
      outputKey: 'k',
    };
    const failing = (e: Error) => ({ get: () => Promise.reject(e) }) as unknown as BlobStore;
    const corrupt = shardOutput(failing(new BlobCorruptError('k', 'blob k is corrupt: 3 bytes')), s, 'shard');
    await expect(corrupt).rejects.toBeInstanceOf(ShardOutputCorruptError);
    await expect(corrupt).rejects.toMatchObject({ shardIndex: 4 });
    // Text that merely mentions a digest is not corruption unless the store says so by class.
    const trouble = new Error('timeout reading digest of k');
    await expect(shardOutput(failing(trouble), s, 'shard')).rejects.toBe(trouble);
    const missing = { get: async () => null } as unknown as BlobStore;
    await expect(shardOutput(missing, s, 'batch')).rejects.toThrow('output of batch 4 is missing');
  });
});
