/**
 * The gRPC API layer: JobService and AgentService over the coordinator core, plus grpc.health.v1
 * and server reflection. The only place that produces gRPC status codes.
 */
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath } from 'grpc-health-check';
import type { NatsConnection } from '@nats-io/transport-node';
import { classLabel } from '@tessera/hardware';
import {
  AgentServiceService,
  JobServiceService,
  ModelServiceService,
  JobState,
  PROTO_FILES,
  WatchJobResponse,
  protoDir,
  type AgentServiceServer,
  type FarmNames,
  type JobServiceServer,
} from '@tessera/protocol';
import type { Logger } from 'pino';
import { authenticate, callerOf } from './grpc-auth.js';
import { decoded, requireId, tolerantDecoding, toGrpcError, unary } from './grpc-calls.js';
export { authenticate, callerOf, FORWARDED_USER } from './grpc-auth.js';
export { decoded, toGrpcError } from './grpc-calls.js';
import { principal, requireCancel, requireRead, requireSubmit, rolesOf, visibleJobs } from './access.js';
import type { BlobStore } from './blobs.js';
import type { Coordinator } from './coordinator.js';
import * as kinds from './kinds/index.js';
import { mapLimit } from './util.js';
import { FailedPreconditionError, InvalidArgumentError } from './errors.js';
import { UserAdmission } from './limits.js';
import { FINAL_JOB_STATES, type JobRecord } from './model.js';
import type { CompiledCoordinatorOptions } from './options.js';
import { jobView } from './views.js';

const FINAL_API_STATES = new Set([
  JobState.JOB_STATE_SUCCEEDED,
  JobState.JOB_STATE_FAILED,
  JobState.JOB_STATE_CANCELLED,
]);

export interface GrpcDeps {
  coordinator: Coordinator;
  blobs: BlobStore;
  nc: NatsConnection;
  names: FarmNames;
  options: CompiledCoordinatorOptions;
  log: Logger;
}

