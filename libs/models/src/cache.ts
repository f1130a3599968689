/**
 * An agent's model cache (`--models DIR`): models fetched from the farm's store by digest, every
 * file's SHA-256 checked, installed atomically, bounded by a byte capacity with least-recently-used
 * eviction of idle models. Layout under DIR:
 *
 *   .tessera-blobs/<sha256>        verified file contents (content-addressed; shared between models)
 *   .tessera-blobs/<sha256>.part   a download in progress (deleted at start: a killed fetch restarts that file)
 *   .tessera-tmp/                  model directories being assembled (deleted at start)
 *   <id>/                          an installed model: hard links to its blobs + `.tessera-model.json` (its manifest)
 *   <other>/                       hand-provisioned directories (no marker): used and advertised as they are,
 *                                  never evicted nor counted against the capacity
 *
 * A model appears at `<id>/` only by a rename of a complete, verified directory, so the engine never
 * sees a half-fetched model. Fetches of one model by several slots share one download.
 */
import { createWriteStream } from 'node:fs';
import { link, mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { ModelNotFoundError, ModelTooLargeError } from './errors.js';
import { assertModelId, parseManifest, type ModelManifest } from './manifest.js';
import type { ModelStore } from './store.js';

/** The marker file an installed model carries (its manifest). */
export const MODEL_MARKER = '.tessera-model.json';
const BLOBS = '.tessera-blobs';
const TMP = '.tessera-tmp';

/** A model on this agent's disk, as adverts list it. */
export interface CachedModel {
  id: string;
  /** Store digest; '' for a hand-provisioned directory. */
  digest: string;
  bytes: number;
}

/** What the cache reports about a fetch (for metrics). */
export interface FetchStats {
  model: string;
  bytes: number;
  seconds: number;
}

export interface ModelCacheOptions {
  dir: string;
  /** Capacity in bytes of fetched models (0 = unbounded). */
  capacityBytes?: number;
  /** The farm's store, opened lazily (null while it does not exist yet). */
  store: () => Promise<ModelStore | null>;
  onFetched?: (s: FetchStats) => void;
  onHit?: (model: string) => void;
  onMiss?: (model: string) => void;
  onEvicted?: (model: string, bytes: number) => void;
}

interface Installed {
  manifest: ModelManifest;
  lastUsedMs: number;
  inUse: number;
}

/** A held model: release it when the engine is done with it, so it may be evicted again. */
export interface ModelLease {
  dir: string;
  digest: string;
  release(): void;
}

export class ModelCache {
  private readonly installed = new Map<string, Installed>();
  private readonly hand = new Map<string, number>();
  private readonly fetching = new Map<string, Promise<void>>();
  private readonly capacity: number;
  private ready?: Promise<void>;

  constructor(private readonly o: ModelCacheOptions) {
    this.capacity = o.capacityBytes ?? 0;
  }

  /** Cleans up after a killed process and loads what is installed. Idempotent. */
  init(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(join(this.o.dir, BLOBS), { recursive: true });
      await rm(join(this.o.dir, TMP), { recursive: true, force: true });
      for (const f of await readdir(join(this.o.dir, BLOBS)))
        if (f.endsWith('.part')) await rm(join(this.o.dir, BLOBS, f), { force: true });
      for (const e of await readdir(this.o.dir, { withFileTypes: true })) {
        if (!e.isDirectory() || e.name.startsWith('.')) continue;
        const marker = join(this.o.dir, e.name, MODEL_MARKER);
        const text = await readFile(marker, 'utf8').catch(() => undefined);
        if (text === undefined) {
          this.hand.set(e.name, await dirBytes(join(this.o.dir, e.name)));
          continue;
        }
        try {
          const manifest = parseManifest(text);
          this.installed.set(e.name, { manifest, lastUsedMs: (await stat(marker)).mtimeMs, inUse: 0 });
        } catch {
          await rm(join(this.o.dir, e.name), { recursive: true, force: true });
        }
      }
    })();
    return this.ready;
  }

  /** Models on disk (installed and hand-provisioned), sorted by id. */
  held(): CachedModel[] {
    const out: CachedModel[] = [...this.installed.values()].map((i) => ({
      id: i.manifest.id,
      digest: i.manifest.digest,
      bytes: i.manifest.totalBytes,
    }));
    for (const [id, bytes] of this.hand) if (!this.installed.has(id)) out.push({ id, digest: '', bytes });
    return out.sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /** Capacity in bytes (0 = unbounded). */
  capacityBytes(): number {
    return this.capacity;
  }

  /** Room for another model: free bytes plus what evicting every idle model would free (0 when unbounded). */
  freeBytes(): number {
    if (!this.capacity) return 0;
    const busy = this.usedBytes((i) => i.inUse > 0);
    return Math.max(0, this.capacity - busy);
  }

  /**
   * The directory of model `id`, fetching it from the store when absent or stale, held until
   * `release()`. A hand-provisioned directory wins (used as it is). Throws ModelNotFoundError when
   * neither the cache nor the store has it, ModelTooLargeError when it cannot fit,
   * ModelIntegrityError when the store's bytes are corrupt.
   */
  async acquire(id: string, signal?: AbortSignal): Promise<ModelLease> {
    assertModelId(id);
    await this.init();
    const dir = join(this.o.dir, id);
    if (this.hand.has(id) && !this.installed.has(id)) {
      this.o.onHit?.(id);
      return { dir, digest: '', release: () => undefined };
    }
    const store = await this.o.store();
    const want = store ? await store.manifest(id) : null;
    const have = this.installed.get(id);
    if (!want && !have) throw new ModelNotFoundError(id);
    if (want && have?.manifest.digest !== want.digest) {
      this.o.onMiss?.(id);
      let job = this.fetching.get(id);
      if (!job) {
        // Shared by every acquirer: one caller giving up must not fail the others' download.
        job = this.fetch(store!, want).finally(() => this.fetching.delete(id));
        this.fetching.set(id, job);
      }
      await untilAborted(job, signal);
    } else this.o.onHit?.(id);
    const inst = this.installed.get(id)!;
    inst.inUse++;
    inst.lastUsedMs = Date.now();
    await utimes(join(dir, MODEL_MARKER), new Date(), new Date()).catch(() => undefined);
    let released = false;
    return {
      dir,
      digest: inst.manifest.digest,
      release: () => {
        if (!released) inst.inUse--;
        released = true;
      },
    };
  }

  /**
   * Fetches model `id` ahead of need (a queued job's prefetch notice) when the store has it, this
   * cache lacks it (or holds an older version), and it fits in the room other models leave: a guess
   * never evicts. Shares the download with any acquirer. Resolves true when it fetched the model.
   */
  async prefetch(id: string): Promise<boolean> {
    assertModelId(id);
    await this.init();
    if (this.hand.has(id) || this.fetching.has(id)) return false;
    const store = await this.o.store();
    const want = store ? await store.manifest(id) : null;
    if (!want || this.installed.get(id)?.manifest.digest === want.digest) return false;
    if (this.capacity && !this.fitsBeside(want)) return false;
    (await this.acquire(id)).release();
    return true;
  }

  private usedBytes(filter: (i: Installed) => boolean = () => true): number {
    const blobs = new Map<string, number>();
    for (const i of this.installed.values())
      if (filter(i)) for (const f of i.manifest.files) blobs.set(f.sha256, f.size);
    return [...blobs.values()].reduce((s, n) => s + n, 0);
  }

  /** True when `m`'s files and every other installed model's (each distinct file once) fit the capacity. */
  private fitsBeside(m: ModelManifest): boolean {
    const blobs = new Map(m.files.map((f) => [f.sha256, f.size]));
    for (const i of this.installed.values())
      if (i.manifest.id !== m.id) for (const f of i.manifest.files) blobs.set(f.sha256, f.size);
    return [...blobs.values()].reduce((s, n) => s + n, 0) <= this.capacity;
  }

  /** Evicts least recently used idle models until `need` more bytes fit. */
  private async makeRoom(m: ModelManifest): Promise<void> {
    if (!this.capacity) return;
    const own = new Map(m.files.map((f) => [f.sha256, f.size]));
    const ownBytes = [...own.values()].reduce((s, n) => s + n, 0);
    if (ownBytes > this.capacity) throw new ModelTooLargeError(m.id, ownBytes, this.capacity);
    const fits = () => this.fitsBeside(m);
    const idle = [...this.installed.values()]
      .filter((i) => i.inUse === 0 && i.manifest.id !== m.id)
      .sort((a, b) => a.lastUsedMs - b.lastUsedMs);
    while (!fits()) {
      const victim = idle.shift();
      if (!victim) throw new ModelTooLargeError(m.id, ownBytes, this.freeBytes());
      await this.evict(victim.manifest.id);
    }
  }

  /** Removes an installed model and the blobs no other installed model uses. */
  private async evict(id: string): Promise<void> {
    const inst = this.installed.get(id);
    if (!inst) return;
    this.installed.delete(id);
    await rm(join(this.o.dir, id), { recursive: true, force: true });
    const keep = new Set([...this.installed.values()].flatMap((i) => i.manifest.files.map((f) => f.sha256)));
    for (const f of inst.manifest.files)
      if (!keep.has(f.sha256)) await rm(join(this.o.dir, BLOBS, f.sha256), { force: true });
    this.o.onEvicted?.(id, inst.manifest.totalBytes);
  }

  private async fetch(store: ModelStore, m: ModelManifest): Promise<void> {
    await this.makeRoom(m);
    const t0 = performance.now();
    let bytes = 0;
    const blobs = join(this.o.dir, BLOBS);
    for (const f of new Map(m.files.map((x) => [x.sha256, x])).values()) {
      const blob = join(blobs, f.sha256);
      const st = await stat(blob).catch(() => undefined);
      if (st?.size === f.size) continue;
      const part = `${blob}.${randomBytes(4).toString('hex')}.part`;
      try {
        await pipeline(Readable.from(store.read(m.id, f)), createWriteStream(part));
        await rename(part, blob);
      } catch (e) {
        await rm(part, { force: true });
        throw e;
      }
      bytes += f.size;
    }
    // Assemble the directory beside the cache and rename it into place in one step.
    const tmp = join(this.o.dir, TMP, `${m.id}-${randomBytes(4).toString('hex')}`);
    for (const f of m.files) {
      const to = join(tmp, ...f.path.split('/'));
      await mkdir(join(to, '..'), { recursive: true });
      await link(join(blobs, f.sha256), to);
    }
    await writeFile(join(tmp, MODEL_MARKER), JSON.stringify(m));
    const dest = join(this.o.dir, m.id);
    const old = this.installed.get(m.id);
    if (old || this.hand.has(m.id)) {
      const trash = join(this.o.dir, TMP, `${m.id}-old-${randomBytes(4).toString('hex')}`);
      await rename(dest, trash).catch(() => undefined);
      await rename(tmp, dest);
      await rm(trash, { recursive: true, force: true });
    } else await rename(tmp, dest);
    this.installed.set(m.id, { manifest: m, lastUsedMs: Date.now(), inUse: 0 });
    if (old) {
      const keep = new Set([...this.installed.values()].flatMap((i) => i.manifest.files.map((f) => f.sha256)));
      for (const f of old.manifest.files) if (!keep.has(f.sha256)) await rm(join(blobs, f.sha256), { force: true });
    }
    this.o.onFetched?.({ model: m.id, bytes, seconds: (performance.now() - t0) / 1000 });
  }
}

/** `p`, or a rejection with the signal's reason as soon as it aborts (`p` goes on). */
function untilAborted<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

async function dirBytes(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) n += (await stat(join(e.parentPath, e.name))).size;
  return n;
}
