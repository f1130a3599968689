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
  VideoFormat,
  VideoMode,
  WatchJobResponse,
  protoDir,
  type AgentServiceServer,
  type FarmNames,
  type JobServiceServer,
} from '@tessera/protocol';
import type { Logger } from 'pino';
import { authenticator, type ApiUser } from './auth.js';
import {
  PermissionDeniedError,
  principal,
  requireCancel,
  requireRead,
  requireSubmit,
  rolesOf,
  visibleJobs,
} from './access.js';
import type { BlobStore } from './blobs.js';
import { mapLimit, type Coordinator } from './coordinator.js';
import {
  FailedPreconditionError,
  InvalidArgumentError,
  LimitExceededError,
  NotFoundError,
  NotLeaderError,
} from './errors.js';
import { UserAdmission } from './limits.js';
import { FINAL_JOB_STATES, type JobRecord } from './model.js';
import type { CompiledCoordinatorOptions } from './options.js';
import type { VideoFormatName } from './model.js';
import { imageFormatsOf } from './image-formats.js';
import { jobView } from './views.js';

const FINAL_API_STATES = new Set([
  JobState.JOB_STATE_SUCCEEDED,
  JobState.JOB_STATE_FAILED,
  JobState.JOB_STATE_CANCELLED,
]);

/**
 * Longest status details sent. Details travel in the `grpc-message` trailer: a message echoing a
 * huge request field (a 100 kB model name) exceeds the client's HTTP/2 header-list limit, and the
 * client then gets no answer on that connection at all.
 */
const MAX_DETAILS_CHARS = 1000;

/** Cuts `s` to MAX_DETAILS_CHARS on a code-point boundary (grpc-js sends it through encodeURI, which throws on a lone surrogate). */
function capDetails(s: string): string {
  if (s.length <= MAX_DETAILS_CHARS) return s;
  let cut = MAX_DETAILS_CHARS;
  const last = s.charCodeAt(cut - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut--;
  return `${s.slice(0, cut)}… (${s.length} characters)`;
}

/** Maps a core error to a gRPC error; unexpected errors become INTERNAL (and are logged). */
export function toGrpcError(e: unknown, log: Logger): Partial<grpc.ServiceError> {
  const err = e instanceof Error ? e : new Error(String(e));
  const code =
    err instanceof InvalidArgumentError
      ? grpc.status.INVALID_ARGUMENT
      : err instanceof LimitExceededError
        ? grpc.status.RESOURCE_EXHAUSTED
        : err instanceof NotFoundError
          ? grpc.status.NOT_FOUND
          : err instanceof PermissionDeniedError // hook(ops): job ownership's refusals
            ? grpc.status.PERMISSION_DENIED
            : err instanceof FailedPreconditionError
              ? grpc.status.FAILED_PRECONDITION
              : err instanceof NotLeaderError
                ? grpc.status.UNAVAILABLE
                : grpc.status.INTERNAL;
  if (code === grpc.status.INTERNAL) log.error({ err }, 'internal error in gRPC handler');
  const details = capDetails(err.message);
  return { code, details, message: details };
}

/**
 * Request bytes that are not a valid protobuf message. grpc-js answers a throwing deserializer with
 * INTERNAL "Error deserializing request", blaming the server for the client's bytes; so the services
 * are registered with deserializers that return this marker instead, and `decoded()` turns it into
 * INVALID_ARGUMENT in the handler (after the token check).
 */
class UndecodableRequest {
  constructor(readonly error: InvalidArgumentError) {}
}

/**
 * The one 64-bit field of each request, named when its value does not fit a JS number: ts-proto's
 * decoder throws for values above 2^53-1 before any handler could name the field.
 */
const INT64_FIELDS: Record<string, string> = { '/tessera.v1.JobService/SubmitJob': 'seed' };

/** `def` with request deserializers that never throw (see UndecodableRequest). */
function tolerantDecoding<D extends grpc.ServiceDefinition>(def: D): D {
  const out: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, m] of Object.entries(def)) {
    // "/tessera.v1.JobService/SubmitJob" → "tessera.v1.SubmitJobRequest"
    const [, service, method] = m.path.split('/');
    const type = `${service.slice(0, service.lastIndexOf('.') + 1)}${method}Request`;
    out[name] = {
      ...m,
      requestDeserialize: (bytes: Buffer) => {
        try {
          return m.requestDeserialize(bytes);
        } catch (e) {
          const reason = e instanceof Error ? e.message : String(e);
          const int64 = INT64_FIELDS[m.path];
          return new UndecodableRequest(
            int64 && /MAX_SAFE_INTEGER/.test(reason)
              ? new InvalidArgumentError(int64, 'is above 2^53-1, the largest integer kept exactly')
              : new InvalidArgumentError('request', `cannot decode ${bytes.length} bytes as ${type} (${reason})`),
          );
        }
      },
    };
  }
  return out as D;
}

