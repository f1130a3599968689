/**
 * Wiring: the one place that builds the coordinator from its options. A coordinator is a function
 * of its config: `startCoordinator(options)` → a handle with the bound ports and `stop()`.
 */
import { X509Certificate } from 'node:crypto';
import { hostname } from 'node:os';
import * as grpc from '@grpc/grpc-js';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import { jetstream } from '@nats-io/jetstream';
import { loadHardwareTable, classLabel } from '@tessera/hardware';
import type { Subscription } from '@nats-io/transport-node';
import { AgentServiceService, BLOB_CHUNK_BYTES, JobServiceService, farmNames } from '@tessera/protocol';
import { blobAccess, connectService, createLogger, startHttp, type Logger } from '@tessera/runtime';
import { ObjBlobStore } from './blobs.js';
import { systemClock } from './clock.js';
import { createSharpCodec } from './codec.js';
import { Coordinator } from './coordinator.js';
import { assemblers, upscale } from './kinds/index.js';
import type { Assemble } from './shell/deps.js';
import type { JobKind } from './model.js';
import { NatsEvents } from './events.js';
import { agentService, jobService, startGrpcServer } from './grpc-server.js';
import { Forwarder, routed } from './forward.js';
import { LeaderLease, type LeaderRecord } from './leader.js';
import { FencedStateStore } from './state/fenced-store.js';
import { createCoordinatorMetrics } from './metrics.js';
import { serveAgentProtocol } from './nats-handlers.js';
import { compileCoordinatorOptions, type CompiledCoordinatorOptions, type CoordinatorOptions } from './options.js';
import { KvStateStore } from './state/kv-store.js';
import { startConsole } from './console/server.js';
import { rolesOf } from './access.js';
import { startModels } from './model-wiring.js';
import { speedSamples } from './placement/speeds.js';

