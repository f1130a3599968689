/** Object-store reads without a consumer per read. */
import { createHash } from 'node:crypto';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { ObjectStore } from '@nats-io/obj';
import type { NatsConnection } from '@nats-io/transport-node';

/**
 * A blob reader for `os`. A blob stored in one chunk (every shard input and output up to the
 * 512 KiB chunk size) is read with two gets, its metadata and its chunk (a direct get), and its
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
    const api = await jsm;
    const stream = `OBJ_${info.bucket}`;
    const query = { last_by_subj: `$O.${info.bucket}.C.${info.nuid}` };
    // A direct get answers with the raw bytes (object stores allow it); the stream API's answer is
    // JSON with the payload in base64, whose decoding cost the coordinator 6 % of its CPU under load.
    // A stream made without direct access falls back to the API.
    const m = await api.direct.getMessage(stream, query).catch(() => api.streams.getMessage(stream, query));
    if (!m) return null;
    const want = Buffer.from(info.digest.replace(/^SHA-256=/, ''), 'base64').toString('hex');
    const got = createHash('sha256').update(m.data).digest('hex');
    if (got !== want || m.data.length !== info.size)
      throw new Error(
        `blob ${key} is corrupt: ${m.data.length} bytes with SHA-256 ${got}, stored ${info.size} bytes ${want}`,
      );
    // Its own copy: a direct get's payload is a view into the connection's read buffer.
    return new Uint8Array(m.data);
  };
}
