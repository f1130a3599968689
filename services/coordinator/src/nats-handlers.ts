/**
 * The agent protocol over NATS: decodes requests, calls the core, encodes replies. Requests are
 * served in a queue group so that, with several coordinators, each is handled once; heartbeats go
 * to every coordinator.
 *
 * Malformed input never reaches the core. A renewal or result that does not decode is refused
 * (reason "malformed"), so its sender stops waiting at once; a work request that does not decode,
 * or whose advert breaks the limits below, gets no reply, so its sender backs off on its timeout
 * (an immediate "no work" would make it ask again at once); such a heartbeat is dropped.
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
  type AgentAdvert,
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

/**
 * What one agent slot may advertise: far above any real agent, and small enough that a stream of
 * forged heartbeats cannot bloat the registry (entries live 10 minutes after going silent),
 * ListAgents (75 adverts of 900 kB exceeded its 64 MiB response limit) or /metrics labels.
 */
const ADVERT_LIMITS = { idChars: 128, textChars: 256, models: 256, vramGb: 100_000 };

/** Why an advert is refused (field and limit), or undefined when it is acceptable. */
function advertProblem(a: AgentAdvert | undefined): string | undefined {
  if (!a) return 'advert: required';
  const { idChars, textChars, models, vramGb } = ADVERT_LIMITS;
  if (a.agentId.length > idChars)
    return `advert.agent_id: ${a.agentId.length} characters is above the limit of ${idChars}`;
  const texts: [string, string][] = [
    ['name', a.name],
    ['hostname', a.hostname],
    ['device_name', a.deviceName],
    ['vram_class', a.vramClass],
    ['execution_provider', a.executionProvider],
    ['version', a.version],
  ];
  for (const [field, v] of texts)
    if (v.length > textChars) return `advert.${field}: ${v.length} characters is above the limit of ${textChars}`;
  if (a.modelsLoaded.length > models)
    return `advert.models_loaded: ${a.modelsLoaded.length} entries is above the limit of ${models}`;
  const long = a.modelsLoaded.findIndex((m) => m.length > textChars);
  if (long >= 0) return `advert.models_loaded[${long}]: above the limit of ${textChars} characters`;
  for (const [field, v] of [
    ['vram_total_gb', a.vramTotalGb],
    ['vram_usable_gb', a.vramUsableGb],
  ] as const) {
    if (!Number.isFinite(v) || v < 0 || v > vramGb) return `advert.${field}: ${v} is outside 0..${vramGb}`;
  }
  return undefined;
}

export function serveAgentProtocol(nc: NatsConnection, names: FarmNames, c: Coordinator, log: Logger): Subscription[] {
  const queue = names.coordinatorQueue;
  /** `refusal`: the reply to a request that is malformed; none means no reply. */
  const serve = <Req, Res>(
    subject: string,
    dec: Codec<Req>,
    enc: Enc<Res>,
    fn: (r: Req) => Promise<Res>,
    opts: { refusal?: Res; check?: (r: Req) => string | undefined } = {},
  ) =>
    nc.subscribe(subject, {
      queue,
      callback: (err, msg) => {
        if (err) return log.warn({ err, subject }, 'subscription error');
        let req: Req;
        try {
          req = dec.decode(msg.data);
          const problem = opts.check?.(req);
          if (problem) throw new Error(problem);
        } catch (e) {
          log.warn({ subject, bytes: msg.data.length, err: (e as Error).message }, 'malformed message refused');
          if (opts.refusal) msg.respond(enc.encode(opts.refusal).finish());
          return;
        }
        fn(req).then(
          (res) => msg.respond(enc.encode(res).finish()),
          (e: unknown) => log.error({ err: e, subject }, 'agent request failed'),
        );
      },
    });
  const subs = [
    serve(names.workRequest, WorkRequest, WorkGrant, (r) => c.requestWork(r), {
      check: (r) => advertProblem(r.advert),
    }),
    serve(names.workRenew, LeaseRenewal, LeaseRenewalReply, (r) => c.renewLease(r), {
      refusal: { ok: false, expiresUnixMs: 0, reason: 'malformed' },
    }),
    serve(names.workResult, ShardResult, ShardResultReply, (r) => c.reportResult(r), {
      refusal: { accepted: false, reason: 'malformed' },
    }),
    nc.subscribe(names.heartbeat, {
      callback: (err, msg) => {
        if (err) return;
        try {
          const hb = Heartbeat.decode(msg.data);
          const problem = advertProblem(hb.advert);
          if (problem) throw new Error(problem);
          c.heartbeat(hb);
        } catch (e) {
          log.warn({ bytes: msg.data.length, err: (e as Error).message }, 'malformed heartbeat dropped');
        }
      },
    }),
  ];
  return subs;
}
