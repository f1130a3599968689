/**
 * The web console's HTTP server (`--console HOST:PORT`): the page and its versioned assets, a JSON
 * API over this replica's gRPC API (called with the browser user's token), and event streams
 * bridged from NATS. Any replica serves it; a standby's gRPC server forwards to the leader.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { NatsConnection } from '@nats-io/transport-node';
import * as grpc from '@grpc/grpc-js';
import type { FarmNames } from '@tessera/protocol';
import { parseHostPort, type Logger } from '@tessera/runtime';
import { authenticator, type ApiUser } from '../auth.js';
import type { BlobStore } from '../blobs.js';
import { ConsoleApi, ConsoleApiError, httpStatusOf, type LoopbackTarget } from './api.js';
import { loadConsoleAssets, type Asset } from './assets.js';
import { IMMUTABLE, NO_STORE, REVALIDATE, tokenCookie, tokenOf } from './http-util.js';
import { handleApi, type ApiContext } from './routes.js';
import { SIGNIN_STYLE_HASH, signinPage } from './signin.js';

/** What the console needs from the coordinator that serves it. */
export interface ConsoleDeps {
  /** HOST:PORT to listen on. */
  addr: string;
  /** This replica's gRPC server. */
  loopback: LoopbackTarget;
  /** API users (empty: the API and the console are open). */
  users: readonly ApiUser[];
  /** Whether the gRPC API also takes client certificates (then the console needs API tokens). */
  mtls: boolean;
  nc: NatsConnection;
  names: FarmNames;
  blobs: BlobStore;
  log: Logger;
}

export interface ConsoleHandle {
  port: number;
  /** The URL the console is reached at (the listen address; 127.0.0.1 for a wildcard). */
  url: string;
  close(): Promise<void>;
}

