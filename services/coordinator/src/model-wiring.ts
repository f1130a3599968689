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
import { watchModelHolders, type Holder } from './model-holders.js';
import { modelService, type ModelAccess } from './model-service.js';

export interface ModelsHandle {
  store: ModelStore;
  /** The ModelService implementation to mount. */
  service: grpc.UntypedServiceImplementation;
  /** model id → live agents advertising it. */
  holders(): Map<string, Holder[]>;
  stop(): void;
}

/** Admin users of the model store from `$TESSERA_MODEL_ADMINS` (comma-separated), default `admin`. */
export function modelAdmins(env: NodeJS.ProcessEnv = process.env): string[] {
  const list = (env.TESSERA_MODEL_ADMINS ?? 'admin')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return list;
}

export async function startModels(
  nc: NatsConnection,
  names: FarmNames,
  farm: string,
  authenticated: boolean,
  log: Logger,
): Promise<ModelsHandle> {
  const store = await ModelStore.open(nc, { farm, create: true });
  const watch = watchModelHolders(nc, names);
  const access: ModelAccess = { authenticated, admins: modelAdmins() };
  const service = modelService({ store, holders: watch.holders, access, log: log.child({ component: 'models' }) });
  return {
    store,
    service: service as unknown as grpc.UntypedServiceImplementation,
    holders: watch.holders,
    stop: watch.stop,
  };
}