export interface CoordinatorHandle {
  grpcPort: number;
  metricsPort: number;
  /** The web console's URL, when `consoleAddr` is set. */
  consoleUrl: string | undefined;
  /** The core while this replica leads; undefined on a standby. */
  readonly coordinator: Coordinator | undefined;
  lease: LeaderLease;
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
  /** The core, its NATS subscriptions and its API, while this replica leads (metrics read it at scrape time). */
  let core:
    | {
        c: Coordinator;
        subs: Subscription[];
        jobs: grpc.UntypedServiceImplementation;
        agents: grpc.UntypedServiceImplementation;
      }
    | undefined;
  const metrics = createCoordinatorMetrics({
    queuedByClass: () =>
      new Map([...(core?.c.queuedByClass() ?? new Map<number, number>())].map(([k, v]) => [classLabel(k), v])),
    agents: () =>
      (core?.c.agents(true) ?? []).map(({ entry, state }) => ({
        vramClass: classLabel(entry.classGb),
        state: ['unspecified', 'idle', 'busy', 'draining', 'lost'][state] ?? 'unknown',
        name: entry.advert.name,
        vramBytes: Math.round(entry.advert.vramUsableGb * 1024 ** 3),
      })),
    shardRecordsHeld: () => core?.c.heldShardCount() ?? 0,
    workRequestsParked: () => core?.c.parkedRequests() ?? 0,
    agentSpeeds: () =>
      (core?.c.agents(false) ?? []).flatMap(({ entry }) =>
        speedSamples(table, { name: entry.advert.name, classGb: entry.classGb, modelSpeeds: entry.advert.modelSpeeds }),
      ),
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
      core?.c.setOnline(true);
      hello();
    },
    onDisconnect: () => core?.c.setOnline(false),
  });
  const js = jetstream(nc);
  const kv = await new Kvm(js).create(names.stateBucket, { history: 1, storage: 'file' } as never);
  const os = await new Objm(js).create(names.blobBucket, { storage: 'file' } as never);
  const blobs = new ObjBlobStore(os, blobAccess(nc, os, names.blobBucket, BLOB_CHUNK_BYTES));
  const events = new NatsEvents(nc, names);
  // hook(models): the farm's model store and its ModelService (model-wiring.ts).
  const models = await startModels(
    nc,
    names,
    options.farm,
    table,
    rolesOf(options.apiUsers),
    log,
    options.allowLateModelPush,
  );
  // A push or removal changes which agents may take a model's shards: the leader dispatches again.
  models.onCatalogChange = () => core?.c.redispatch();
  const codec = await createSharpCodec();

  // The gRPC server starts first, on every replica: a standby forwards to the leader.
  // The lease is created once the server's port is known; routes read it through this holder.
  const election: { lease?: LeaderLease } = {};
  const route = (pick: 'jobs' | 'agents') => ({
    local: () => (election.lease?.isLeader() ? core?.[pick] : undefined),
    leaderAddr: () => {
      const l = election.lease?.leader();
      return l && l.id !== options.replicaId ? l.grpcAddr : undefined;
    },
  });
  const forwarder = new Forwarder(
    options.replicaId,
    () => forwardCredentials(options.tls),
    log,
    forwardChannelOptions(options.tls),
  );
  const server = await startGrpcServer({
    options,
    log,
    jobs: routed(JobServiceService, route('jobs'), forwarder),
    agents: routed(AgentServiceService, route('agents'), forwarder),
    models: models.service, // hook(models): mount ModelService
  });
  const grpcAddr = options.advertiseAddr || advertisedAddr(options.grpcAddr, server.port);

  const becomeLeader = async (rec: LeaderRecord) => {
    const t0 = performance.now();
    const c = new Coordinator({
      // Writes only while the lease is surely ours: a paused ex-leader cannot overwrite its successor.
      store: new FencedStateStore(new KvStateStore(kv), () => election.lease?.isLeader() ?? false),
      blobs,
      table,
      codec,
      assemble: byKind(assemblers(blobs, log, { spoolDir: options.assemblyDir })), // hook(scale)
      prepareRefine: upscale.createRefinePreparer(blobs),
      clock: systemClock,
      events,
      metrics,
      log,
      options,
      modelCatalog: models.catalog, // hook(models): route by model held / fetchable
      modelGate: models.gate, // hook(models): refuse a job whose model is nowhere
      modelWaitReason: models.waitReason, // hook(models): or say why it waits
    });
    await c.start();
    events.progress = (id) => {
      try {
        return { shardsDone: c.shardsDone(id), waitingReason: c.jobWaitingReason(c.jobRecord(id)) };
      } catch {
        return { shardsDone: 0, waitingReason: '' };
      }
    };
    const deps = { coordinator: c, blobs, nc, names, options, log };
    core = {
      c,
      subs: serveAgentProtocol(nc, names, c, log),
      jobs: jobService(deps) as unknown as grpc.UntypedServiceImplementation,
      agents: agentService(deps) as unknown as grpc.UntypedServiceImplementation,
    };
    metrics.isLeader.set(1);
    // Agents whose work requests went to a coordinator that died ask again now, not at their timeout.
    hello();
    log.info({ term: rec.term, loadMs: Math.round(performance.now() - t0) }, 'serving as leader');
  };
  const stepDown = () => {
    metrics.isLeader.set(0);
    if (!core) return;
    core.c.stop();
    for (const s of core.subs) s.unsubscribe();
    core = undefined;
  };
  const lease = new LeaderLease(
    kv,
    { id: options.replicaId, grpcAddr, leaseMs: options.leaderLeaseMs },
    {
      elected: becomeLeader,
      lost: stepDown,
      leaderChanged: (rec) => {
        metrics.leaderChanges.inc();
        log.info(
          { leader: rec?.id, addr: rec?.grpcAddr, term: rec?.term, self: rec?.id === options.replicaId },
          'leader is',
        );
      },
    },
    log,
  );
  election.lease = lease;
  metrics.isLeader.set(0);
  lease.start();

  let ready = true;
  const http = options.metricsAddr
    ? await startHttp(
        options.metricsAddr,
        metrics.registry,
        // Ready when a leader is known: this replica, serving, or another one to forward to.
        () =>
          ready && !nc.isClosed() && (lease.isLeader() ? core !== undefined : route('jobs').leaderAddr() !== undefined),
      )
    : undefined;
  // hook(console): the web console on --console, calling this replica's gRPC API over loopback.
  const consoleHttp = options.consoleAddr
    ? await startConsole({
        addr: options.consoleAddr,
        loopback: {
          address: `${loopbackHost(options.grpcAddr)}:${server.port}`,
          credentials: forwardCredentials(options.tls),
          channelOptions: forwardChannelOptions(options.tls),
        },
        users: options.apiUsers,
        mtls: options.tls?.clientCa !== undefined,
        nc,
        names,
        blobs,
        log,
      })
    : undefined;
  for (const svc of ['', 'tessera.v1.JobService', 'tessera.v1.AgentService']) server.health.setStatus(svc, 'SERVING');
  log.info(
    {
      grpc: server.port,
      metrics: http?.port,
      nats: options.natsUrl,
      models: table.models.size,
      replica: options.replicaId,
      advertise: grpcAddr,
      console: consoleHttp?.url,
    },
    'coordinator ready',
  );
  return {
    grpcPort: server.port,
    metricsPort: http?.port ?? 0,
    consoleUrl: consoleHttp?.url,
    get coordinator() {
      return core?.c;
    },
    lease,
    log,
    async stop() {
      ready = false;
      for (const svc of ['', 'tessera.v1.JobService', 'tessera.v1.AgentService'])
        server.health.setStatus(svc, 'NOT_SERVING');
      stepDown();
      // Hand the lease back after the core stopped, so a standby takes over at once.
      await lease.stop();
      await consoleHttp?.close();
      forwarder.close();
      models.stop(); // hook(models): stop following model holders
      await server.stop();
      await http?.close();
      await nc.drain().catch(() => undefined);
    },
  };
}