/** Starts the console. Throws naming the problem (address in use, assets not built, mTLS without tokens). */
export async function startConsole(d: ConsoleDeps): Promise<ConsoleHandle> {
  if (d.mtls && d.users.length === 0)
    throw new Error(
      'option consoleAddr: with mutual TLS the console signs users in with API tokens; set apiTokens or apiTokensFile',
    );
  const assets = loadConsoleAssets();
  const api = new ConsoleApi(d.loopback);
  const auth = authenticator(d.users, false);
  const csp = (styleHash: string, scriptHash: string) =>
    [
      "default-src 'self'",
      `script-src 'self' ${scriptHash}`,
      `style-src 'self' ${styleHash}`,
      "img-src 'self' blob: data:",
      "media-src 'self'",
      "connect-src 'self'",
      "frame-ancestors 'none'",
      "base-uri 'none'",
      "form-action 'self'",
    ].join('; ');
  const pageCsp = csp('', assets.importMapHash);
  const signinCsp = csp(SIGNIN_STYLE_HASH, "'none'");

  /** The user of a request: `{ token }` (undefined when the console is open), or null (refused, 401 sent). */
  const signIn = (req: IncomingMessage, res: ServerResponse, api: boolean): { token?: string; user: string } | null => {
    if (d.users.length === 0) return { user: '' };
    const token = tokenOf(req.headers);
    const md = new grpc.Metadata();
    if (token) md.set('authorization', `Bearer ${token}`);
    const caller = auth(md, undefined);
    if (caller.ok) return { token, user: caller.user };
    const why = token ? caller.why : 'sign in with an API token';
    if (api) sendJson(res, 401, { error: why }, { 'WWW-Authenticate': 'Bearer realm="tessera"' });
    else
      send(res, 401, Buffer.from(signinPage(token ? why : '')), 'text/html; charset=utf-8', {
        'Cache-Control': NO_STORE,
        'Content-Security-Policy': signinCsp,
        'WWW-Authenticate': 'Bearer realm="tessera"',
      });
    return null;
  };

  const serveAsset = (req: IncomingMessage, res: ServerResponse, a: Asset, cache: string, extra = {}) => {
    const headers: Record<string, string> = { 'Cache-Control': cache, ETag: a.etag, Vary: 'Accept-Encoding', ...extra };
    if (req.headers['if-none-match'] === a.etag) {
      res.writeHead(304, headers).end();
      return;
    }
    const gzip = a.gzip && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    if (gzip) headers['Content-Encoding'] = 'gzip';
    send(res, 200, gzip ? a.gzip! : a.body, a.type, headers, req.method === 'HEAD');
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://console');
    const path = url.pathname;
    // Behind a TLS-terminating ingress the cookie is still marked Secure (that only makes it stricter).
    const secure =
      Boolean((req.socket as { encrypted?: boolean }).encrypted) || req.headers['x-forwarded-proto'] === 'https';
    if (path === '/api/session' && req.method === 'POST') return session(req, res, secure);
    if (path === '/api/session' && req.method === 'DELETE') {
      res.writeHead(204, { 'Set-Cookie': tokenCookie('', secure), 'Cache-Control': NO_STORE }).end();
      return;
    }
    if (path.startsWith('/api/')) {
      const who = signIn(req, res, true);
      if (!who) return;
      const ctx: ApiContext = { api, blobs: d.blobs, nc: d.nc, names: d.names, log: d.log, ...who };
      return handleApi(ctx, req, res, url);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'method not allowed' });
    const who = signIn(req, res, false);
    if (!who) return;
    const file = assets.files.get(path);
    if (file) return serveAsset(req, res, file, IMMUTABLE, { 'X-Content-Type-Options': 'nosniff' });
    if (path.startsWith('/assets/')) return sendJson(res, 404, { error: `no asset ${path}` });
    const pageHeaders = {
      'Content-Security-Policy': pageCsp,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    };
    if (path === '/' || path === '/jobs') {
      // The jobs list comes with the page, so it shows at the first paint (and in a DOM dump).
      const jobs = await api.listJobs(who.token, INITIAL_JOBS).catch(() => undefined);
      if (jobs) {
        const page = withInitialData(assets.page.body, { jobs: jobs.map((j) => ({ ...j, shards: [] })) });
        return send(res, 200, page, assets.page.type, { 'Cache-Control': 'private, no-cache', ...pageHeaders });
      }
    }
    if (path === '/' || path === '/fleet' || path === '/jobs' || /^\/jobs\/[A-Za-z0-9_-]+$/.test(path))
      return serveAsset(req, res, assets.page, REVALIDATE, pageHeaders);
    sendJson(res, 404, { error: `no page ${path}` });
  };

  /** POST /api/session: a form (token=…) or JSON ({"token": …}); sets the cookie when the token is valid. */
  const session = async (req: IncomingMessage, res: ServerResponse, secure: boolean) => {
    const body = await readBody(req, 4096);
    const form = String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
    let token = '';
    try {
      token = form ? (new URLSearchParams(body).get('token') ?? '') : String(JSON.parse(body || '{}').token ?? '');
    } catch {
      return sendJson(res, 400, { error: 'body: expected JSON {"token": "..."} or a form with token' });
    }
    token = token.trim();
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token}`);
    const caller = d.users.length === 0 ? { ok: true as const, user: '' } : auth(md, undefined);
    if (!caller.ok) {
      if (form)
        return send(res, 401, Buffer.from(signinPage(caller.why)), 'text/html; charset=utf-8', {
          'Cache-Control': NO_STORE,
          'Content-Security-Policy': signinCsp,
        });
      return sendJson(res, 401, { error: caller.why });
    }
    const cookie = { 'Set-Cookie': tokenCookie(d.users.length ? token : '', secure), 'Cache-Control': NO_STORE };
    if (form) res.writeHead(303, { ...cookie, Location: '/' }).end();
    else sendJson(res, 200, { user: caller.user }, cookie);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const status = e instanceof ConsoleApiError ? httpStatusOf(e.code) : 500;
      if (status >= 500) d.log.warn({ err: e, url: req.url }, 'console request failed');
      if (!res.headersSent) sendJson(res, status, { error: e instanceof Error ? e.message : String(e) });
      else res.end();
    });
  });
  const { host, port } = parseHostPort(d.addr);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as { port: number }).port;
  const shownHost = host === '' || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  const url = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${bound}/`;
  d.log.info({ console: url, assets: assets.version }, 'console serving');
  return {
    port: bound,
    url,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      api.close();
    },
  };
}

/** Jobs the page carries for its first paint (the list loads the rest itself). */
const INITIAL_JOBS = 500;

/**
 * The page with `data` in a JSON script element (not executed, so no CSP source is needed), `<`
 * escaped so the data cannot close the element. Pure.
 */
export function withInitialData(page: Buffer, data: unknown): Buffer {
  const json = JSON.stringify(data).replace(/</g, '\\u003c');
  const tag = `<script type="application/json" id="tessera-initial">${json}</script>`;
  return Buffer.from(page.toString('utf8').replace('</body>', `${tag}\n</body>`));
}

/** Sends a body with its type and headers. */
export function send(
  res: ServerResponse,
  status: number,
  body: Buffer,
  type: string,
  headers: Record<string, string> = {},
  headOnly = false,
): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(body.length), ...headers });
  res.end(headOnly ? undefined : body);
}

/** Sends JSON (never cached: answers are per user and change). */
export function sendJson(res: ServerResponse, status: number, data: unknown, headers: Record<string, string> = {}) {
  send(res, status, Buffer.from(JSON.stringify(data)), 'application/json; charset=utf-8', {
    'Cache-Control': NO_STORE,
    ...headers,
  });
}

/** The request body as text, refused past `max` bytes. */
export async function readBody(req: IncomingMessage, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > max) throw new ConsoleApiError(grpc.status.INVALID_ARGUMENT, `body: above the limit of ${max} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}
