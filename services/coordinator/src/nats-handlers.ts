/**
 * The agent protocol over NATS: decodes requests, calls the core, encodes replies. Requests are
 * served in a queue group so that, with several coordinators, each is handled once; heartbeats go
 * to every coordinator.
 */
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  Heartbeat,
  LeaseRenewal,
  LeaseRenewalReply,
  ShardResult,
  ShardResultReply,
  WorkGrant,
  WorkRequest,
  type FarmNames,
} from '@tessera/protocol';
import type { Logger } from 'pino';
import type { Coordinator } from './coordinator.js';

interface Codec<T> {
  decode(b: Uint8Array): T;
}
interface Enc<T> {
  encode(m: T): { finish(): Uint8Array };
}

export function serveAgentProtocol(nc: NatsConnection, names: FarmNames, c: Coordinator, log: Logger): Subscription[] {
  const queue = names.coordinatorQueue;
  const serve = <Req, Res>(subject: string, dec: Codec<Req>, enc: Enc<Res>, fn: (r: Req) => Promise<Res>) =>
    nc.subscribe(subject, {
      queue,
      callback: (err, msg) => {
        if (err) return log.warn({ err, subject }, 'subscription error');
        let req: Req;
        try {
          req = dec.decode(msg.data);
        } catch (e) {
          log.warn({ subject, err: (e as Error).message }, 'malformed message dropped');
          return;
        }
        fn(req).then(
          (res) => msg.respond(enc.encode(res).finish()),
          (e: unknown) => log.error({ err: e, subject }, 'agent request failed'),
        );
      },
    });
  const subs = [
    serve(names.workRequest, WorkRequest, WorkGrant, (r) => c.requestWork(r)),
    serve(names.workRenew, LeaseRenewal, LeaseRenewalReply, (r) => c.renewLease(r)),
    serve(names.workResult, ShardResult, ShardResultReply, (r) => c.reportResult(r)),
    nc.subscribe(names.heartbeat, {
      callback: (err, msg) => {
        if (err) return;
        try {
          c.heartbeat(Heartbeat.decode(msg.data));
        } catch (e) {
          log.warn({ err: (e as Error).message }, 'malformed heartbeat dropped');
        }
      },
    }),
  ];
  return subs;
}
