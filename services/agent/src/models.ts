/**
 * The agent's side of the farm's model store (issue 10): one content-addressed cache per agent
 * process (`--models DIR`, bounded by `--model-cache-gb`), shared by its slots, so several slots
 * needing one model share one download. Slots ask `hold(id)` for a model directory before running a
 * shard; a model the agent cannot get becomes ModelUnavailableError, which the slot reports as
 * FAILURE_KIND_MODEL_UNAVAILABLE (never a shard failure, never a blocklist).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import {
  ModelCache,
  ModelIntegrityError,
  ModelNotFoundError,
  ModelStore,
  ModelTooLargeError,
  type ModelLease,
} from '@tessera/models';
import type { HeldModel } from '@tessera/protocol';
import type { Logger } from '@tessera/runtime';
import type { AgentMetrics } from './metrics.js';

/** The agent could not get a shard's model; the message names `--models` and the push command. */
export class ModelUnavailableError extends Error {
  override readonly name = 'ModelUnavailableError';
}

/** What adverts carry about the cache. */
export interface ModelAdvertFields {
  modelsHeld: HeldModel[];
  modelCacheFreeBytes: number;
  modelCacheCapacityBytes: number;
}

export interface AgentModels {
  /** The directory of model `id`, fetched if needed; release it after the shard. */
  hold(id: string, signal?: AbortSignal): Promise<ModelLease>;
  /**
   * Holds several directories (a stage's model, its ControlNets and VAE), each fetched if needed: all
   * or none (a failure releases those already held). `dirOf(id)` gives a held one's directory.
   */
  holdAll(ids: readonly string[], signal?: AbortSignal): Promise<{ dirOf(id: string): string; release(): void }>;
  /** Fetches `id` ahead of need if the store has it and it fits without evicting (never throws). */
  prefetch(id: string): Promise<void>;
  advert(): ModelAdvertFields;
}

export async function createAgentModels(o: {
  nc: NatsConnection;
  farm: string;
  dir: string;
  capacityBytes: number;
  metrics: AgentMetrics;
  log: Logger;
}): Promise<AgentModels> {
  let store: ModelStore | undefined;
  const cache = new ModelCache({
    dir: o.dir,
    capacityBytes: o.capacityBytes,
    store: async () => {
      // The coordinator creates the buckets; until then there is nothing to fetch.
      store ??= await ModelStore.open(o.nc, { farm: o.farm }).catch(() => undefined);
      return store ?? null;
    },
    onFetched: (s) => {
      o.metrics.modelFetchedBytes.inc({ model: s.model }, s.bytes);
      o.metrics.modelFetchSeconds.observe({ model: s.model }, s.seconds);
      o.log.info({ model: s.model, bytes: s.bytes, seconds: Number(s.seconds.toFixed(2)) }, 'model fetched');
    },
    onHit: (m) => o.metrics.modelCacheHits.inc({ model: m }),
    onMiss: (m) => o.metrics.modelCacheMisses.inc({ model: m }),
    onEvicted: (m, bytes) => o.log.info({ model: m, bytes }, 'model evicted from the cache (least recently used)'),
  });
  await cache.init();
  o.metrics.modelCacheBytes.collectFrom(() => cache.held().reduce((s, m) => s + m.bytes, 0));
  const hold = async (id: string, signal?: AbortSignal): Promise<ModelLease> => {
    try {
      return await cache.acquire(id, signal);
    } catch (e) {
      if (e instanceof ModelNotFoundError)
        throw new ModelUnavailableError(
          `model ${id} is not in this agent's --models directory (${o.dir}) nor in the farm's model store; ` +
            `push it with \`tessera models push ${id} DIR\``,
          { cause: e },
        );
      if (e instanceof ModelTooLargeError || e instanceof ModelIntegrityError)
        throw new ModelUnavailableError(`${e.message} (agent --models ${o.dir})`, { cause: e });
      throw e;
    }
  };
  return {
    hold,
    async holdAll(ids, signal) {
      const leases = new Map<string, ModelLease>();
      const release = () => leases.forEach((l) => l.release());
      try {
        for (const id of new Set(ids)) leases.set(id, await hold(id, signal));
      } catch (e) {
        release();
        throw e;
      }
      return { dirOf: (id) => leases.get(id)!.dir, release };
    },
    async prefetch(id) {
      try {
        if (await cache.prefetch(id)) o.log.info({ model: id }, 'model prefetched for a queued job');
      } catch (err) {
        o.log.warn({ err, model: id }, 'model prefetch failed (the model is fetched again when a shard needs it)');
      }
    },
    advert: () => ({
      modelsHeld: cache.held().map((m) => ({ id: m.id, digest: m.digest, bytes: m.bytes })),
      modelCacheFreeBytes: cache.freeBytes(),
      modelCacheCapacityBytes: cache.capacityBytes(),
    }),
  };
}
