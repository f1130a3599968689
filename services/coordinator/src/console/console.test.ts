import { describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { planTiles } from '@tessera/tiling';
import { JobKind, JobState, ShardState, type Job, type ShardStatus } from '@tessera/protocol';
import { compileCoordinatorOptions } from '../options.js';
import { httpStatusOf } from './api.js';
import { apiPath, contentTypeOf, sseFrame, tokenCookie, tokenOf } from './http-util.js';
import { retryRefusal } from './retry.js';
import { withInitialData } from './server.js';
import { consoleEvent } from './stream.js';
import { tileCrop } from './tiles.js';

const job = (over: Partial<Job>): Job =>
  ({
    id: 'j1',
    name: '',
    kind: JobKind.JOB_KIND_UPSCALE,
    state: JobState.JOB_STATE_RUNNING,
    model: 'esrgan-slim-x4',
    inputWidth: 100,
    inputHeight: 70,
    outputWidth: 400,
    outputHeight: 280,
    tile: 48,
    overlap: 8,
    shards: [],
    ...over,
  }) as Job;

describe('console HTTP pieces', () => {
  it('takes the token from the Authorization header, else from its cookie', () => {
    expect(tokenOf({ authorization: 'Bearer abc' })).toBe('abc');
    expect(tokenOf({ cookie: 'x=1; tessera_token=t%20k; y=2' })).toBe('t k');
    expect(tokenOf({ authorization: 'Basic abc', cookie: 'tessera_token=c' })).toBe('c');
    expect(tokenOf({ cookie: 'other=1' })).toBeUndefined();
    expect(tokenOf({ cookie: 'tessera_token=%E0%A4%A' })).toBeUndefined();
    expect(tokenCookie('tok', false)).toBe('tessera_token=tok; Path=/; HttpOnly; SameSite=Strict');
    expect(tokenCookie('', true)).toBe('tessera_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict; Secure');
  });

  it('names content types, frames events and splits API paths', () => {
    expect(contentTypeOf('app/main.js')).toBe('text/javascript; charset=utf-8');
    expect(contentTypeOf('style.css')).toBe('text/css; charset=utf-8');
    expect(contentTypeOf('icon.svg')).toBe('image/svg+xml');
    expect(contentTypeOf('x.bin')).toBe('application/octet-stream');
    expect(sseFrame('job', { a: 'x\ny' })).toBe('event: job\ndata: {"a":"x\\ny"}\n\n');
    expect(apiPath('/api/jobs/a%2Fb/tiles/3')).toEqual(['jobs', 'a/b', 'tiles', '3']);
    expect(apiPath('/assets/x')).toBeNull();
    expect(apiPath('/api/%E0')).toBeNull();
  });

  it('maps gRPC statuses to HTTP ones', () => {
    expect(httpStatusOf(grpc.status.UNAUTHENTICATED)).toBe(401);
    expect(httpStatusOf(grpc.status.NOT_FOUND)).toBe(404);
    expect(httpStatusOf(grpc.status.INVALID_ARGUMENT)).toBe(400);
    expect(httpStatusOf(grpc.status.FAILED_PRECONDITION)).toBe(409);
    expect(httpStatusOf(grpc.status.RESOURCE_EXHAUSTED)).toBe(429);
    expect(httpStatusOf(grpc.status.UNAVAILABLE)).toBe(503);
    expect(httpStatusOf(grpc.status.INTERNAL)).toBe(502);
  });

  it('embeds first-paint data so that it cannot close its element', () => {
    const page = Buffer.from('<html><body><div id="app"></div></body></html>');
    const out = withInitialData(page, { jobs: [{ name: '</script><script>alert(1)</script>' }] }).toString();
    expect(out).toContain('<script type="application/json" id="tessera-initial">');
    expect(out.match(/<\/script>/g)).toHaveLength(1);
    const json = /id="tessera-initial">(.*)<\/script>/.exec(out)![1];
    expect(JSON.parse(json).jobs[0].name).toBe('</script><script>alert(1)</script>');
  });

  it('turns NATS job events into job and shard events without shard lists', () => {
    const shard = { index: 2, state: ShardState.SHARD_STATE_DONE } as ShardStatus;
    const e = consoleEvent({ event: 'shard', job: job({ shards: [shard] }), shard, unixMs: 5 });
    expect(e.event).toBe('shard');
    expect((e.data as { job: Job }).job.shards).toEqual([]);
    expect((e.data as { shard: ShardStatus }).shard.index).toBe(2);
    expect(consoleEvent({ event: 'job', job: job({}), shard: undefined, unixMs: 1 }).event).toBe('job');
  });
});

describe('tile thumbnails', () => {
  it('crops each tile to its core within its stored output, scaled', () => {
    const plan = planTiles({ width: 100, height: 70, tile: 48, overlap: 8 });
    for (const t of plan.tiles) {
      const c = tileCrop(job({}), t.index)!;
      expect(c.rawWidth).toBe(t.input.width * 4);
      expect(c.rawHeight).toBe(t.input.height * 4);
      expect(c.left + c.width).toBeLessThanOrEqual(c.rawWidth);
      expect(c.top + c.height).toBeLessThanOrEqual(c.rawHeight);
      // The core lands where the region the coordinator reports for the tile lies.
      expect((t.input.x * 4 + c.left) / 4).toBe(t.core.x);
      expect(c.width).toBe(t.core.width * 4);
    }
    expect(tileCrop(job({}), plan.tiles.length)).toBeNull();
    expect(tileCrop(job({ kind: JobKind.JOB_KIND_VIDEO }), 0)).toBeNull();
  });
});

describe('retry', () => {
  it('retries finished tiled upscales without refine only', () => {
    expect(retryRefusal(job({ state: JobState.JOB_STATE_RUNNING }))).toMatch(/not finished/);
    expect(retryRefusal(job({ state: JobState.JOB_STATE_FAILED }))).toBeNull();
    expect(retryRefusal(job({ state: JobState.JOB_STATE_CANCELLED, kind: JobKind.JOB_KIND_VIDEO }))).toMatch(
      /upscales only/,
    );
    const refine = [{ stage: 'refine' } as ShardStatus];
    expect(retryRefusal(job({ state: JobState.JOB_STATE_SUCCEEDED, shards: refine }))).toMatch(/refine/);
  });
});

describe('console options', () => {
  it('is off by default, and under mutual TLS needs API tokens', () => {
    expect(compileCoordinatorOptions({}).consoleAddr).toBe('');
    const mtls = { consoleAddr: '127.0.0.1:0', tlsCert: 'c.pem', tlsKey: 'k.pem', tlsClientCa: 'ca.pem' };
    expect(() => compileCoordinatorOptions(mtls)).toThrow(/option consoleAddr: .*set apiTokens or apiTokensFile/);
    // With a token the console check passes (and the missing PEM files are reported instead).
    expect(() => compileCoordinatorOptions({ ...mtls, apiTokens: 'alice:token-12345' })).toThrow(/tlsCert/);
  });
});
