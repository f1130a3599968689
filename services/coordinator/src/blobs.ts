import { createHash } from 'node:crypto';
import type { ObjectStore } from '@nats-io/obj';
import { BLOB_CHUNK_BYTES } from '@tessera/protocol';
import { digestHex, type BlobAccess } from '@tessera/runtime';

/** Size and content hash of a stored blob. */
export interface BlobInfo {
  size: number;
  /** Lower-case hex SHA-256 of the bytes. */
  sha256: string;
}

/** What the coordinator needs from blob storage (JetStream Object Store in production). */
export interface BlobStore {
  /** `fresh`: `key` was never written (see @tessera/runtime's BlobAccess.put). */
  put(key: string, data: Uint8Array, opts?: { fresh?: boolean }): Promise<BlobInfo>;
  putStream(key: string, data: ReadableStream<Uint8Array>): Promise<BlobInfo>;
  /** The bytes, verified against the stored digest; null when absent, BlobCorruptError when corrupt. */
  get(key: string): Promise<Uint8Array | null>;
  /** A chunk stream; the store verifies the digest when the stream ends. */
  getStream(key: string): Promise<{ info: BlobInfo; data: ReadableStream<Uint8Array> } | null>;
  info(key: string): Promise<BlobInfo | null>;
  delete(key: string): Promise<void>;
}

/** A stored blob's bytes do not match its stored digest (or size): the object is corrupt. */
export class BlobCorruptError extends Error {
  override readonly name = 'BlobCorruptError';
  constructor(
    readonly key: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Hex SHA-256 of bytes. */
export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * BlobStore over a JetStream Object Store bucket: whole blobs through @tessera/runtime's `blobAccess`
 * (one-chunk blobs without the stream API), streams through the client's object store.
 */
export class ObjBlobStore implements BlobStore {
  constructor(
    private readonly os: ObjectStore,
    private readonly access: BlobAccess,
  ) {}

  async put(key: string, data: Uint8Array, opts?: { fresh?: boolean }): Promise<BlobInfo> {
    const { size, sha256 } = await this.access.put(key, data, opts);
    return { size, sha256 };
  }

  async putStream(key: string, data: ReadableStream<Uint8Array>): Promise<BlobInfo> {
    const info = await this.os.put({ name: key, options: { max_chunk_size: BLOB_CHUNK_BYTES } }, data);
    return { size: info.size, sha256: digestHex(info.digest) };
  }

  /** The verified bytes; BlobCorruptError when they do not match the stored digest. */
  async get(key: string): Promise<Uint8Array | null> {
    return this.access.read(key).catch((e: unknown) => {
      // The one place that reads the clients' error text: both readers say "corrupt" or "digest".
      const message = e instanceof Error ? e.message : String(e);
      if (/corrupt|digest/i.test(message)) throw new BlobCorruptError(key, message, { cause: e });
      throw e;
    });
  }

  async getStream(key: string) {
    const r = await this.os.get(key);
    if (!r) return null;
    return { info: { size: r.info.size, sha256: digestHex(r.info.digest) }, data: r.data };
  }

  async info(key: string): Promise<BlobInfo | null> {
    const i = await this.access.info(key);
    return i && { size: i.size, sha256: i.sha256 };
  }

  async delete(key: string): Promise<void> {
    await this.access.delete(key).catch(() => undefined);
  }
}
