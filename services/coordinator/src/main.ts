/**
 * Wiring: the one place that builds the coordinator from its options. A coordinator is a function
 * of its config: `startCoordinator(options)` → a handle with the bound ports and `stop()`.
 */
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { jetstream } from '@nats-io/jetstream';
import { loadHardwareTable, classLabel } from '@tessera/hardware';
import { farmNames } from '@tessera/protocol';
import { blobReader, connectService, createLogger, startHttp, type Logger } from '@tessera/runtime';
import { createImageAssembler, createRefinePreparer, createUpscaleAssembler } from './assembler.js';
import { createVideoAssembler } from './video-assembler.js';
import { ObjBlobStore } from './blobs.js';
import { systemClock } from './clock.js';
import { createSharpCodec } from './codec.js';
import { Coordinator, type Assemble } from './coordinator.js';
import type { JobKind } from './model.js';
import { NatsEvents } from './events.js';
import { startGrpcServer } from './grpc-server.js';
import { createCoordinatorMetrics } from './metrics.js';
import { serveAgentProtocol } from './nats-handlers.js';
import { compileCoordinatorOptions, type CoordinatorOptions } from './options.js';
import { KvStateStore } from './state/kv-store.js';

export interface CoordinatorHandle {
  grpcPort: number;
  metricsPort: number;
  coordinator: Coordinator;
  log: Logger;
  stop(): Promise<void>;
}

/** Starts a coordinator: NATS, state, blobs, gRPC, metrics. Throws with a clear message on bad config. */
export async function startCoordinator(
  raw: CoordinatorOptions,
  log: Logger = createLogger('coordinator'),
): Promise<CoordinatorHandle> {
  const options = compileCoordinatorOptions(raw);
  const table = loadHardwareTable(options.hardwareTable);
  const names = farmNames(options.farm);
  // The metrics read live state at scrape time; the coordinator they read is created just below.
  const live: { coordinator?: Coordinator } = {};
  const metrics = createCoordinatorMetrics({
    queuedByClass: () =>
      new Map(
        [...(live.coordinator?.queuedByClass() ?? new Map<number, number>())].map(([k, v]) => [classLabel(k), v]),
      ),
    agents: () =>
      (live.coordinator?.agents(true) ?? []).map(({ entry, state }) => ({
        vramClass: classLabel(entry.classGb),
        state: ['unspecified', 'idle', 'busy', 'draining', 'lost'][state] ?? 'unknown',
        name: entry.advert.name,
        vramBytes: Math.round(entry.advert.vramUsableGb * 1024 ** 3),
      })),
    shardRecordsHeld: () => live.coordinator?.heldShardCount() ?? 0,
  });
  const hello = () => {
    try {
      nc.publish(names.hello);
    } catch {
      // announced again at the next reconnect
    }
  };
  const nc = await connectService({
    servers: options.natsUrl,
    name: 'tessera-coordinator',
    log,
    onReconnect: () => {
      metrics.natsReconnects.inc();
      live.coordinator?.setOnline(true);
      hello();
    },
    onDisconnect: () => live.coordinator?.setOnline(false),
  });
  const js = jetstream(nc);
  const kv = await new Kvm(js).create(names.stateBucket, { history: 1, storage: 'file' } as never);
  const os = await new Objm(js).create(names.blobBucket, { storage: 'file' } as never);
  const blobs = new ObjBlobStore(os, blobReader(nc, os));
  const events = new NatsEvents(nc, names);
  const c = new Coordinator({
    store: new KvStateStore(kv),
    blobs,
    table,
    codec: await createSharpCodec(),
    assemble: byKind({
      upscale: createUpscaleAssembler(blobs, log),
      video: createVideoAssembler(blobs, log),
      video_upscale: createVideoAssembler(blobs, log),
      image: createImageAssembler(blobs),
    }),
    prepareRefine: createRefinePreparer(blobs),
    clock: systemClock,
    events,
    metrics,
    log,
    options,
  });
  live.coordinator = c;
  events.progress = (id) => {
    try {
      return { shardsDone: c.shardsDone(id), waitingReason: c.jobWaitingReason(c.jobRecord(id)) };
    } catch {
      return { shardsDone: 0, waitingReason: '' };
    }
  };
  await c.start();
  const subs = serveAgentProtocol(nc, names, c, log);
  // Agents whose work requests went to a coordinator that died ask again now, not at their timeout.
  hello();
  const grpc = await startGrpcServer({ coordinator: c, blobs, nc, names, options, log });
  let ready = true;
  const http = options.metricsAddr
    ? await startHttp(options.metricsAddr, metrics.registry, () => ready && !nc.isClosed())
    : undefined;
  for (const svc of ['', 'tessera.v1.JobService', 'tessera.v1.AgentService']) grpc.health.setStatus(svc, 'SERVING');
  log.info(
    { grpc: grpc.port, metrics: http?.port, nats: options.natsUrl, models: table.models.size },
    'coordinator ready',
  );
  return {
    grpcPort: grpc.port,
    metricsPort: http?.port ?? 0,
    coordinator: c,
    log,
    async stop() {
      ready = false;
      for (const svc of ['', 'tessera.v1.JobService', 'tessera.v1.AgentService'])
        grpc.health.setStatus(svc, 'NOT_SERVING');
      c.stop();
      for (const s of subs) s.unsubscribe();
      await grpc.stop();
      await http?.close();
      await nc.drain().catch(() => undefined);
    },
  };
}

/** Routes assembly by job kind. */
function byKind(table: Record<JobKind, Assemble>): Assemble {
  return (job, shards) => table[job.kind](job, shards);
}
