/**
 * A slot's messages about the lease it holds: renewals while the shard runs (a refusal aborts it)
 * and the result when it is done (retried until the coordinator answers).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import {
  LeaseRenewal,
  LeaseRenewalReply,
  ShardResult,
  ShardResultReply,
  type FarmNames,
  type Lease,
} from '@tessera/protocol';
import type { Logger } from '@tessera/runtime';

/** Where lease messages go and who sends them. */
export interface LeaseMessaging {
  nc: NatsConnection;
  names: FarmNames;
  agentId: string;
}

/** The running shard as renewal sees it: its lease, its progress, and the abort a lost lease pulls. */
export interface RenewedLease {
  lease: Lease;
  abort: AbortController;
  progress: number;
}

/** Waits `ms`, or less if `signal` aborts (never rejects). */
export const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

/** Renews the lease every renewEveryMs; a refusal (superseded, cancelled) aborts the engine. */
export function startRenewing(m: LeaseMessaging, cur: RenewedLease, log: Logger): NodeJS.Timeout {
  const ref = cur.lease.ref!;
  const every = Math.max(50, cur.lease.renewEveryMs || 5000);
  return setInterval(() => {
    const body: LeaseRenewal = { ref, agentId: m.agentId, progress: cur.progress };
    m.nc
      .request(m.names.workRenew, LeaseRenewal.encode(body).finish(), { timeout: every })
      .then((msg) => {
        const r = LeaseRenewalReply.decode(msg.data);
        if (!r.ok && (r.reason === 'superseded' || r.reason === 'cancelled' || r.reason === 'unknown')) {
          log.warn({ reason: r.reason }, 'lease lost; stopping the shard');
          cur.abort.abort(new Error(`lease ${r.reason}`));
        }
      })
      .catch((e: unknown) => log.debug({ err: (e as Error).message }, 'lease renewal got no answer'));
  }, every);
}

/** Reports a result until the coordinator answers (it may be restarting). */
export async function reportResult(
  m: LeaseMessaging,
  result: ShardResult,
  log: Logger,
): Promise<ShardResultReply | undefined> {
  const body = ShardResult.encode(result).finish();
  let backoff = 250;
  for (let attempt = 1; attempt <= 120; attempt++) {
    try {
      const msg = await m.nc.request(m.names.workResult, body, { timeout: 10_000 });
      const reply = ShardResultReply.decode(msg.data);
      if (reply.accepted) log.debug({ reason: reply.reason || undefined }, 'result committed');
      else log.warn({ reason: reply.reason }, 'result refused by the coordinator');
      return reply;
    } catch (e) {
      log.warn({ err: (e as Error).message, attempt }, 'result not acknowledged; retrying');
      await sleep(backoff);
      backoff = Math.min(backoff * 2, 5000);
    }
  }
  log.error('giving up reporting the result; the lease will expire and the shard will run again');
  return undefined;
}
