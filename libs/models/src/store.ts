/**
 * The farm's model store on JetStream: an object store of files keyed by SHA-256 (each distinct file
 * stored once, whichever models share it) and a KV bucket of manifests (model id → version digest and
 * files). Pushing uploads only the files the store lacks, so a re-push of an unchanged model, or an
 * interrupted push run again, sends nothing already stored. Every read is checked against the
 * manifest's SHA-256 and size (ModelIntegrityError on a mismatch).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';
import { InvalidModelError, ModelIntegrityError, ModelNotFoundError } from './errors.js';
import {
  assertModelId,
  buildManifest,
  parseManifest,
  referencedBlobs,
  summarize,
  type ModelFile,
  type ModelManifest,
  type StoreSummary,
} from './manifest.js';
import { scanModel } from './scan.js';

/** Bucket names of a farm's model store, defined once. */
export function modelStoreNames(farm = 'tessera'): { files: string; manifests: string } {
  if (!/^[A-Za-z0-9_-]+$/.test(farm)) throw new InvalidModelError(`bad farm prefix ${farm}`, 'farm');
  return { files: `${farm}-models`, manifests: `${farm}-model-manifests` };
}

/** The object-store key of a file's content. */
export function blobKey(sha256: string): string {
  return `sha256-${sha256}`;
}

/** Progress of a push: `phase` hash (reading the directory) then upload. */
export interface PushProgress {
  phase: 'hash' | 'upload';
  doneBytes: number;
  totalBytes: number;
  file: string;
}

/** What a push did. */
export interface PushResult {
  manifest: ModelManifest;
  /** Bytes and files sent (files the store lacked). */
  uploadedBytes: number;
  uploadedFiles: number;
  /** Bytes already stored (shared with another model, or an earlier push). */
  skippedBytes: number;
}

/** Options of push. */
export interface PushOptions {
  signal?: AbortSignal;
  onProgress?: (p: PushProgress) => void;
  clock?: () => Date;
}

/** Object-store chunk size: under the server's default 1 MiB max payload, large enough to stream fast. */
const CHUNK_BYTES = 512 * 1024;

