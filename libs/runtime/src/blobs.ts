/**
 * Object-store access for the farm's many small blobs (shard inputs and outputs) that keeps the
 * broker's work per blob small. Same bucket, same on-stream layout as the client's object store
 * (NATS ADR-20: chunks on `$O.<bucket>.C.<nuid>`, the metadata JSON on `$O.<bucket>.M.<base64url
 * name>`, rolled up), so either side can read what the other wrote.
 */
import { createHash } from 'node:crypto';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { ObjectStore } from '@nats-io/obj';
import { headers, nuid, type NatsConnection } from '@nats-io/transport-node';

/** A stored blob: its size, chunk count and lower-case hex SHA-256. */
export interface StoredBlob {
  size: number;
  chunks: number;
  sha256: string;
}

export interface BlobAccess {
  /**
   * The bytes, checked against the stored SHA-256 (a mismatch throws "corrupt") and, when given,
   * against the hex SHA-256 the caller expects (a mismatch throws "failed its checksum"), one hash for
   * both; null when absent.
   */
  read(key: string, expectSha256?: string): Promise<Uint8Array | null>;
  /**
   * Size and digest; null when absent or deleted. A one-chunk blob's metadata is remembered (the
   * last `rememberInfos` of them) for the next `read` of the key, which then needs only the chunk:
   * the coordinator checks each shard output when it commits and reads it when it assembles.
   */
  info(key: string): Promise<StoredBlob | null>;
  /**
   * Stores (or replaces) the blob. `fresh`: the caller knows `key` was never written (a new job's
   * input, an attempt's output named by its fencing token), so the replaced object's lookup is
   * skipped; were it written after all, its old chunk would stay in the stream (space, not bytes
   * anyone reads: the metadata names the new chunk).
   */
  put(key: string, data: Uint8Array, opts?: { fresh?: boolean }): Promise<StoredBlob>;
  /** Deletes the blob (marks its metadata deleted and purges its chunks); absent is fine. */
  delete(key: string): Promise<void>;
}

/** The metadata record an object store keeps per object (ADR-20), as far as Tessera reads it. */
interface ObjectMeta {
  name: string;
  bucket: string;
  nuid: string;
  size: number;
  chunks: number;
  digest: string;
  deleted?: boolean;
  options?: { link?: unknown; max_chunk_size?: number };
}

/**
 * Blob access for bucket `bucket` (`os` is the client's store on it). Blobs of one chunk, up to
 * `chunkBytes` (every shard input and output up to 512 KiB), go the short way:
 * - metadata is read with a direct get (raw bytes) instead of the stream API's message get, which
 *   answers in JSON with the payload in base64 and makes the server publish an API advisory. The
 *   client's `info`, `put` and `delete` each make one such call; at 5 per shard they were the
 *   largest share of the server's work under `npm run bench -- load`;
 * - a read is two direct gets, metadata and chunk, checked against the stored SHA-256 (the client's
 *   own reader creates an ordered consumer per read);
 * - a put publishes the chunk and then the metadata with a subject rollup, as the client does, and
 *   purges a replaced object's chunks.
 * Larger blobs, links, and streams go through the client's object store.
 */
