/** Who makes each gRPC call: authentication of every call, and the caller remembered for the handlers. */
import * as grpc from '@grpc/grpc-js';
import { authenticator, type ApiUser } from './auth.js';

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