/**
 * How a standby reaches the leader: plaintext, or TLS trusting the client CA and this farm's own
 * server certificate (replicas share it), presenting that certificate as the client's under mTLS.
 */
function forwardCredentials(tls: CompiledCoordinatorOptions['tls']): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  const roots = Buffer.concat([tls.clientCa ?? Buffer.alloc(0), Buffer.from('\n'), tls.cert]);
  return grpc.credentials.createSsl(roots, tls.key, tls.cert);
}

/** Replicas dial each other by address; the certificate names the service: verify that name. */
function forwardChannelOptions(tls: CompiledCoordinatorOptions['tls']): grpc.ChannelOptions {
  if (!tls) return {};
  const cert = new X509Certificate(tls.cert);
  const dns = /DNS:([^,\s]+)/.exec(cert.subjectAltName ?? '')?.[1];
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  const name = dns ?? cn;
  return name ? { 'grpc.ssl_target_name_override': name, 'grpc.default_authority': name } : {};
}

/** The address other replicas reach this one at: the listen address, the host name for a wildcard. */
export function advertisedAddr(listen: string, port: number): string {
  const host = listen.slice(0, listen.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  const wildcard = host === '' || host === '0.0.0.0' || host === '::';
  const h = wildcard ? hostname() : host;
  return `${h.includes(':') ? `[${h}]` : h}:${port}`;
}

/** The host this process dials its own gRPC server at: the listen host, loopback for a wildcard. */
function loopbackHost(listen: string): string {
  const host = listen.slice(0, listen.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  if (host === '' || host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

/** Routes assembly by job kind. */
function byKind(table: Record<JobKind, Assemble>): Assemble {
  return (job, shards) => table[job.kind](job, shards);
}