export function blobAccess(
  nc: NatsConnection,
  os: ObjectStore,
  bucket: string,
  chunkBytes: number,
  rememberInfos = 50_000,
): BlobAccess {
  const stream = `OBJ_${bucket}`;
  const js = jetstream(nc);
  let jsm: Promise<JetStreamManager> | undefined;
  const api = () => (jsm ??= jetstreamManager(nc, { checkAPI: false }));
  // The client encodes names with btoa: one byte per character (Latin-1), base64url, padded.
  const metaSubject = (key: string) => {
    const name = Buffer.from(key, 'latin1');
    return `$O.${bucket}.M.${name.toString('base64url')}${pad(name)}`;
  };
  const chunkSubject = (id: string) => `$O.${bucket}.C.${id}`;
  const utf8 = new TextDecoder();
  const expected = (key: string, got: string, expectSha256: string | undefined) => {
    if (expectSha256 !== undefined && got !== expectSha256)
      throw new Error(`blob ${key} failed its checksum: SHA-256 ${got}, expected ${expectSha256}`);
  };

  /** The last message on `subject`: a direct get, or the stream API on a stream without direct access. */
  const last = async (subject: string) => {
    const query = { last_by_subj: subject };
    const a = await api();
    return a.direct.getMessage(stream, query).catch(() => a.streams.getMessage(stream, query));
  };
  const meta = async (key: string): Promise<ObjectMeta | null> => {
    const m = await last(metaSubject(key));
    return m ? (JSON.parse(utf8.decode(m.data)) as ObjectMeta) : null;
  };
  // Metadata from `info`, for the key's next read (insertion order: the oldest goes first).
  const remembered = new Map<string, ObjectMeta>();
  const stored = (m: ObjectMeta): StoredBlob => ({ size: m.size, chunks: m.chunks, sha256: digestHex(m.digest) });
  const purgeChunks = (m: ObjectMeta) =>
    api()
      .then((a) => a.streams.purge(stream, { filter: chunkSubject(m.nuid) }))
      .catch(() => undefined); // the new metadata is live; a chunk left behind is only space

  const access: BlobAccess = {
    async read(key, expectSha256) {
      const known = remembered.get(key);
      remembered.delete(key);
      const m = known ?? (await meta(key));
      if (!m || m.deleted) return null;
      if (m.chunks !== 1 || m.options?.link) {
        const whole = await os.getBlob(key);
        if (whole) expected(key, createHash('sha256').update(whole).digest('hex'), expectSha256);
        return whole;
      }
      const c = await last(chunkSubject(m.nuid));
      // A remembered object replaced or deleted since: its chunk is purged; ask again.
      if (!c) return known ? access.read(key, expectSha256) : null;
      const want = digestHex(m.digest);
      const got = createHash('sha256').update(c.data).digest('hex');
      if (got !== want || c.data.length !== m.size)
        throw new Error(
          `blob ${key} is corrupt: ${c.data.length} bytes with SHA-256 ${got}, stored ${m.size} bytes ${want}`,
        );
      expected(key, got, expectSha256);
      // Its own copy: a direct get's payload is a view into the connection's read buffer.
      return new Uint8Array(c.data);
    },

    async info(key) {
      const m = await meta(key);
      if (!m || m.deleted) return null;
      if (m.chunks === 1 && !m.options?.link && rememberInfos > 0) {
        remembered.delete(key);
        remembered.set(key, m);
        if (remembered.size > rememberInfos) remembered.delete(remembered.keys().next().value!);
      }
      return stored(m);
    },

    async put(key, data, opts) {
      remembered.delete(key);
      if (data.length === 0 || data.length > Math.min(chunkBytes, nc.info?.max_payload ?? 1024 * 1024)) {
        const i = await os.putBlob({ name: key, options: { max_chunk_size: chunkBytes } }, data);
        return { size: i.size, chunks: i.chunks, sha256: digestHex(i.digest) };
      }
      const old = opts?.fresh ? null : await meta(key);
      const id = nuid.next();
      await js.publish(chunkSubject(id), data);
      const sha = createHash('sha256').update(data).digest();
      const m = {
        name: key,
        description: '',
        options: { max_chunk_size: chunkBytes },
        bucket,
        nuid: id,
        size: data.length,
        chunks: 1,
        mtime: new Date().toISOString(),
        digest: `SHA-256=${sha.toString('base64url')}${pad(sha)}`,
        deleted: false,
      };
      await js.publish(metaSubject(key), JSON.stringify(m), { headers: rollup() });
      if (old && !old.deleted && old.nuid !== id) await purgeChunks(old);
      return stored(m);
    },

    async delete(key) {
      remembered.delete(key);
      const m = await meta(key);
      if (!m || m.deleted) return;
      const gone = { ...m, deleted: true, size: 0, chunks: 0, digest: '' };
      await js.publish(metaSubject(key), JSON.stringify(gone), { headers: rollup() });
      await purgeChunks(m);
    },
  };
  return access;
}

/** The header that makes a metadata message replace the subject's earlier ones. */
function rollup() {
  const h = headers();
  h.set('Nats-Rollup', 'sub');
  return h;
}

/** `=` padding of the base64 form of `bytes` (the object store's names and digests are padded). */
function pad(bytes: Uint8Array): string {
  return '='.repeat((3 - (bytes.length % 3)) % 3);
}

/** The object store's `SHA-256=<base64url>` digest as lower-case hex. */
export function digestHex(digest: string): string {
  return Buffer.from(digest.replace(/^SHA-256=/, ''), 'base64url').toString('hex');
}
