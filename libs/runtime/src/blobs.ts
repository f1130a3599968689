/** Object-store reads without a consumer per read. */
import { createHash } from 'node:crypto';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { ObjectStore } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';

/**
 * A blob reader for `os`. A blob stored in one chunk (every shard input and output up to the
 * 512 KiB chunk size) is read with two stream message gets, its metadata and its chunk, and its
 * bytes are checked against the stored SHA-256 (a mismatch throws). The client's own reader creates
 * an ordered push consumer per read, which costs the server a consumer create and delete each time:
 * at thousands of small shards per minute that was the farm's bottleneck (docs/benchmarks.md, load).
 * Larger blobs, and links, go through the client's reader. Null when the blob is absent.
 */
export function blobReader(nc: NatsConnection, os: ObjectStore): (key: string) => Promise<Uint8Array | null> {
  let jsm: Promise<JetStreamManager> | undefined;
  return async (key) => {
    const info = await os.info(key);
    if (!info || info.deleted) return null;
    if (info.chunks !== 1 || info.options?.link) return os.getBlob(key);
    jsm ??= jetstreamManager(nc, { checkAPI: false });
    const m = await (
      await jsm
    ).streams.getMessage(`OBJ_${info.bucket}`, { last_by_subj: `$O.${info.bucket}.C.${info.nuid}` });
    if (!m) return null;
    const want = Buffer.from(info.digest.replace(/^SHA-256=/, ''), 'base64').toString('hex');
    const got = createHash('sha256').update(m.data).digest('hex');
    if (got !== want || m.data.length !== info.size)
      throw new Error(
        `blob ${key} is corrupt: ${m.data.length} bytes with SHA-256 ${got}, stored ${info.size} bytes ${want}`,
      );
    return m.data;
  };
}
