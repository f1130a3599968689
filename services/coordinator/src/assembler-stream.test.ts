/**
 * Streamed assembly (issue 16): outputs above the spool threshold are blended band by band into a
 * strip-TIFF spool and encoded from it. Its PNG must be byte-identical to the in-memory path's (and to
 * what assembly did before streaming: the whole raw buffer encoded by sharp), and its tiled TIFF must
 * decode to the same pixels.
 */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadHardwareTable } from '@tessera/hardware';
import { blobKeys } from '@tessera/protocol';
import { assembleAll, planTiles } from '@tessera/tiling';
import { createUpscaleAssembler } from './assembler.js';
import type { BlobInfo, BlobStore } from './blobs.js';
import type { ImageFormatName } from './model.js';
import { compileCoordinatorOptions } from './options.js';
import { planUpscale } from './planner.js';
import { stripTiffHeader, stripTiffLayout } from './strip-tiff.js';

/** A BlobStore in memory (pure unit: the object store itself is covered by the cross-process tests). */
class MemoryBlobs implements Partial<BlobStore> {
  readonly map = new Map<string, Uint8Array>();
  private info(data: Uint8Array): BlobInfo {
    return { size: data.length, sha256: createHash('sha256').update(data).digest('hex') };
  }
  async put(key: string, data: Uint8Array): Promise<BlobInfo> {
    this.map.set(key, data);
    return this.info(data);
  }
  async putStream(key: string, data: ReadableStream<Uint8Array>): Promise<BlobInfo> {
    const parts: Uint8Array[] = [];
    for await (const c of data) parts.push(c);
    return this.put(key, Buffer.concat(parts));
  }
  async get(key: string): Promise<Uint8Array | null> {
    return this.map.get(key) ?? null;
  }
}

/** Nearest-neighbour ×scale of a crop of `src` (what the zero-work engine returns for a tile). */
function nearestCrop(
  src: Uint8Array,
  srcW: number,
  r: { x: number; y: number; width: number; height: number },
  scale: number,
) {
  const w = r.width * scale;
  const out = new Uint8Array(w * r.height * scale * 3);
  for (let y = 0; y < r.height * scale; y++)
    for (let x = 0; x < w; x++) {
      const s = ((r.y + Math.floor(y / scale)) * srcW + r.x + Math.floor(x / scale)) * 3;
      out.set(src.subarray(s, s + 3), (y * w + x) * 3);
    }
  return out;
}

async function farmOfTiles(formats?: ImageFormatName[]) {
  const width = 150;
  const height = 101;
  const { job, shards } = planUpscale(
    {
      jobId: 'jstream',
      name: '',
      model: 'esrgan-slim-x2',
      seed: 1,
      priority: 0,
      maxAttempts: 3,
      width,
      height,
      tile: 40,
      overlap: 12,
      agents: 1,
      nowMs: 0,
      formats,
    },
    loadHardwareTable(),
    compileCoordinatorOptions(),
  );
  // A noisy input, so every seam and blend weight shows in the bytes.
  const input = new Uint8Array(width * height * 3);
  let seed = 7;
  for (let i = 0; i < input.length; i++) input[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
  const blobs = new MemoryBlobs();
  for (const s of shards) {
    s.outputKey = blobKeys.shardOutput(job.id, s.index, 1);
    await blobs.put(s.outputKey, nearestCrop(input, width, s.input, job.scale));
  }
  const plan = planTiles({ width, height, tile: job.tile, overlap: job.overlap });
  const raw = assembleAll(plan, { scale: job.scale, margin: job.margin }, (i) => blobs.map.get(shards[i].outputKey)!);
  return { job, shards, blobs, raw };
}

describe('streamed upscale assembly', () => {
  it('spooled PNG bytes equal the in-memory assembly and the whole-buffer encode; the TIFF decodes to the same pixels', async () => {
    const { job, shards, blobs, raw } = await farmOfTiles(['png', 'tiff']);
    expect(shards.length).toBeGreaterThan(9);
    const W = job.outputWidth;
    const H = job.outputHeight;
    const spoolDir = mkdtempSync(join(tmpdir(), 'tessera-spool-test-'));
    const inMemory = await createUpscaleAssembler(blobs as unknown as BlobStore, undefined, {
      spoolAboveBytes: Number.MAX_SAFE_INTEGER,
    })(job, shards);
    const memPng = blobs.map.get(inMemory[0].key)!;
    const memTiff = blobs.map.get(inMemory[1].key)!;
    const streamed = await createUpscaleAssembler(blobs as unknown as BlobStore, undefined, {
      spoolAboveBytes: 0,
      spoolDir,
    })(job, shards);
    expect(streamed.map((o) => [o.format, o.contentType, o.key])).toEqual([
      ['png', 'image/png', blobKeys.jobOutput(job.id)],
      ['tiff', 'image/tiff', blobKeys.jobOutputAs(job.id, 'tiff')],
    ]);
    const png = blobs.map.get(streamed[0].key)!;
    // What assembly stored before streaming: the whole raw buffer, encoded by sharp in one piece.
    const before = await sharp(raw, { raw: { width: W, height: H, channels: 3 } })
      .png()
      .toBuffer();
    expect(Buffer.from(png).equals(before)).toBe(true);
    expect(Buffer.from(memPng).equals(before)).toBe(true);
    expect(streamed[0].sha256).toBe(inMemory[0].sha256);
    for (const tiff of [blobs.map.get(streamed[1].key)!, memTiff]) {
      const meta = await sharp(tiff).metadata();
      expect(meta.format).toBe('tiff');
      expect([meta.width, meta.height]).toEqual([W, H]);
      const decoded = await sharp(tiff).raw().toBuffer();
      expect(decoded.equals(Buffer.from(raw))).toBe(true);
    }
    // The spool folder is removed once the outputs are stored.
    expect(readdirSync(spoolDir)).toEqual([]);
  });

  it('stores PNG only when no format is asked for', async () => {
    const { job, shards, blobs } = await farmOfTiles();
    expect(job.imageFormats).toBeUndefined();
    const outs = await createUpscaleAssembler(blobs as unknown as BlobStore, undefined, { spoolAboveBytes: 0 })(
      job,
      shards,
    );
    expect(outs.map((o) => o.format)).toEqual(['png']);
  });
});

describe('strip TIFF spool header', () => {
  it('libvips reads rows written after the header, with one strip or many', async () => {
    const w = 37;
    const h = 29;
    const rows = new Uint8Array(w * h * 3).map((_, i) => (i * 31) & 255);
    for (const rps of [h, 16, 1]) {
      const file = Buffer.concat([stripTiffHeader(stripTiffLayout(w, h, rps)), rows]);
      const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
      expect([info.width, info.height, info.channels]).toEqual([w, h, 3]);
      expect(data.equals(Buffer.from(rows))).toBe(true);
    }
  });

  it('refuses sizes past the classic TIFF 4 GiB limit and non-positive sizes', () => {
    expect(() => stripTiffLayout(40_000, 40_000, 16)).toThrow(/4 GiB/);
    expect(() => stripTiffLayout(0, 5, 16)).toThrow(/width/);
  });
});
