/**
 * The console's JSON API under /api/: each call made on the signed-in user's behalf. Answers are
 * the API's messages as plain JSON (camelCase fields, enums as their proto numbers, every field present).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NatsConnection } from '@nats-io/transport-node';
import * as grpc from '@grpc/grpc-js';
import { ShardState, type FarmNames, type Job } from '@tessera/protocol';
import type { Logger } from '@tessera/runtime';
import type { BlobStore } from '../blobs.js';
import { ConsoleApiError, type ConsoleApi } from './api.js';
import { apiPath, IMMUTABLE, NO_STORE } from './http-util.js';
import { retryRefusal, retryRequest } from './retry.js';
import { send, sendJson } from './server.js';
import { openEventStream } from './stream.js';
import { tileThumbnail } from './tiles.js';

/** One API request's context: the farm, and who asks. */
export interface ApiContext {
  api: ConsoleApi;
  blobs: BlobStore;
  nc: NatsConnection;
  names: FarmNames;
  log: Logger;
  /** The user's token (undefined when the console is open) and name. */
  token?: string;
  user: string;
}

const JOB_ID = /^[A-Za-z0-9_-]{1,128}$/;
const FORMATS = new Set(['', 'png', 'webp', 'mp4']);

const bad = (field: string, why: string) => new ConsoleApiError(grpc.status.INVALID_ARGUMENT, `${field}: ${why}`);

/** The host of an Origin header; undefined for an opaque origin ("null") or garbage. */
function originHost(origin: string): string | undefined {
  try {
    return new URL(origin).host;
  } catch {
    return undefined;
  }
}

/** Routes one /api/ request. Errors thrown are answered by the server with their HTTP status. */
export async function handleApi(c: ApiContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const parts = apiPath(url.pathname) ?? [];
  const method = req.method ?? 'GET';
  const [head, id, sub, arg] = parts;
  if (method === 'POST') {
    // Cookies are SameSite=Strict; a cross-site form post is refused all the same.
    const origin = req.headers.origin;
    if (origin && originHost(origin) !== req.headers.host)
      return sendJson(res, 403, { error: `origin ${origin} may not change this farm` });
  }
  if (head === 'me' && parts.length === 1) return sendJson(res, 200, { user: c.user, auth: c.token !== undefined });
  if (head === 'agents' && parts.length === 1) {
    const agents = await c.api.listAgents(c.token);
    return sendJson(res, 200, { agents });
  }
  if (head === 'events' && parts.length === 1) {
    const job = url.searchParams.get('job') ?? '';
    if (job && !JOB_ID.test(job)) throw bad('job', 'not a job id');
    // The stream of one job opens only when the API shows this user the job.
    if (job) await c.api.getJob(c.token, job);
    return openEventStream(
      res,
      c.nc,
      c.names,
      {
        jobId: job || undefined,
        canSee: async (jobId) => {
          try {
            await c.api.getJob(c.token, jobId);
            return true;
          } catch {
            return false;
          }
        },
      },
      (e) => c.log.warn({ err: e }, 'console event stream'),
    );
  }
  if (head !== 'jobs') return sendJson(res, 404, { error: `no API ${url.pathname}` });
  if (parts.length === 1 && method === 'GET') {
    const raw = url.searchParams.get('limit') ?? '200';
    const limit = Number(raw);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw bad('limit', `${raw} is not in 1..10000`);
    const jobs = await c.api.listJobs(c.token, limit);
    return sendJson(res, 200, { jobs: jobs.map((j) => ({ ...j, shards: [] })) });
  }
  if (!id || !JOB_ID.test(id)) throw bad('job id', 'expected letters, digits, _ and -');
  if (parts.length === 2 && method === 'GET') return sendJson(res, 200, { job: await c.api.getJob(c.token, id) });
  if (sub === 'cancel' && parts.length === 3 && method === 'POST') {
    const job = await c.api.cancelJob(c.token, id);
    return sendJson(res, 200, { job });
  }
  if (sub === 'retry' && parts.length === 3 && method === 'POST') {
    const job = await c.api.getJob(c.token, id);
    const why = retryRefusal(job);
    if (why) throw new ConsoleApiError(grpc.status.FAILED_PRECONDITION, why);
    const jobId = await c.api.submitJob(c.token, await retryRequest(c.blobs, job));
    return sendJson(res, 200, { jobId });
  }
  if (sub === 'tiles' && parts.length === 4 && method === 'GET') {
    const index = Number(arg);
    if (!Number.isInteger(index) || index < 0) throw bad('tile', `${arg} is not a shard index`);
    const thumb = await tileThumbnail(c.blobs, await jobForTile(c, id, index), index);
    if (!thumb) return sendJson(res, 404, { error: `tile ${index} of job ${id} has no committed output` });
    // The URL names the attempt (?a=N) and an attempt's output never changes.
    const cache = url.searchParams.has('a') ? `private, ${IMMUTABLE.replace('public, ', '')}` : NO_STORE;
    return send(res, 200, thumb, 'image/webp', { 'Cache-Control': cache });
  }
  if (sub === 'output' && parts.length === 3 && method === 'GET') return output(c, res, id, url);
  sendJson(res, 404, { error: `no API ${method} ${url.pathname}` });
}

/**
 * A job page asks for many tiles at once; each would cost a GetJob with every shard. One answer
 * serves the same user's requests for a few seconds, unless it does not show the tile committed yet.
 */
const tileJobs = new Map<string, { at: number; job: Promise<Job> }>();
const TILE_JOB_MS = 3000;

async function jobForTile(c: ApiContext, id: string, index: number): Promise<Job> {
  const key = `${c.token ?? ''}\0${id}`;
  const now = Date.now();
  const hit = tileJobs.get(key);
  if (hit && now - hit.at < TILE_JOB_MS) {
    const job = await hit.job.catch(() => undefined);
    if (job?.shards.some((s) => s.index === index && s.state === ShardState.SHARD_STATE_DONE)) return job;
  }
  if (tileJobs.size >= 256) tileJobs.clear();
  const job = c.api.getJob(c.token, id);
  tileJobs.set(key, { at: now, job });
  job.catch(() => tileJobs.delete(key));
  return job;
}

/** GET /api/jobs/ID/output[?format=]: GetJobOutput streamed through; revalidated by its SHA-256. */
async function output(c: ApiContext, res: ServerResponse, id: string, url: URL): Promise<void> {
  const format = url.searchParams.get('format') ?? '';
  if (!FORMATS.has(format)) throw bad('format', `${format} is not one of png, webp, mp4`);
  const stream = c.api.output(c.token, id, format);
  let started = false;
  await new Promise<void>((resolve, reject) => {
    res.on('close', () => stream.cancel());
    stream.on('data', (m: { data: Uint8Array; totalBytes: number; contentType: string; sha256: string }) => {
      if (!started) {
        started = true;
        res.writeHead(200, {
          'Content-Type': m.contentType || 'application/octet-stream',
          'Content-Length': String(m.totalBytes),
          'Cache-Control': 'private, no-cache',
          ...(m.sha256 ? { ETag: `"${m.sha256}"` } : {}),
        });
      }
      if (!res.write(m.data)) {
        stream.pause();
        res.once('drain', () => stream.resume());
      }
    });
    stream.on('error', (e: grpc.ServiceError) => {
      if (started) {
        res.destroy(e);
        resolve();
      } else reject(new ConsoleApiError(e.code, e.details || e.message));
    });
    stream.on('end', () => {
      res.end();
      resolve();
    });
  });
}