/** The decoded request, or the INVALID_ARGUMENT its bytes earned. */
export function decoded<T>(req: T): T {
  if (req instanceof UndecodableRequest) throw req.error;
  return req;
}

function requireId(id: string, field = 'job_id'): string {
  if (!id) throw new InvalidArgumentError(field, 'required');
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id))
    throw new InvalidArgumentError(field, `${JSON.stringify(id.slice(0, 80))} is not a job id`);
  return id;
}

function unary<Req, Res>(
  log: Logger,
  fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res> | Res,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => fn(decoded(call.request), call))
      .then(
        (res) => callback(null, res),
        (e) => callback(toGrpcError(e, log) as grpc.ServiceError),
      );
  };
}

/** Metadata key carrying the user a standby authenticated, on a call it forwards to the leader. */
export const FORWARDED_USER = 'x-tessera-forwarded-user';

/** The user each authenticated call was made by (set by `authenticate`, read by `callerOf`). */
const callers = new WeakMap<object, string>();

/** The user who made `call` ('' = anonymous, or a service not wrapped by `authenticate`). */
export function callerOf(call: object): string {
  return callers.get(call) ?? '';
}

/**
 * Wraps a service so every call is authenticated (see auth.ts `authenticator`): UNAUTHENTICATED when
 * tokens are configured and the call has no valid one (nor, under mutual TLS, a usable client
 * certificate). The caller is remembered for `callerOf`. Health and reflection are never wrapped,
 * so probes and grpcurl's discovery keep working.
 */
