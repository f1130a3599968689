/** Every metric the agent exports, defined once (`tessera_agent_` process metrics, `tessera_` names). */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { createServiceRegistry } from '@tessera/runtime';
import { AGENT_VERSION } from './version.js';

export interface AgentMetrics {
  registry: Registry;
  shards: Counter<'model' | 'outcome'>;
  shardSeconds: Histogram<'model'>;
  vram: Gauge<'slot' | 'vram_class'>;
  busy: Gauge<'slot'>;
  modelLoad: Histogram<'model'>;
  natsReconnects: Counter<string>;
  /** Model store (issue 10): bytes and time fetched into the cache, cache size, hits and misses. */
  modelFetchedBytes: Counter<'model'>;
  modelFetchSeconds: Histogram<'model'>;
  modelCacheBytes: Gauge<string> & { collectFrom(fn: () => number): void };
  modelCacheHits: Counter<'model'>;
  modelCacheMisses: Counter<'model'>;
  modelSpeed: Gauge<'slot' | 'model'>;
}

export function createAgentMetrics(
  slots: () => {
    slot: string;
    vramClass: string;
    vramBytes: number;
    busy: boolean;
    speeds?: { model: string; unitsPerSecond: number }[];
  }[],
): AgentMetrics {
  const registry = createServiceRegistry('agent', 'tessera_agent_', AGENT_VERSION);
  const r = [registry];
  return {
    registry,
    shards: new Counter({
      name: 'tessera_agent_shards_total',
      help: 'Shards this agent ran, by model and outcome (committed, failed, abandoned, refused_*).',
      labelNames: ['model', 'outcome'],
      registers: r,
    }),
    shardSeconds: new Histogram({
      name: 'tessera_agent_shard_run_seconds',
      help: 'Engine time per shard on this agent, by model.',
      labelNames: ['model'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
      registers: r,
    }),
    vram: new Gauge({
      name: 'tessera_agent_vram_bytes',
      help: 'Usable VRAM of each slot of this agent.',
      labelNames: ['slot', 'vram_class'],
      registers: r,
      collect() {
        this.reset();
        for (const s of slots()) this.set({ slot: s.slot, vram_class: s.vramClass }, s.vramBytes);
      },
    }),
    busy: new Gauge({
      name: 'tessera_agent_busy',
      help: '1 while a slot runs a shard.',
      labelNames: ['slot'],
      registers: r,
      collect() {
        this.reset();
        for (const s of slots()) this.set({ slot: s.slot }, s.busy ? 1 : 0);
      },
    }),
    modelLoad: new Histogram({
      name: 'tessera_agent_model_load_seconds',
      help: 'Model load time: from dispatch to the engine first reporting progress, for models not yet loaded.',
      labelNames: ['model'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers: r,
    }),
    natsReconnects: new Counter({
      name: 'tessera_agent_nats_reconnects_total',
      help: 'Reconnections to NATS.',
      registers: r,
    }),
    modelSpeed: new Gauge({
      name: 'tessera_agent_model_speed',
      help: 'Measured throughput of each slot per model, smoothed (EWMA): work units per second (megapixel-steps, frame-steps or input megapixels, per the hardware table cost model).',
      labelNames: ['slot', 'model'],
      registers: r,
      collect() {
        this.reset();
        for (const s of slots())
          for (const m of s.speeds ?? []) this.set({ slot: s.slot, model: m.model }, m.unitsPerSecond);
      },
    }),
    ...modelMetrics(r),
  };
}

/** The model cache's metrics (issue 10). */
function modelMetrics(r: Registry[]) {
  let cacheBytes: () => number = () => 0;
  const gauge = new Gauge({
    name: 'tessera_agent_model_cache_bytes',
    help: 'Bytes of the models on this agent’s disk (--models: fetched and hand-provisioned).',
    registers: r,
    collect() {
      this.set(cacheBytes());
    },
  });
  return {
    modelFetchedBytes: new Counter({
      name: 'tessera_agent_model_fetched_bytes_total',
      help: 'Bytes of model files fetched from the farm’s model store, by model.',
      labelNames: ['model'] as const,
      registers: r,
    }),
    modelFetchSeconds: new Histogram({
      name: 'tessera_agent_model_fetch_seconds',
      help: 'Time to fetch, verify and install a model from the store, by model.',
      labelNames: ['model'] as const,
      buckets: [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
      registers: r,
    }),
    modelCacheBytes: Object.assign(gauge, { collectFrom: (fn: () => number) => (cacheBytes = fn) }),
    modelCacheHits: new Counter({
      name: 'tessera_agent_model_cache_hits_total',
      help: 'Shards whose model was already in the cache (or a hand-provisioned directory), by model.',
      labelNames: ['model'] as const,
      registers: r,
    }),
    modelCacheMisses: new Counter({
      name: 'tessera_agent_model_cache_misses_total',
      help: 'Shards whose model had to be fetched from the store first, by model.',
      labelNames: ['model'] as const,
      registers: r,
    }),
  };
}
