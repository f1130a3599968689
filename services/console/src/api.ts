/** The browser side of the console's API: JSON calls and the live event stream. */
import { useEffect, useRef } from 'preact/hooks';
import type { Agent, Job, Shard } from './model.js';

/** An API answer that was not 2xx, with the server's message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function call<T>(method: string, path: string): Promise<T> {
  const res = await fetch(path, { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' });
  if (res.status === 401) {
    // Signed out (or the token was revoked): the page itself answers with the sign-in form.
    location.reload();
  }
  const body = (await res.json().catch(() => ({}))) as { error?: string } & T;
  if (!res.ok) throw new ApiError(res.status, body.error ?? `${res.status} ${res.statusText}`);
  return body;
}

export const api = {
  me: () => call<{ user: string; auth: boolean }>('GET', '/api/me'),
  jobs: () => call<{ jobs: Job[] }>('GET', '/api/jobs?limit=500').then((r) => r.jobs),
  job: (id: string) => call<{ job: Job }>('GET', `/api/jobs/${encodeURIComponent(id)}`).then((r) => r.job),
  cancel: (id: string) => call<{ job?: Job }>('POST', `/api/jobs/${encodeURIComponent(id)}/cancel`),
  retry: (id: string) => call<{ jobId: string }>('POST', `/api/jobs/${encodeURIComponent(id)}/retry`),
  agents: () => call<{ agents: Agent[] }>('GET', '/api/agents').then((r) => r.agents),
  signOut: () => fetch('/api/session', { method: 'DELETE' }).then(() => location.assign('/')),
};

/**
 * The data the page came with (the jobs list, for its first paint), once: later views load their own.
 */
export function takeInitialJobs(): Job[] | null {
  const el = document.getElementById('tessera-initial');
  if (!el) return null;
  el.remove();
  try {
    return (JSON.parse(el.textContent ?? '') as { jobs?: Job[] }).jobs ?? null;
  } catch {
    return null;
  }
}

/** What an event stream delivers. */
export interface StreamHandlers {
  /** The stream is (re)connected: load the snapshot now; events after it are not missed. */
  ready?: () => void;
  job?: (job: Job) => void;
  shard?: (job: Job, shard: Shard) => void;
  /** Agents reported in (at most once a second). */
  fleet?: () => void;
  /** Connected or not (the browser reconnects by itself). */
  connected?: (up: boolean) => void;
}

/** Follows /api/events (every visible job, or `jobId`'s) while the component is mounted. */
export function useEventStream(jobId: string | undefined, handlers: StreamHandlers): void {
  const h = useRef(handlers);
  h.current = handlers;
  useEffect(() => {
    const es = new EventSource(jobId ? `/api/events?job=${encodeURIComponent(jobId)}` : '/api/events');
    const data = (e: Event) => JSON.parse((e as MessageEvent<string>).data) as { job?: Job; shard?: Shard };
    es.addEventListener('ready', () => {
      h.current.connected?.(true);
      h.current.ready?.();
    });
    es.addEventListener('job', (e) => {
      const d = data(e);
      if (d.job) h.current.job?.(d.job);
    });
    es.addEventListener('shard', (e) => {
      const d = data(e);
      if (d.job && d.shard) h.current.shard?.(d.job, d.shard);
    });
    es.addEventListener('fleet', () => h.current.fleet?.());
    es.onerror = () => h.current.connected?.(false);
    return () => es.close();
  }, [jobId]);
}