/** Builds the service implementations (exported for tests that mount them on their own server). */
export function jobService(d: GrpcDeps): JobServiceServer {
  const { coordinator: c, log, options: o } = d;
  const admission = new UserAdmission(o, (owner) => c.ownerUsage(owner));
  // hook(ops): job ownership (access.ts): who may read, cancel or submit
  const roles = rolesOf(o.apiUsers);
  const who = (call: object) => principal(callerOf(call), roles);
  // A finished job's shards are read from the store: views with shards are async.
  const view = async (id: string, withShards: boolean) => {
    const { job, shards, waitingReason } = await c.getJob(id, { withShards });
    return jobView(job, { shardsDone: c.shardsDone(id), shards: withShards ? shards : undefined, waitingReason });
  };
  return {
    submitJob: unary(log, async (req, call) => {
      if (req.name.length > 200)
        throw new InvalidArgumentError('name', `${req.name.length} characters is above the limit of 200`);
      if (req.priority < -1000 || req.priority > 1000)
        throw new InvalidArgumentError('priority', `${req.priority} is outside -1000..1000`);
      if (req.maxAttempts > 100)
        throw new InvalidArgumentError('max_attempts', `${req.maxAttempts} is above the limit of 100`);
      if (!Number.isSafeInteger(req.seed) || req.seed < 0)
        throw new InvalidArgumentError('seed', `${req.seed} is not an integer in 0..2^53-1`);
      const owner = callerOf(call);
      requireSubmit(who(call)); // hook(ops): viewers submit nothing
      const header = { name: req.name, seed: req.seed, priority: req.priority, maxAttempts: req.maxAttempts, owner };
      const spec = req.spec;
      const limits = { maxInputBytes: o.maxInputBytes };
      let submit: () => Promise<JobRecord>;
      if (spec?.$case === 'upscale') {
        const sub = kinds.upscale.fromApi(spec.value, header, limits);
        submit = () => c.submitUpscale(sub);
      } else if (spec?.$case === 'video') {
        const sub = kinds.video.fromApi(spec.value, header, limits);
        submit = () => c.submitVideo(sub);
      } else if (spec?.$case === 'videoUpscale') {
        const sub = kinds.videoUpscale.fromApi(spec.value, header, limits);
        submit = () => c.submitVideoUpscale(sub);
      } else if (spec?.$case === 'image') {
        const sub = kinds.image.fromApi(spec.value, header, limits);
        submit = () => c.submitImage(sub);
      } else {
        throw new InvalidArgumentError('spec', 'required: set upscale, video, video_upscale or image');
      }
      const job = await admission.admit(owner, submit);
      return { job: await view(job.id, false) };
    }),
    getJob: unary(log, async (req, call) => {
      requireRead(who(call), c.jobRecord(requireId(req.jobId))); // hook(ops): others' jobs are NOT_FOUND
      return { job: await view(req.jobId, true) };
    }),
    cancelJob: unary(log, async (req, call) => {
      requireCancel(who(call), c.jobRecord(requireId(req.jobId))); // hook(ops): owner or admin only
      const job = await c.cancelJob(req.jobId);
      return { job: await view(job.id, false) };
    }),
    listJobs: unary(log, async (req, call) => {
      if (req.limit > 10_000) throw new InvalidArgumentError('limit', `${req.limit} is above the limit of 10000`);
      // hook(ops): only the jobs the caller may read, the limit counted after filtering
      const jobs = visibleJobs(who(call), c.listJobs(Number.MAX_SAFE_INTEGER), req.limit || 100);
      return { jobs: await mapLimit(jobs, 8, (j) => view(j.id, req.includeShards)) };
    }),
    watchJob: (call) => {
      let jobId: string;
      try {
        jobId = requireId(decoded(call.request).jobId);
        requireRead(who(call), c.jobRecord(jobId)); // hook(ops): others' jobs are NOT_FOUND
      } catch (e) {
        call.emit('error', toGrpcError(e, log));
        return;
      }
      // Subscribe first, then send the snapshot, so no change falls between them.
      const sub = d.nc.subscribe(d.names.jobEvents(jobId));
      const close = () => sub.unsubscribe();
      call.on('cancelled', close);
      call.on('close', close);
      void (async () => {
        const snapshot = await view(jobId, true);
        call.write({
          event: 'snapshot',
          job: snapshot,
          shard: undefined,
          unixMs: Date.now(),
        } satisfies WatchJobResponse);
        if (FINAL_API_STATES.has(snapshot.state)) {
          close();
          call.end();
          return;
        }
        for await (const m of sub) {
          let ev: WatchJobResponse;
          try {
            ev = WatchJobResponse.decode(m.data);
          } catch {
            continue;
          }
          if (!call.write(ev)) await new Promise((r) => call.once('drain', r));
          if (ev.event === 'job' && ev.job && FINAL_API_STATES.has(ev.job.state)) break;
        }
        close();
        call.end();
      })().catch((e) => {
        log.warn({ err: e, job: jobId }, 'watch stream ended with an error');
        call.end();
      });
    },
    getJobOutput: (call) => {
      void (async () => {
        const req = decoded(call.request);
        const jobId = requireId(req.jobId);
        const job = c.jobRecord(jobId);
        requireRead(who(call), job); // hook(ops): others' jobs are NOT_FOUND
        if (job.state !== 'succeeded') {
          throw new FailedPreconditionError(
            `job ${jobId} is ${job.state}; its output can be fetched once it has succeeded${FINAL_JOB_STATES.has(job.state) && job.error ? ` (error: ${job.error})` : ''}`,
          );
        }
        const { format, frame } = req;
        const out = format ? job.outputs.find((x) => x.format === format) : job.outputs[0];
        if (!out) {
          throw new InvalidArgumentError(
            'format',
            `job ${jobId} has no ${JSON.stringify(format)} output (it has: ${job.outputs.map((x) => x.format).join(', ')})`,
          );
        }
        if (out.format !== 'png-frames' && frame)
          throw new InvalidArgumentError('frame', 'only applies to format "png-frames"');
        if (out.format === 'png-frames' && frame >= out.frames)
          throw new InvalidArgumentError('frame', `${frame} is outside 0..${out.frames - 1}`);
        const key = out.format === 'png-frames' ? `${out.key}/${frame}` : out.key;
        const blob = await d.blobs.getStream(key);
        if (!blob) throw new FailedPreconditionError(`output of job ${jobId} is no longer stored (retention)`);
        const totalBytes = out.format === 'png-frames' ? blob.info.size : out.bytes;
        const sha256 = out.format === 'png-frames' ? blob.info.sha256 : out.sha256;
        let offset = 0;
        for await (const chunk of blob.data) {
          const ok = call.write({
            data: Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength),
            offset,
            totalBytes,
            contentType: out.contentType,
            sha256,
          });
          offset += chunk.length;
          if (!ok) await new Promise((r) => call.once('drain', r));
          if (call.cancelled) return;
        }
        call.end();
      })().catch((e) => call.emit('error', toGrpcError(e, log)));
    },
  };
}

