/**
 * @tessera/models' ModelStore against a real nats-server: content-addressed push with dedup and
 * resume, verified reads, a corrupted stored chunk refused, removal that keeps shared files.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blobKey,
  InvalidModelError,
  ModelIntegrityError,
  ModelNotFoundError,
  ModelStore,
  modelStoreNames,
  type ModelManifest,
} from '@tessera/models';
import { startNats, type TestNats } from './helpers/nats-server.js';

async function readAll(store: ModelStore, m: ModelManifest, path: string): Promise<Buffer> {
  const f = m.files.find((x) => x.path === path)!;
  const parts: Uint8Array[] = [];
  for await (const c of store.read(m.id, f)) parts.push(c);
  return Buffer.concat(parts);
}

function writeModel(dir: string, files: Record<string, Buffer>): string {
  for (const [p, b] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), b);
  }
  return dir;
}

describe('ModelStore', () => {
  let nats: TestNats;
  let nc: NatsConnection;
  let store: ModelStore;
  let root: string;
  const farm = `ms${Date.now().toString(36)}`;
  const shared = randomBytes(1_300_000); // several 512 KiB chunks
  const unetBase = randomBytes(70_000);
  const unetRefiner = randomBytes(50_000);

  beforeAll(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    store = await ModelStore.open(nc, { farm, create: true });
    root = mkdtempSync(join(tmpdir(), 'tessera-models-'));
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('pushes a directory, lists it, and reads every file back verified', async () => {
    const dir = writeModel(join(root, 'base'), {
      'model_index.json': Buffer.from('{"_class_name":"StableDiffusionXLPipeline"}'),
      'text_encoder/model.onnx': shared,
      'unet/model.onnx': unetBase,
    });
    const phases = new Set<string>();
    let lastUpload = 0;
    const r = await store.push('sdxl', dir, {
      onProgress: (p) => {
        phases.add(p.phase);
        if (p.phase === 'upload') lastUpload = p.doneBytes;
      },
    });
    expect(r.uploadedFiles).toBe(3);
    expect(r.skippedBytes).toBe(0);
    expect(r.uploadedBytes).toBe(r.manifest.totalBytes);
    expect(lastUpload).toBe(r.uploadedBytes);
    expect([...phases]).toEqual(['hash', 'upload']);
    const m = (await store.manifest('sdxl'))!;
    expect(m.digest).toBe(r.manifest.digest);
    expect(m.files.map((f) => f.path)).toEqual(['model_index.json', 'text_encoder/model.onnx', 'unet/model.onnx']);
    expect((await readAll(store, m, 'text_encoder/model.onnx')).equals(shared)).toBe(true);
    expect((await readAll(store, m, 'unet/model.onnx')).equals(unetBase)).toBe(true);
    expect((await store.list()).map((x) => x.id)).toEqual(['sdxl']);
  });

  it('stores a file shared by two models once; an unchanged re-push uploads nothing', async () => {
    const dir = writeModel(join(root, 'refiner'), {
      'model_index.json': Buffer.from('{"_class_name":"StableDiffusionXLImg2ImgPipeline"}'),
      'text_encoder_2/model.onnx': shared,
      'unet/model.onnx': unetRefiner,
    });
    const r = await store.push('sdxl-refiner', dir);
    expect(r.skippedBytes).toBe(shared.length);
    expect(r.uploadedFiles).toBe(2);
    const again = await store.push('sdxl-refiner', dir);
    expect(again.uploadedBytes).toBe(0);
    expect(again.uploadedFiles).toBe(0);
    expect(again.manifest.digest).toBe(r.manifest.digest);
    const s = await store.summary();
    expect(s.totalBytes - s.storedBytes).toBe(shared.length);
    expect(s.models.find((x) => x.id === 'sdxl-refiner')!.uniqueBytes).toBe(r.manifest.totalBytes - shared.length);
  });

  it('resumes an interrupted push: files stored before the interruption are not sent again', async () => {
    const big = randomBytes(2_000_000);
    const dir = writeModel(join(root, 'resume'), { 'a.onnx': randomBytes(10_000), 'b.onnx': big });
    const ac = new AbortController();
    await expect(
      store.push('resumable', dir, {
        signal: ac.signal,
        onProgress: (p) => {
          if (p.phase === 'upload' && p.file === 'a.onnx' && p.doneBytes === 10_000) ac.abort();
        },
      }),
    ).rejects.toThrow();
    expect(await store.manifest('resumable')).toBeNull();
    const r = await store.push('resumable', dir);
    expect(r.uploadedFiles).toBe(1);
    expect(r.uploadedBytes).toBe(big.length);
    expect((await readAll(store, r.manifest, 'b.onnx')).equals(big)).toBe(true);
  });

  it('pushes a single ONNX file as a one-file model', async () => {
    const file = join(root, 'esrgan.onnx');
    writeFileSync(file, randomBytes(1234));
    const r = await store.push('esrgan-custom', file);
    expect(r.manifest.files.map((f) => [f.path, f.size])).toEqual([['esrgan.onnx', 1234]]);
  });

  it('refuses a corrupted stored chunk with a named error', async () => {
    const dir = writeModel(join(root, 'victim'), { 'w.bin': randomBytes(1_200_000) });
    const { manifest } = await store.push('victim', dir);
    const names = modelStoreNames(farm);
    const os = await new Objm(jetstream(nc)).open(names.files);
    const meta = (await os.info(blobKey(manifest.files[0].sha256)))!;
    const jsm = await jetstreamManager(nc);
    const stream = `OBJ_${names.files}`;
    const subject = `$O.${names.files}.C.${meta.nuid}`;
    // Replace the second chunk with flipped bytes, keeping its position in the chunk sequence.
    const chunks = [];
    for (let seq = 0; chunks.length < meta.chunks;) {
      // next_by_subj is a server feature the client types only list for direct gets.
      const m = await jsm.streams.getMessage(stream, { next_by_subj: subject, seq: seq + 1 } as never);
      chunks.push(m!);
      seq = m!.seq;
    }
    const bad = Buffer.from(chunks[1].data);
    bad[10] ^= 0xff;
    for (const c of chunks.slice(1)) await jsm.streams.deleteMessage(stream, c.seq);
    const js = jetstream(nc);
    await js.publish(subject, bad);
    for (const c of chunks.slice(2)) await js.publish(subject, c.data);
    const err = await readAll(store, manifest, 'w.bin').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelIntegrityError);
    expect((err as ModelIntegrityError).path).toBe('w.bin');
    expect((err as Error).message).toMatch(/victim.*w\.bin.*corrupt.*tessera models push victim/);
  });

  it('refuses bytes that do not match their declared digest, and removes them', async () => {
    const data = randomBytes(1000);
    const wrong = { sha256: 'f'.repeat(64), size: data.length };
    async function* one() {
      yield data;
    }
    await expect(store.putStream('x', 'x.onnx', one(), wrong)).rejects.toBeInstanceOf(ModelIntegrityError);
    expect(await store.has(wrong)).toBe(false);
  });

  it('rm frees only what no other model uses', async () => {
    const before = await store.summary();
    const refiner = before.models.find((x) => x.id === 'sdxl-refiner')!;
    const r = await store.remove('sdxl-refiner');
    expect(r.freedBytes).toBe(refiner.uniqueBytes);
    const m = (await store.manifest('sdxl'))!;
    expect((await readAll(store, m, 'text_encoder/model.onnx')).equals(shared)).toBe(true);
    expect(await store.manifest('sdxl-refiner')).toBeNull();
    await expect(store.remove('sdxl-refiner')).rejects.toBeInstanceOf(ModelNotFoundError);
  });

  it('refuses bad ids, empty directories and symbolic links', async () => {
    await expect(store.push('../etc', root)).rejects.toBeInstanceOf(InvalidModelError);
    mkdirSync(join(root, 'empty'));
    await expect(store.push('empty', join(root, 'empty'))).rejects.toThrow(/no files/);
    const linked = join(root, 'linked');
    mkdirSync(linked);
    symlinkSync('/etc/hostname', join(linked, 'model.onnx'));
    await expect(store.push('linked', linked)).rejects.toThrow(/links are not followed/);
    await expect(store.push('missing', join(root, 'nope'))).rejects.toThrow(/cannot be read/);
  });
});
