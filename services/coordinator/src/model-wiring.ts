/**
 * Wiring of the model store into a coordinator replica (issue 10): opens (creates) the store's
 * buckets, follows which agents hold which models, and builds the ModelService. main.ts calls
 * `startModels` once and mounts `service`; `stop` ends the heartbeat subscription.
 */
import type * as grpc from '@grpc/grpc-js';
import type { NatsConnection } from '@nats-io/transport-node';
import { ModelStore } from '@tessera/models';
import type { FarmNames } from '@tessera/protocol';
import type { Logger } from '@tessera/runtime';
import type { HardwareTable } from '@tessera/hardware';
import type { Role } from './auth.js';
import { FailedPreconditionError } from './errors.js';
import type { JobRecord } from './model.js';
import { watchModelHolders, type Holder } from './model-holders.js';
import { missingModelReason, requiredModels, type ModelCatalog } from './model-routing.js';
import { modelService, type ModelAccess } from './model-service.js';

export interface ModelsHandle {
  store: ModelStore;
  /** The ModelService implementation to mount. */
  service: grpc.UntypedServiceImplementation;
  /** model id → live agents advertising it. */
  holders(): Map<string, Holder[]>;
  /** What routing reads: store sizes (following the store's manifests) and the fleet's copies. */
  catalog: ModelCatalog;
  /**
   * Called when the store's list of models changed (a push or a removal landed): the leader's dispatch
   * re-runs, since an agent that could not fetch a model a moment ago may take its shards now.
   */
  onCatalogChange?: () => void;
  /** Refuses (FAILED_PRECONDITION) a job needing a model in no cache and not in the store. */
  gate(job: JobRecord): Promise<void>;
  /** Why a queued job waits for a model ('' when it does not). */
  waitReason(job: JobRecord): string;
  stop(): void;
}

/**
 * How often the coordinator re-reads the store's manifests anyway (a safety net: a watch on the
 * manifests brings each push and removal at once).
 */
const CATALOG_REFRESH_MS = 30_000;

export async function startModels(
  nc: NatsConnection,
  names: FarmNames,
  farm: string,
  table: HardwareTable,
  roles: ReadonlyMap<string, Role>,
  log: Logger,
  allowLatePush = false,
): Promise<ModelsHandle> {
  const store = await ModelStore.open(nc, { farm, create: true });
  const watch = watchModelHolders(nc, names);
  let sizes = new Map<string, number>();
  const self: { handle?: ModelsHandle } = {};
  // Refreshes run one after another, so a slow older listing never overwrites a newer one; a burst of
  // watch events (a store of many models at start, a push of many files) shares the one listing that
  // has not started yet instead of listing the store once per event.
  let chain = Promise.resolve();
  let pending: Promise<void> | undefined;
  const refresh = (): Promise<void> => {
    if (pending) return pending;
    chain = chain.then(() => {
      pending = undefined;
      return relist();
    });
    return (pending = chain);
  };
  const relist = async () => {
    try {
      const next = new Map((await store.list()).map((m) => [m.id, m.totalBytes]));
      const changed = next.size !== sizes.size || [...next].some(([id, b]) => sizes.get(id) !== b);
      sizes = next;
      if (changed) self.handle?.onCatalogChange?.();
    } catch (err) {
      log.warn({ err }, 'model store: cannot list manifests (routing keeps the last list)');
    }
  };
  await refresh();
  const timer = setInterval(() => void refresh(), CATALOG_REFRESH_MS);
  timer.unref();
  const unwatch = await store.watch(() => void refresh());
  const catalog: ModelCatalog = {
    storedBytes: (m) => sizes.get(m),
    heldByAnyAgent: (m) => (watch.holders().get(m)?.length ?? 0) > 0,
    needsWeights: (m) => {
      const kind = table.models.get(m)?.kind ?? table.models.get(m.replace(/-[a-z]+$/, ''))?.kind;
      return kind === 'image' || kind === 'video';
    },
  };
  const access: ModelAccess = { roles };
  const service = modelService({ store, holders: watch.holders, access, log: log.child({ component: 'models' }) });
  const handle: ModelsHandle = (self.handle = {
    store,
    service: service as unknown as grpc.UntypedServiceImplementation,
    holders: watch.holders,
    catalog,
    waitReason: (job) => {
      const why = missingModelReason(requiredModels(job, table), catalog);
      return why && `waiting for a model: ${why}`;
    },
    async gate(job) {
      if (allowLatePush) return;
      const needed = requiredModels(job, table);
      if (!needed.length) return;
      // The cached list first; a miss re-reads the store (a push a moment ago counts).
      if (!missingModelReason(needed, catalog)) return;
      await refresh();
      const why = missingModelReason(needed, catalog);
      if (why) throw new FailedPreconditionError(why);
    },
    stop() {
      clearInterval(timer);
      unwatch();
      watch.stop();
    },
  });
  return handle;
}
