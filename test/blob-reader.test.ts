/**
 * @tessera/runtime's blobAccess against a real nats-server: one-chunk blobs read and written without
 * the stream API and checked against their digest, in the client's object-store layout (either side
 * reads what the other wrote), larger ones through the client.
 */
import { createHash } from 'node:crypto';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobAccess, digestHex, type BlobAccess } from '@tessera/runtime';
import { startNats, type TestNats } from './helpers/nats-server.js';

describe('blobAccess', () => {
  let nats: TestNats;
  let nc: NatsConnection;
  let os: ObjectStore;
  let blobs: BlobAccess;
  const bucket = `br${Date.now().toString(36)}`;
  const bytes = (n: number, k: number) => new Uint8Array(n).map((_, i) => (i * k) % 251);

  beforeAll(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    os = await new Objm(jetstream(nc)).create(bucket);
    blobs = blobAccess(nc, os, bucket, 8192);
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  /** The client's reader, as a plain Uint8Array (it may answer with a Buffer). */
  const clientRead = async (key: string) => {
    const b = await os.getBlob(key);
    return b && new Uint8Array(b);
  };
  /** Messages held on the bucket's chunk subjects. */
  const chunkMessages = async () => {
    const jsm = await jetstreamManager(nc);
    const si = await jsm.streams.info(`OBJ_${bucket}`, { subjects_filter: `$O.${bucket}.C.>` });
    return Object.values(si.state.subjects ?? {}).reduce((a, b) => a + b, 0);
  };

  it('reads what the client wrote: one chunk, many chunks, absent, deleted', async () => {
    const small = bytes(3000, 1);
    await os.putBlob({ name: 'small' }, small);
    expect(await blobs.read('small')).toEqual(small);
    const big = bytes(50_000, 7);
    const info = await os.putBlob({ name: 'big', options: { max_chunk_size: 4096 } }, big);
    expect(info.chunks).toBeGreaterThan(1);
    expect(await blobs.read('big')).toEqual(big);
    expect(await blobs.info('big')).toEqual({ size: 50_000, chunks: info.chunks, sha256: digestHex(info.digest) });
    // With the digest the caller expects (an agent's task): the same bytes, or "failed its checksum".
    const smallSha = createHash('sha256').update(small).digest('hex');
    expect(await blobs.read('small', smallSha)).toEqual(small);
    await expect(blobs.read('small', '0'.repeat(64))).rejects.toThrow(/small failed its checksum/);
    expect(await blobs.read('big', digestHex(info.digest))).toEqual(big);
    await expect(blobs.read('big', smallSha)).rejects.toThrow(/big failed its checksum/);
    expect(await blobs.read('absent')).toBeNull();
    expect(await blobs.info('absent')).toBeNull();
    await os.delete('small');
    expect(await blobs.read('small')).toBeNull();
    expect(await blobs.info('small')).toBeNull();
  });

  it('writes what the client reads, with the same digest, and replaces without leaving chunks', async () => {
    const before = await chunkMessages();
    const a = bytes(5000, 3);
    const put = await blobs.put('job/a b/ü', a);
    expect(put).toEqual({ size: 5000, chunks: 1, sha256: digestHex((await os.info('job/a b/ü'))!.digest) });
    expect(await clientRead('job/a b/ü')).toEqual(a);
    // Replacing: the old chunk is purged; the client and blobAccess both see the new bytes.
    const b = bytes(4000, 5);
    await blobs.put('job/a b/ü', b);
    expect(await clientRead('job/a b/ü')).toEqual(b);
    expect(await blobs.read('job/a b/ü')).toEqual(b);
    expect(await chunkMessages()).toBe(before + 1);
    // Larger than one chunk, and empty: through the client, still readable both ways.
    const c = bytes(20_000, 11);
    expect((await blobs.put('large', c)).chunks).toBe(3);
    expect(await blobs.read('large')).toEqual(c);
    expect(await clientRead('large')).toEqual(c);
    await blobs.put('empty', new Uint8Array());
    expect(await blobs.read('empty')).toEqual(new Uint8Array());
    // Deleting: gone for both, its chunks purged.
    const chunks = await chunkMessages();
    await blobs.delete('job/a b/ü');
    await blobs.delete('never-there');
    expect(await blobs.read('job/a b/ü')).toBeNull();
    expect(await os.info('job/a b/ü')).toMatchObject({ deleted: true });
    expect(await chunkMessages()).toBe(chunks - 1);
  });

  it('a read after info needs only the chunk, and still sees a replacement or a deletion since', async () => {
    const a = bytes(1000, 13);
    const b = bytes(1200, 17);
    await blobs.put('out/1', a, { fresh: true });
    expect(await blobs.info('out/1')).toMatchObject({ size: 1000, chunks: 1 });
    expect(await blobs.read('out/1')).toEqual(a);
    // Remembered, then replaced by another writer (the old chunk purged): the read asks again.
    await blobs.info('out/1');
    await os.putBlob({ name: 'out/1' }, b);
    expect(await blobs.read('out/1')).toEqual(b);
    // Remembered, then deleted by another writer.
    await blobs.info('out/1');
    await os.delete('out/1');
    expect(await blobs.read('out/1')).toBeNull();
    // Remembered, then its chunk tampered with: still refused.
    const info = await os.putBlob({ name: 'out/2' }, a);
    await blobs.info('out/2');
    await jetstream(nc).publish(`$O.${bucket}.C.${info.nuid}`, b);
    await expect(blobs.read('out/2')).rejects.toThrow(/corrupt/);
  });

  it('refuses a chunk whose bytes do not match the stored digest', async () => {
    const info = await os.putBlob({ name: 'victim' }, new Uint8Array([1, 2, 3, 4]));
    // A later message on the chunk's subject (what a tampering writer could publish).
    await jetstream(nc).publish(`$O.${bucket}.C.${info.nuid}`, new Uint8Array([9, 9, 9, 9]));
    await expect(blobs.read('victim')).rejects.toThrow(/corrupt/);
  });
});
