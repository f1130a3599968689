/**
 * The console's live updates: server-sent events bridged from the job events the coordinators
 * publish on NATS (the ones WatchJob relays) and from agent heartbeats (a throttled "fleet" hint).
 * A job's events reach a browser only once the API has shown that user the job.
 */
import type { ServerResponse } from 'node:http';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { WatchJobResponse, type FarmNames } from '@tessera/protocol';
import { sseFrame } from './http-util.js';

/** Fleet hints are sent at most this often per stream. */
export const FLEET_HINT_MS = 1000;
/** A comment line this often keeps proxies from closing an idle stream. */
export const KEEPALIVE_MS = 15_000;
/** Visibility answers remembered per stream, before the memo starts over. */
const MEMO_MAX = 10_000;

/** What a stream follows: every job the user may see (the jobs list), or one job. */
export interface StreamScope {
  jobId?: string;
  /** Whether the user may see a job (asks the API; remembered per stream). */
  canSee(jobId: string): Promise<boolean>;
}

/** The event a NATS job event becomes: a job change (its view without shards) or a shard change. Pure. */
export function consoleEvent(msg: WatchJobResponse): { event: 'job' | 'shard'; data: unknown } {
  return {
    event: msg.event === 'shard' ? 'shard' : 'job',
    data: {
      job: msg.job ? { ...msg.job, shards: [] } : undefined,
      shard: msg.shard,
      unixMs: msg.unixMs,
    },
  };
}

/**
 * Opens an event stream on `res`: subscribes first, then sends `ready` (the browser loads its
 * snapshot then, so nothing falls between the two), then the events. Ends when the client leaves.
 */
export function openEventStream(
  res: ServerResponse,
  nc: NatsConnection,
  names: FarmNames,
  scope: StreamScope,
  onError: (e: unknown) => void,
): void {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-store',
    'X-Accel-Buffering': 'no',
    Connection: 'keep-alive',
  });
  const subs: Subscription[] = [];
  const seen = new Map<string, Promise<boolean>>();
  const visible = (id: string) => {
    let p = seen.get(id);
    if (!p) {
      if (seen.size >= MEMO_MAX) seen.clear();
      p = scope.canSee(id).catch(() => false);
      seen.set(id, p);
    }
    return p;
  };
  // Events of one job go out in the order they came, even while a visibility answer is awaited.
  let chain: Promise<void> = Promise.resolve();
  const subject = scope.jobId ? names.jobEvents(scope.jobId) : names.allJobEvents;
  subs.push(
    nc.subscribe(subject, {
      callback: (err, m) => {
        if (err) return onError(err);
        let msg: WatchJobResponse;
        try {
          msg = WatchJobResponse.decode(m.data);
        } catch (e) {
          return onError(e);
        }
        const id = msg.job?.id;
        if (!id) return;
        chain = chain.then(async () => {
          if (!(await visible(id)) || res.writableEnded || res.destroyed) return;
          const { event, data } = consoleEvent(msg);
          res.write(sseFrame(event, data));
        });
      },
    }),
  );
  if (!scope.jobId) {
    let last = 0;
    subs.push(
      nc.subscribe(names.heartbeat, {
        callback: () => {
          const now = Date.now();
          if (now - last < FLEET_HINT_MS || res.writableEnded || res.destroyed) return;
          last = now;
          res.write(sseFrame('fleet', { unixMs: now }));
        },
      }),
    );
  }
  const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
  keepalive.unref();
  res.on('close', () => {
    clearInterval(keepalive);
    for (const s of subs) s.unsubscribe();
  });
  nc.flush().then(
    () => {
      if (!res.destroyed) res.write(sseFrame('ready', { jobId: scope.jobId ?? '' }));
    },
    (e: unknown) => {
      onError(e);
      res.end();
    },
  );
}
