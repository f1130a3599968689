/**
 * Every coordinator replica serves the gRPC API. The leader answers from its core; a standby
 * forwards each call to the leader's advertised address (leader.ts) with the caller's metadata
 * (so the leader checks the same bearer token), deadline and cancellation, and relays the answer
 * or the stream unchanged. A call that was already forwarded once is never forwarded again: during a
 * change of leader it fails with UNAVAILABLE, which clients retry, instead of bouncing.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { callerOf, FORWARDED_USER } from './grpc-auth.js';
import { decoded, toGrpcError } from './grpc-calls.js';

/** Metadata key marking a forwarded call (its value: the forwarding replica's id). */
export const FORWARDED_BY = 'x-tessera-forwarded-by';

export interface Route {
  /** The leader's own implementation when this replica leads and is serving; else undefined. */
  local(): grpc.UntypedServiceImplementation | undefined;
  /** Where the leader serves gRPC, when one is known and it is not this replica. */
  leaderAddr(): string | undefined;
}

/** Forwards calls to the current leader over one cached channel. */
export class Forwarder {
  private client: grpc.Client | undefined;
  private addr = '';

  constructor(
    private readonly replicaId: string,
    private readonly credentials: () => grpc.ChannelCredentials,
    private readonly log: Logger,
    private readonly channelOptions: grpc.ChannelOptions = {},
  ) {}

  private clientFor(addr: string): grpc.Client {
    if (!this.client || this.addr !== addr) {
      this.client?.close();
      this.client = new grpc.Client(addr, this.credentials(), {
        'grpc.max_receive_message_length': 256 * 1024 * 1024,
        'grpc.max_send_message_length': 256 * 1024 * 1024,
        ...this.channelOptions,
      });
      this.addr = addr;
      this.log.info({ leader: addr }, 'forwarding API calls to the leader');
    }
    return this.client;
  }

  /**
   * The metadata to send upstream: the caller's own keys (authorization…), not transport headers,
   * plus who forwarded it and the user this replica authenticated (believed by the leader only over
   * mutual TLS from a replica's certificate; otherwise it authenticates the token again).
   */
  private upstreamMetadata(call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>) {
    const out = new grpc.Metadata();
    for (const [k, v] of Object.entries(call.metadata.getMap())) {
      if (
        k.startsWith('grpc-') ||
        k.startsWith('x-tessera-') ||
        k === 'user-agent' ||
        k === 'content-type' ||
        k === 'te'
      )
        continue;
      out.set(k, v);
    }
    out.set(FORWARDED_BY, this.replicaId);
    out.set(FORWARDED_USER, callerOf(call));
    return out;
  }

  unary(
    m: grpc.MethodDefinition<unknown, unknown>,
    addr: string,
    call: grpc.ServerUnaryCall<unknown, unknown>,
    cb: grpc.sendUnaryData<unknown>,
  ): void {
    let req: unknown;
    try {
      req = decoded(call.request);
    } catch (e) {
      cb(toGrpcError(e, this.log) as grpc.ServiceError);
      return;
    }
    const up = this.clientFor(addr).makeUnaryRequest(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
      req,
      this.upstreamMetadata(call),
      { deadline: call.getDeadline() },
      (err, res) => (err ? cb(relayed(err)) : cb(null, res)),
    );
    call.on('cancelled', () => up.cancel());
  }

  stream(m: grpc.MethodDefinition<unknown, unknown>, addr: string, call: grpc.ServerWritableStream<unknown, unknown>) {
    let req: unknown;
    try {
      req = decoded(call.request);
    } catch (e) {
      call.emit('error', toGrpcError(e, this.log));
      return;
    }
    const up = this.clientFor(addr).makeServerStreamRequest(
      m.path,
      m.requestSerialize,
      m.responseDeserialize,
      req,
      this.upstreamMetadata(call),
      { deadline: call.getDeadline() },
    );
    let ended = false;
    up.on('data', (d: unknown) => {
      if (!call.write(d)) up.pause();
    });
    call.on('drain', () => up.resume());
    up.on('error', (e: grpc.ServiceError) => {
      if (ended) return;
      ended = true;
      call.emit('error', relayed(e));
    });
    up.on('end', () => {
      if (ended) return;
      ended = true;
      call.end();
    });
    call.on('cancelled', () => up.cancel());
  }

  close(): void {
    this.client?.close();
    this.client = undefined;
  }
}

/** Metadata key on an answer that refused a call before doing anything: retrying it is safe. */
export const RETRY_SAFE = 'x-tessera-retry-safe';

/** UNAVAILABLE during an election; marked retry-safe, so clients retry even a submission. */
function noLeader(): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  metadata.set(RETRY_SAFE, 'no-leader');
  return {
    code: grpc.status.UNAVAILABLE,
    details: 'no leader coordinator is serving yet (election in progress); retry shortly',
    metadata,
  };
}

/**
 * The leader's error as the caller gets it. A call that never reached the leader (the connection
 * to it could not be made: it is dead and the lease has not moved yet) is marked retry-safe.
 */
function relayed(e: grpc.ServiceError): Partial<grpc.StatusObject> {
  const metadata = e.metadata ?? new grpc.Metadata();
  if (e.code === grpc.status.UNAVAILABLE && /^No connection established/.test(e.details))
    metadata.set(RETRY_SAFE, 'leader-unreachable');
  return { code: e.code, details: e.details, metadata };
}

/**
 * `def`'s methods routed per call: to the local implementation while this replica leads, else to
 * the leader through `fwd`.
 */
export function routed(def: grpc.ServiceDefinition, route: Route, fwd: Forwarder): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = {};
  for (const [name, m] of Object.entries(def)) {
    const key = name.charAt(0).toLowerCase() + name.slice(1);
    const pick = (md: grpc.Metadata) => {
      const local = route.local();
      if (local) return { handler: local[key] as (...a: unknown[]) => void };
      const addr = route.leaderAddr();
      // Forwarded once already: the replica that sent it thinks we lead; we do not (yet).
      if (!addr || md.get(FORWARDED_BY).length > 0) return { error: noLeader() };
      return { addr };
    };
    out[key] = m.responseStream
      ? (call: grpc.ServerWritableStream<unknown, unknown>) => {
          const p = pick(call.metadata);
          if (p.handler) p.handler(call);
          else if (p.addr) fwd.stream(m, p.addr, call);
          else call.emit('error', p.error ?? noLeader());
        }
      : (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
          const p = pick(call.metadata);
          if (p.handler) p.handler(call, cb);
          else if (p.addr) fwd.unary(m, p.addr, call, cb);
          else cb(p.error ?? noLeader());
        };
  }
  return out;
}
