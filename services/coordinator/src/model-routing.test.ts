import { describe, expect, it } from 'vitest';
import { loadHardwareTable } from '@tessera/hardware';
import { missingModelReason, modelRank, requiredModels, type ModelCatalog } from './model-routing.js';
import { bestAgentFor, type IdleAgent, type QueuedShard } from './scheduler.js';

const table = loadHardwareTable();
const catalog = (stored: Record<string, number>, held: string[] = []): ModelCatalog => ({
  storedBytes: (m) => stored[m],
  heldByAnyAgent: (m) => held.includes(m),
});

describe('model routing', () => {
  it('lists the weights-bearing models a job needs, one per pipeline stage', () => {
    expect(requiredModels({ kind: 'video', model: 'svd-xt' }, table)).toEqual(['svd-xt']);
    const image = { stages: ['base', 'refiner'] } as never;
    expect(requiredModels({ kind: 'image', model: 'sdxl', image }, table)).toEqual(['sdxl', 'sdxl-refiner']);
    expect(requiredModels({ kind: 'upscale', model: 'esrgan-slim-x4' }, table)).toEqual([]);
    const refine = { model: 'sd15' } as never;
    expect(requiredModels({ kind: 'upscale', model: 'esrgan-slim-x4', refine }, table)).toEqual(['sd15']);
    // An image job's ControlNets and VAE are directories on the agent too.
    const attached = { stages: [], controlNets: [{ model: 'controlnet-canny-sd15' }], vae: 'kl-f8-anime2' } as never;
    expect(requiredModels({ kind: 'image', model: 'sd15', image: attached }, table)).toEqual([
      'sd15',
      'controlnet-canny-sd15',
      'kl-f8-anime2',
    ]);
  });

  it('refuses a model in no cache and not in the store, naming it and the push command', () => {
    expect(missingModelReason(['svd-xt'], catalog({}))).toMatch(
      /model svd-xt is in no agent's model cache and not in the farm's model store; push it with `tessera models push svd-xt DIR`/,
    );
    expect(missingModelReason(['svd-xt'], catalog({ 'svd-xt': 10 }))).toBe('');
    expect(missingModelReason(['svd-xt'], catalog({}, ['svd-xt']))).toBe('');
  });

  it('ranks holders first, fetchers second, and never an agent whose cache is too small', () => {
    const c = catalog({ 'svd-xt': 1000 });
    expect(modelRank({ modelsHeld: [{ id: 'svd-xt', digest: 'd', bytes: 1000 }] }, 'svd-xt', c)).toBe(0);
    expect(modelRank({ modelCacheCapacityBytes: 5000 }, 'svd-xt', c)).toBe(1);
    expect(modelRank({ modelCacheCapacityBytes: 0 }, 'svd-xt', c)).toBe(1);
    expect(modelRank({ modelCacheCapacityBytes: 999 }, 'svd-xt', c)).toBeNull();
  });

  it('the scheduler prefers the holder over a smaller idle class, and skips an agent that cannot hold it', () => {
    const c = catalog({ 'svd-xt': 1000 });
    const shard: QueuedShard = {
      key: 'j.0',
      jobId: 'j',
      index: 0,
      requiredClassGb: 16,
      priority: 0,
      jobCreatedMs: 0,
      failedOn: [],
      model: 'svd-xt',
    };
    const agent = (id: string, classGb: number, rank: number | null): IdleAgent => ({
      agentId: id,
      classGb,
      waitingSince: 0,
      modelRank: () => rank,
    });
    expect(bestAgentFor(shard, [agent('empty16', 16, 1), agent('holder24', 24, 0)])?.agentId).toBe('holder24');
    expect(bestAgentFor(shard, [agent('tiny', 24, null)])).toBeNull();
    expect(modelRank({ modelCacheCapacityBytes: 10 }, 'svd-xt', c)).toBeNull();
  });
});