export function agentService(d: GrpcDeps): AgentServiceServer {
  return {
    listAgents: unary(d.log, (req) => ({
      agents: d.coordinator
        .agents(req.includeLost)
        .map(({ entry, state }) => ({
          id: entry.advert.agentId,
          name: entry.advert.name,
          hostname: entry.advert.hostname,
          deviceIndex: entry.advert.deviceIndex,
          deviceName: entry.advert.deviceName,
          vramTotalGb: entry.advert.vramTotalGb,
          vramUsableGb: entry.advert.vramUsableGb,
          vramClass: classLabel(entry.classGb),
          state,
          executionProvider: entry.advert.executionProvider,
          modelsLoaded: entry.advert.modelsLoaded,
          lastSeenUnixMs: entry.lastSeenMs,
          shardsCompleted: entry.advert.shardsCompleted,
          currentShard: [...entry.leases].map((k) => k.replace('.', '/')).join(','),
          version: entry.advert.version,
        }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    })),
  };
}

/** A running gRPC server. */
export interface GrpcServerHandle {
  port: number;
  health: HealthImplementation;
  stop(): Promise<void>;
}

/**
 * Plaintext, TLS (cert + key) or mutual TLS (plus a client CA: every client must present a
 * certificate signed by it, or the handshake fails).
 */
export function serverCredentials(tls: CompiledCoordinatorOptions['tls']): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  const { cert, key, clientCa } = tls;
  const ca = clientCa ?? null;
  try {
    return grpc.ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], ca !== null);
  } catch (e) {
    throw new Error(`options tlsCert/tlsKey/tlsClientCa: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

/** What the server mounts: the two services' implementations (local, or routed to the leader). */
export interface GrpcServerSetup {
  options: CompiledCoordinatorOptions;
  log: Logger;
  jobs: grpc.UntypedServiceImplementation;
  agents: grpc.UntypedServiceImplementation;
  /** hook(models): the ModelService (model-service.ts), mounted when given. */
  models?: grpc.UntypedServiceImplementation;
}

/** Starts the gRPC server on `options.grpcAddr` with health and reflection. */
export async function startGrpcServer(d: GrpcServerSetup): Promise<GrpcServerHandle> {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': d.options.maxInputBytes + 1024 * 1024,
    'grpc.max_send_message_length': 64 * 1024 * 1024,
  });
  const credentials = serverCredentials(d.options.tls);
  const mtls = !!d.options.tls?.clientCa;
  const replicaCertSha256 = d.options.tls ? new X509Certificate(d.options.tls.cert).fingerprint256 : '';
  server.addService(
    tolerantDecoding(JobServiceService),
    authenticate(JobServiceService, d.jobs, d.options.apiUsers, mtls, replicaCertSha256),
  );
  server.addService(
    tolerantDecoding(AgentServiceService),
    authenticate(AgentServiceService, d.agents, d.options.apiUsers, mtls, replicaCertSha256),
  );
  // hook(models): the model store's service, authenticated like the others.
  if (d.models)
    server.addService(ModelServiceService, authenticate(ModelServiceService, d.models, d.options.apiUsers, mtls));
  const health = new HealthImplementation({
    '': 'NOT_SERVING',
    'tessera.v1.JobService': 'NOT_SERVING',
    'tessera.v1.AgentService': 'NOT_SERVING',
  });
  health.addToServer(server);
  try {
    const pkg = protoLoader.loadSync(PROTO_FILES, {
      includeDirs: [protoDir()],
      keepCase: true,
      longs: String,
      defaults: true,
      oneofs: true,
    });
    // hook(ops): reflection lists grpc.health.v1.Health too (grpcurl … Health/Check needs no proto file)
    const healthPkg = protoLoader.loadSync(healthProtoPath, {
      keepCase: true,
      longs: String,
      defaults: true,
      oneofs: true,
    });
    new ReflectionService({ ...pkg, ...healthPkg }).addToServer(server);
  } catch (e) {
    d.log.warn(
      { err: e, protoDir: protoDir() },
      'server reflection disabled: proto files not found (set TESSERA_PROTO_DIR)',
    );
  }
  d.log.info(
    {
      transport: mtls ? 'mutual TLS' : d.options.tls ? 'TLS' : 'plaintext',
      apiUsers: [...new Set(d.options.apiUsers.map((u) => u.user))].length,
    },
    d.options.apiUsers.length || mtls ? 'gRPC API: callers are authenticated' : 'gRPC API: open (no tokens, no mTLS)',
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(d.options.grpcAddr, credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port,
    health,
    stop: () =>
      new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 5000);
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      }),
  };
}
