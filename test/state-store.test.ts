/** The StateStore conformance suite against the in-memory store and the JetStream KV store (real nats-server). */
import { afterAll, beforeAll } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { KvStateStore } from '../services/coordinator/src/state/kv-store.js';
import { MemoryStateStore } from '../services/coordinator/src/state/memory-store.js';
import { stateStoreConformance } from './helpers/state-store-conformance.js';
import { startNats, type TestNats } from './helpers/nats-server.js';

let nats: TestNats;
let nc: NatsConnection;
let buckets = 0;

beforeAll(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
});
afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

stateStoreConformance('in memory', async () => new MemoryStateStore());
stateStoreConformance('JetStream KV', async () => {
  // The production bucket's settings (main.ts), a fresh bucket per test.
  const kv = await new Kvm(jetstream(nc)).create(`conformance-${process.pid}-${buckets++}`, {
    history: 1,
    storage: 'file',
  } as never);
  return new KvStateStore(kv);
});