export function authenticate<S extends grpc.UntypedServiceImplementation>(
  def: grpc.ServiceDefinition,
  impl: S,
  users: readonly ApiUser[],
  mtls = false,
  replicaCertSha256 = '',
): S {
  const identify = authenticator(users, mtls);
  const check = (call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>) => {
    const auth = call.getAuthContext();
    // A call a standby forwarded under mutual TLS arrives with the standby's certificate, not the
    // caller's: the user it authenticated rides along, believed only from a peer presenting this
    // farm's own server certificate (which only replicas hold).
    const forwarded = call.metadata.get(FORWARDED_USER)[0];
    if (
      typeof forwarded === 'string' &&
      mtls &&
      replicaCertSha256 &&
      auth?.sslPeerCertificate?.fingerprint256 === replicaCertSha256
    ) {
      callers.set(call, forwarded);
      return undefined;
    }
    const who = identify(call.metadata, auth);
    if (who.ok) callers.set(call, who.user);
    return who.ok ? undefined : who.why;
  };
  const out: grpc.UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(def)) {
    const key = name.charAt(0).toLowerCase() + name.slice(1);
    const handler = impl[key] as (...args: unknown[]) => void;
    out[key] = method.responseStream
      ? (call: grpc.ServerWritableStream<unknown, unknown>) => {
          const why = check(call);
          if (why) call.emit('error', { code: grpc.status.UNAUTHENTICATED, details: why });
          else handler(call);
        }
      : (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
          const why = check(call);
          if (why) cb({ code: grpc.status.UNAUTHENTICATED, details: why });
          else handler(call, cb);
        };
  }
  return out as S;
}

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
      const bytesOf = (field: string, parts: Uint8Array[]) => {
        const n = parts.reduce((a, p) => a + p.length, 0);
        if (n > o.maxInputBytes)
          throw new InvalidArgumentError(field, `${n} bytes is above the limit of ${o.maxInputBytes} bytes`);
      };
      let submit: () => Promise<JobRecord>;
      if (spec?.$case === 'upscale') {
        const up = spec.value;
        bytesOf('upscale.image', [up.image]);
        submit = () =>
          c.submitUpscale({
            ...header,
            image: up.image,
            model: up.model,
            tile: up.tile,
            overlap: up.overlap,
            // hook(scale): output formats (PNG, tiled pyramidal TIFF), validated here, stored per job.
            formats: imageFormatsOf('upscale.formats', up.formats),
            refine: up.refine && {
              model: up.refine.model,
              prompt: up.refine.prompt,
              negativePrompt: up.refine.negativePrompt,
              strength: up.refine.strength,
              steps: up.refine.steps,
              guidanceScale: up.refine.guidanceScale,
              tile: up.refine.tile,
              overlap: up.refine.overlap,
              scheduler: up.refine.scheduler,
            },
          });
      } else if (spec?.$case === 'video') {
        const v = spec.value;
        bytesOf('video.image', [v.image, ...v.keyframes]);
        const formats = formatsOf('video.formats', v.formats);
        submit = () =>
          c.submitVideo({
            ...header,
            image: v.image,
            keyframes: v.keyframes,
            request: {
              model: v.model,
              totalFrames: v.totalFrames,
              fps: v.fps,
              motionBucketId: v.motionBucketId,
              noiseAugStrength: v.noiseAugStrength,
              steps: v.steps,
              minGuidanceScale: v.minGuidanceScale,
              maxGuidanceScale: v.maxGuidanceScale,
              framesPerBatch: v.framesPerBatch,
              overlap: v.overlap,
              mode: v.mode === VideoMode.VIDEO_MODE_CHAINED ? 'chained' : 'keyframed',
              formats,
              width: v.width,
              height: v.height,
              decodeChunk: v.decodeChunk,
            },
          });
      } else if (spec?.$case === 'videoUpscale') {
        const v = spec.value;
        bytesOf('video_upscale.clip', [v.clip, ...v.frames]);
        if (v.clip.length && v.frames.length)
          throw new InvalidArgumentError('video_upscale.clip', 'send a clip or frames, not both');
        // The same range as video.fps; unchecked, 4194404 fps was accepted and only failed in assembly.
        if (v.fps > 120)
          throw new InvalidArgumentError('video_upscale.fps', `${v.fps} is outside 0..120 (0 = the input's)`);
        const formats = formatsOf('video_upscale.formats', v.formats);
        submit = () =>
          c.submitVideoUpscale({
            ...header,
            clip: v.clip,
            frames: v.frames,
            model: v.model,
            framesPerBatch: v.framesPerBatch,
            fps: v.fps,
            formats,
          });
      } else if (spec?.$case === 'image') {
        const v = spec.value;
        bytesOf('image.init_image', [v.initImage, ...v.controlnets.map((cn) => cn.image)]);
        submit = () =>
          c.submitImage({
            ...header,
            initImage: v.initImage,
            // hook(engines-b): ControlNets (control images apart) and the VAE swap.
            controlImages: v.controlnets.map((cn) => cn.image),
            request: {
              controlNets: v.controlnets.map((cn) => ({
                model: cn.model,
                preprocess: cn.preprocess,
                scale: cn.scale,
                guidanceStart: cn.guidanceStart,
                guidanceEnd: cn.guidanceEnd,
              })),
              vae: v.vae,
              model: v.model,
              prompt: v.prompt,
              negativePrompt: v.negativePrompt,
              width: v.width,
              height: v.height,
              steps: v.steps,
              guidanceScale: v.guidanceScale,
              strength: v.strength,
              scheduler: v.scheduler,
              refine: v.refine,
              highNoiseFrac: v.highNoiseFrac,
            },
          });
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

const FORMAT_NAMES: Partial<Record<VideoFormat, VideoFormatName>> = {
  [VideoFormat.VIDEO_FORMAT_PNG_FRAMES]: 'png-frames',
  [VideoFormat.VIDEO_FORMAT_WEBP]: 'webp',
  [VideoFormat.VIDEO_FORMAT_MP4]: 'mp4',
};

function formatsOf(field: string, formats: VideoFormat[]): VideoFormatName[] {
  return formats.map((f, i) => {
    const name = FORMAT_NAMES[f];
    if (!name) throw new InvalidArgumentError(`${field}[${i}]`, `unknown format ${f} (use PNG_FRAMES, WEBP or MP4)`);
    return name;
  });
}
