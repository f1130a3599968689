/**
 * The agent's model cache (@tessera/models ModelCache) against a real nats-server: fetch by digest
 * with every file verified, hard-linked shared blobs, one download for concurrent acquirers, LRU
 * eviction of idle models under a capacity, a model larger than the cache refused, a corrupt store
 * never installed, and a process SIGKILLed mid-fetch that leaves nothing loadable and completes after
 * a restart.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blobKey,
  MODEL_MARKER,
  ModelCache,
  ModelIntegrityError,
  ModelNotFoundError,
  ModelStore,
  modelStoreNames,
  ModelTooLargeError,
} from '@tessera/models';
import { startNats, type TestNats } from './helpers/nats-server.js';
import { repoRoot, waitFor } from './helpers/process.js';

function writeModel(dir: string, files: Record<string, Buffer>): string {
  for (const [p, b] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), b);
  }
  return dir;
}

describe('ModelCache', () => {
  let nats: TestNats;
  let nc: NatsConnection;
  let store: ModelStore;
  let root: string;
  const farm = `mc${Date.now().toString(36)}`;
  const shared = randomBytes(600_000);
  const files = { a: randomBytes(400_000), b: randomBytes(300_000), c: randomBytes(900_000) };

  beforeAll(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    store = await ModelStore.open(nc, { farm, create: true });
    root = mkdtempSync(join(tmpdir(), 'tessera-cache-'));
    for (const [id, unet] of Object.entries(files))
      await store.push(
        `m-${id}`,
        writeModel(join(root, 'src', id), { 'text_encoder/model.onnx': shared, 'unet/model.onnx': unet }),
      );
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const cacheAt = (dir: string, capacityBytes = 0, events: string[] = []) =>
    new ModelCache({
      dir,
      capacityBytes,
      store: async () => store,
      onFetched: (s) => events.push(`fetched ${s.model} ${s.bytes}`),
      onHit: (m) => events.push(`hit ${m}`),
      onEvicted: (m) => events.push(`evicted ${m}`),
    });

  it('fetches a model by digest, verified, into <dir>/<id>; shares one download between acquirers', async () => {
    const dir = join(root, 'c1');
    const events: string[] = [];
    const cache = cacheAt(dir, 0, events);
    const [l1, l2] = await Promise.all([cache.acquire('m-a'), cache.acquire('m-a')]);
    expect(l1.dir).toBe(join(dir, 'm-a'));
    expect(events.filter((e) => e.startsWith('fetched'))).toEqual([`fetched m-a ${shared.length + files.a.length}`]);
    expect(readFileSync(join(l1.dir, 'unet', 'model.onnx')).equals(files.a)).toBe(true);
    expect(JSON.parse(readFileSync(join(l1.dir, MODEL_MARKER), 'utf8')).digest).toBe(
      (await store.manifest('m-a'))!.digest,
    );
    l1.release();
    l2.release();
    // A second model sharing the text encoder downloads only its own file.
    await cache.acquire('m-b').then((l) => l.release());
    expect(events.at(-1)).toBe(`fetched m-b ${files.b.length}`);
    expect(cache.held().map((m) => m.id)).toEqual(['m-a', 'm-b']);
    // A fresh cache on the same directory finds both installed, and hits.
    const again = cacheAt(dir, 0, events);
    await again.acquire('m-a').then((l) => l.release());
    expect(events.at(-1)).toBe('hit m-a');
    await expect(again.acquire('nope')).rejects.toBeInstanceOf(ModelNotFoundError);
  });

  it('one acquirer giving up does not fail the shared download of another', async () => {
    const cache = cacheAt(join(root, 'c7'));
    const ac = new AbortController();
    const first = cache.acquire('m-c', ac.signal);
    const second = cache.acquire('m-c');
    ac.abort(new Error('cancelled'));
    await expect(first).rejects.toThrow('cancelled');
    const l = await second;
    expect(readFileSync(join(l.dir, 'unet', 'model.onnx')).equals(files.c)).toBe(true);
  });

  it('keeps hand-provisioned directories, advertised without a digest and never evicted', async () => {
    const dir = join(root, 'c2');
    writeModel(join(dir, 'svd-xt'), { 'model_index.json': Buffer.from('{}') });
    const cache = cacheAt(dir);
    await cache.init();
    expect(cache.held()).toEqual([{ id: 'svd-xt', digest: '', bytes: 2 }]);
    const l = await cache.acquire('svd-xt');
    expect(l.dir).toBe(join(dir, 'svd-xt'));
  });

  it('evicts the least recently used idle model when the next does not fit; refuses a model larger than the cache', async () => {
    const dir = join(root, 'c3');
    const events: string[] = [];
    // Room for shared + b + c, not for a as well.
    const cache = cacheAt(dir, shared.length + files.b.length + files.c.length + 1000, events);
    await cache.acquire('m-a').then((l) => l.release());
    const b = await cache.acquire('m-b'); // in use: not evictable
    const c = await cache.acquire('m-c');
    expect(events).toContain('evicted m-a');
    expect(cache.held().map((m) => m.id)).toEqual(['m-b', 'm-c']);
    expect(existsSync(join(dir, 'm-a'))).toBe(false);
    expect(readFileSync(join(c.dir, 'unet', 'model.onnx')).equals(files.c)).toBe(true);
    b.release();
    c.release();
    const small = cacheAt(join(root, 'c4'), 100_000);
    await expect(small.acquire('m-a')).rejects.toBeInstanceOf(ModelTooLargeError);
    expect(existsSync(join(root, 'c4', 'm-a'))).toBe(false);
  });

  it('prefetches a model it lacks when it fits beside the others, and never evicts for a prefetch', async () => {
    const dir = join(root, 'c8');
    const events: string[] = [];
    // Room for shared + a + b, or for shared + c; not for c beside a and b.
    const cache = cacheAt(dir, shared.length + files.c.length + 1000, events);
    expect(await cache.prefetch('m-a')).toBe(true);
    expect(events).toEqual([`fetched m-a ${shared.length + files.a.length}`]);
    expect(await cache.prefetch('m-a')).toBe(false); // held at the store's digest already
    expect(await cache.prefetch('m-b')).toBe(true);
    expect(await cache.prefetch('m-c')).toBe(false); // would need an eviction
    expect(await cache.prefetch('nope')).toBe(false); // not in the store
    expect(cache.held().map((m) => m.id)).toEqual(['m-a', 'm-b']);
    expect(events.some((e) => e.startsWith('evicted'))).toBe(false);
    // A shard that needs m-c still gets it, evicting the least recently used idle model.
    await cache.acquire('m-c').then((l) => l.release());
    expect(events).toContain('evicted m-a');
  });

  it('never installs a model whose stored bytes are corrupt', async () => {
    await store.push('victim', writeModel(join(root, 'src', 'victim'), { 'w.bin': randomBytes(700_000) }));
    const m = (await store.manifest('victim'))!;
    const names = modelStoreNames(farm);
    const os = await new Objm(jetstream(nc)).open(names.files);
    const meta = (await os.info(blobKey(m.files[0].sha256)))!;
    const jsm = await jetstreamManager(nc);
    const subject = `$O.${names.files}.C.${meta.nuid}`;
    const last = (await jsm.streams.getMessage(`OBJ_${names.files}`, { last_by_subj: subject }))!;
    const bad = Buffer.from(last.data);
    bad[0] ^= 1;
    await jsm.streams.deleteMessage(`OBJ_${names.files}`, last.seq);
    await jetstream(nc).publish(subject, bad);
    const dir = join(root, 'c5');
    const cache = cacheAt(dir);
    await expect(cache.acquire('victim')).rejects.toBeInstanceOf(ModelIntegrityError);
    expect(existsSync(join(dir, 'victim'))).toBe(false);
    expect(readdirSync(join(dir, '.tessera-blobs'))).toEqual([]);
    expect(cache.held()).toEqual([]);
  });

  it('a process SIGKILLed mid-fetch leaves no loadable model; a restart completes the fetch', async () => {
    const big = randomBytes(48 * 1024 * 1024);
    const small = randomBytes(1000);
    await store.push('big', writeModel(join(root, 'src', 'big'), { 'a.bin': small, 'z.bin': big }));
    const dir = join(root, 'c6');
    const script = `
      import { connect } from '@nats-io/transport-node';
      import { ModelCache, ModelStore } from '@tessera/models';
      const nc = await connect({ servers: ${JSON.stringify(nats.url)} });
      const store = await ModelStore.open(nc, { farm: ${JSON.stringify(farm)} });
      await new ModelCache({ dir: ${JSON.stringify(dir)}, store: async () => store }).acquire('big');
      console.log('done');
      await nc.close();`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: repoRoot, stdio: 'pipe' });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    // Kill it once the big file is partly written.
    await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`fetcher exited early: ${out}`);
        const blobs = existsSync(join(dir, '.tessera-blobs')) ? readdirSync(join(dir, '.tessera-blobs')) : [];
        return blobs.some((f) => f.endsWith('.part'));
      },
      30_000,
      'a partial download',
      5,
    );
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(existsSync(join(dir, 'big'))).toBe(false);
    const cache = cacheAt(dir);
    await cache.init();
    expect(cache.held()).toEqual([]);
    expect(readdirSync(join(dir, '.tessera-blobs')).filter((f) => f.endsWith('.part'))).toEqual([]);
    const l = await cache.acquire('big');
    expect(readFileSync(join(l.dir, 'z.bin')).equals(big)).toBe(true);
    expect(readFileSync(join(l.dir, 'a.bin')).equals(small)).toBe(true);
  });
});
