/**
 * How the gRPC API answers: core errors mapped to status codes (the only place that produces them),
 * request bytes that do not decode turned into INVALID_ARGUMENT, unary handlers wrapped alike.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import {
  FailedPreconditionError,
  InvalidArgumentError,
  LimitExceededError,
  NotFoundError,
  NotLeaderError,
} from './errors.js';
import { PermissionDeniedError } from './access.js';

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
export function tolerantDecoding<D extends grpc.ServiceDefinition>(def: D): D {
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

export function requireId(id: string, field = 'job_id'): string {
  if (!id) throw new InvalidArgumentError(field, 'required');
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id))
    throw new InvalidArgumentError(field, `${JSON.stringify(id.slice(0, 80))} is not a job id`);
  return id;
}

export function unary<Req, Res>(
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
