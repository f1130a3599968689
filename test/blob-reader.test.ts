/**
 * @tessera/runtime's blobReader against a real nats-server: single-chunk blobs read without a
 * consumer and checked against their digest, larger ones through the client's reader.
 */
import { jetstream } from '@nats-io/jetstream';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobReader } from '@tessera/runtime';
import { startNats, type TestNats } from './helpers/nats-server.js';

describe('blobReader', () => {
  let nats: TestNats;
  let nc: NatsConnection;
  let os: ObjectStore;
  const bucket = `br${Date.now().toString(36)}`;

  beforeAll(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    os = await new Objm(jetstream(nc)).create(bucket);
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it('reads a one-chunk blob, a many-chunk blob, and null for a missing one', async () => {
    const read = blobReader(nc, os);
    const small = new Uint8Array(3000).map((_, i) => i % 251);
    await os.putBlob({ name: 'small' }, small);
    expect(await read('small')).toEqual(small);
    const big = new Uint8Array(50_000).map((_, i) => (i * 7) % 256);
    const info = await os.putBlob({ name: 'big', options: { max_chunk_size: 4096 } }, big);
    expect(info.chunks).toBeGreaterThan(1);
    expect(await read('big')).toEqual(big);
    expect(await read('absent')).toBeNull();
    await os.delete('small');
    expect(await read('small')).toBeNull();
  });

  it('refuses a chunk whose bytes do not match the stored digest', async () => {
    const read = blobReader(nc, os);
    const info = await os.putBlob({ name: 'victim' }, new Uint8Array([1, 2, 3, 4]));
    // A later message on the chunk's subject (what a tampering writer could publish).
    await jetstream(nc).publish(`$O.${bucket}.C.${info.nuid}`, new Uint8Array([9, 9, 9, 9]));
    await expect(read('victim')).rejects.toThrow(/corrupt/);
  });
});