/** A handle on one farm's model store. */
export class ModelStore {
  private jsm?: Promise<JetStreamManager>;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly files: ObjectStore,
    private readonly manifests: KV,
  ) {}

  /** Opens the store's buckets, creating them when `create` (the coordinator and `push` do). */
  static async open(nc: NatsConnection, o: { farm?: string; create?: boolean } = {}): Promise<ModelStore> {
    const names = modelStoreNames(o.farm);
    const js = jetstream(nc);
    const [files, manifests] = o.create
      ? await Promise.all([
          new Objm(js).create(names.files, { storage: 'file' } as never),
          new Kvm(js).create(names.manifests, { history: 1, storage: 'file' } as never),
        ])
      : await Promise.all([new Objm(js).open(names.files), new Kvm(js).open(names.manifests)]);
    return new ModelStore(nc, files, manifests);
  }

  /** The manifest of a model, or null when the store has none. */
  async manifest(id: string): Promise<ModelManifest | null> {
    const e = await this.manifests.get(assertModelId(id));
    if (!e || e.operation !== 'PUT' || e.length === 0) return null;
    return parseManifest(e.string());
  }

  /** Every manifest, sorted by id. */
  async list(): Promise<ModelManifest[]> {
    const out: ModelManifest[] = [];
    for await (const key of await this.manifests.keys()) {
      const m = await this.manifest(key);
      if (m) out.push(m);
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  /**
   * Calls `onChange` after every manifest put or delete from now on (any pusher, any replica), so a
   * reader's cached list can follow the store at once instead of polling. Returns the stop function.
   */
  async watch(onChange: () => void): Promise<() => void> {
    const it = await this.manifests.watch({ include: 'updates' });
    void (async () => {
      for await (const _e of it) onChange();
    })().catch(() => undefined);
    return () => it.stop();
  }

  /** Sizes per model and of the store, each distinct file counted once. */
  async summary(): Promise<StoreSummary> {
    return summarize(await this.list());
  }

  /** True when the store holds `file`'s bytes (same key and size, not deleted). */
  async has(file: Pick<ModelFile, 'sha256' | 'size'>): Promise<boolean> {
    const info = await this.files.info(blobKey(file.sha256));
    return !!info && !info.deleted && info.size === file.size;
  }

  /** The distinct files of `files` the store lacks (each content once). */
  async missing(files: readonly ModelFile[]): Promise<ModelFile[]> {
    const out: ModelFile[] = [];
    for (const f of new Map(files.map((x) => [x.sha256, x])).values()) if (!(await this.has(f))) out.push(f);
    return out;
  }

  /**
   * Records `id` as the model made of `files`, once every file is stored (a file missing throws
   * InvalidModelError naming it, field `files`). Returns the manifest.
   */
  async commit(id: string, files: readonly ModelFile[], at: Date = new Date()): Promise<ModelManifest> {
    const manifest = buildManifest(id, files, at);
    const absent = await this.missing(manifest.files);
    if (absent.length)
      throw new InvalidModelError(
        `model ${id}: ${absent.length} file(s) not uploaded yet, first ${absent[0].path} (SHA-256 ${absent[0].sha256})`,
        'files',
      );
    await this.manifests.put(id, JSON.stringify(manifest));
    return manifest;
  }

  /**
   * Pushes the model in `dir` (a directory or one file) as `id`: hashes every file, uploads those the
   * store lacks in chunks, then records the manifest (last, so a manifest never names a missing file).
   */
  async push(id: string, dir: string, o: PushOptions = {}): Promise<PushResult> {
    assertModelId(id);
    const local = await scanModel(dir, {
      signal: o.signal,
      onProgress: (done, file) => o.onProgress?.({ phase: 'hash', doneBytes: done, totalBytes: 0, file }),
    });
    const bySha = new Map(local.map((f) => [f.sha256, f]));
    const missing = (await this.missing(local)).map((f) => bySha.get(f.sha256)!);
    const totalBytes = missing.reduce((s, f) => s + f.size, 0);
    let doneBytes = 0;
    for (const f of missing) {
      o.signal?.throwIfAborted();
      await this.putFile(id, f.path, f.source, f, (n) => {
        o.onProgress?.({ phase: 'upload', doneBytes: doneBytes + n, totalBytes, file: f.path });
      });
      doneBytes += f.size;
    }
    // A concurrent `rm` of a model sharing a file may have collected it since our check: put any
    // such file back before recording the manifest.
    for (const f of await this.missing(local)) await this.putFile(id, f.path, bySha.get(f.sha256)!.source, f, () => 0);
    const manifest = await this.commit(id, local, (o.clock ?? (() => new Date()))());
    return {
      manifest,
      uploadedBytes: totalBytes,
      uploadedFiles: missing.length,
      skippedBytes: manifest.totalBytes - totalBytes,
    };
  }

  /**
   * Stores one file's bytes under its SHA-256 from any byte source (the gRPC push streams chunks
   * through here). The stored object's digest is checked against `expect`; a mismatch deletes it.
   */
  async putStream(
    modelId: string,
    path: string,
    source: AsyncIterable<Uint8Array>,
    expect: Pick<ModelFile, 'sha256' | 'size'>,
    onBytes: (n: number) => void = () => undefined,
  ): Promise<void> {
    const h = createHash('sha256');
    let n = 0;
    const counted = async function* () {
      for await (const c of source) {
        h.update(c);
        n += c.length;
        onBytes(n);
        yield c;
      }
    };
    const rs = Readable.toWeb(Readable.from(counted())) as ReadableStream<Uint8Array>;
    const key = blobKey(expect.sha256);
    await this.files.put({ name: key, options: { max_chunk_size: CHUNK_BYTES } }, rs);
    const got = { sha256: h.digest('hex'), size: n };
    if (got.sha256 !== expect.sha256 || got.size !== expect.size) {
      await this.files.delete(key).catch(() => undefined);
      throw new ModelIntegrityError(modelId, path, expect, got);
    }
  }

  private async putFile(
    modelId: string,
    path: string,
    source: string,
    expect: ModelFile,
    onBytes: (n: number) => void,
  ): Promise<void> {
    await this.putStream(
      modelId,
      path,
      createReadStream(source, { highWaterMark: CHUNK_BYTES }) as AsyncIterable<Buffer>,
      expect,
      onBytes,
    );
  }

  /**
   * The bytes of one file of `modelId`, streamed and verified: the iterator throws ModelIntegrityError
   * after the last chunk when the SHA-256 or size differs from `file` (a consumer writing to disk must
   * not keep what it wrote until the iteration ends cleanly), and ModelNotFoundError when absent.
   *
   * Chunks are read one direct get at a time (the object store's stream allows direct access), the next requested while the caller consumes the
   * current one: memory stays at two chunks whatever the file size (the client's own reader pushes
   * every chunk into an unbounded stream), and no consumer is created per file.
   */
  async *read(modelId: string, file: ModelFile): AsyncGenerator<Uint8Array> {
    const info = await this.files.info(blobKey(file.sha256));
    if (!info || info.deleted) throw new ModelNotFoundError(modelId);
    const h = createHash('sha256');
    let size = 0;
    const stream = `OBJ_${info.bucket}`;
    const subject = `$O.${info.bucket}.C.${info.nuid}`;
    this.jsm ??= jetstreamManager(this.nc, { checkAPI: false });
    const jsm = await this.jsm;
    // Direct gets answer with the raw chunk (a stream-API get wraps it in base64 JSON, 3× slower).
    const next = (seq: number) => jsm.direct.getMessage(stream, { next_by_subj: subject, seq });
    try {
      let pending = info.chunks > 0 ? next(1) : undefined;
      for (let i = 0; i < info.chunks; i++) {
        const m = await pending!;
        if (!m) break;
        pending = i + 1 < info.chunks ? next(m.seq + 1) : undefined;
        h.update(m.data);
        size += m.data.length;
        if (size > file.size) break;
        yield m.data;
      }
    } catch (err) {
      throw new ModelIntegrityError(modelId, file.path, file, { sha256: h.digest('hex'), size }, { cause: err });
    }
    const got = { sha256: h.digest('hex'), size };
    if (got.sha256 !== file.sha256 || got.size !== file.size)
      throw new ModelIntegrityError(modelId, file.path, file, got);
  }

  /**
   * Removes a model's manifest, then every stored file no remaining manifest references. Returns the
   * bytes freed. Throws ModelNotFoundError for an unknown id.
   */
  async remove(id: string): Promise<{ freedBytes: number }> {
    const m = await this.manifest(id);
    if (!m) throw new ModelNotFoundError(id);
    await this.manifests.delete(id);
    const keep = referencedBlobs(await this.list());
    let freedBytes = 0;
    for (const f of new Map(m.files.map((x) => [x.sha256, x])).values()) {
      if (keep.has(f.sha256)) continue;
      await this.files.delete(blobKey(f.sha256));
      freedBytes += f.size;
    }
    return { freedBytes };
  }
}
