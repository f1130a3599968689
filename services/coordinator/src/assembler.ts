/**
 * Assembly of a tiled upscale: fetches each tile output from the object store (verifying its
 * checksum), feeds the streaming BandAssembler in tile order, encodes the PNG and stores it.
 */
import { BandAssembler, planTiles } from '@tessera/tiling';
import { blobKeys } from '@tessera/protocol';
import sharp from 'sharp';
import type { Logger } from 'pino';
import type { BlobStore } from './blobs.js';
import { ShardOutputCorruptError, type Assemble } from './coordinator.js';
import type { JobRecord, OutputRecord, ShardRecord } from './model.js';

/** Tiles fetched ahead of the one being blended. */
const PREFETCH = 4;

export function createUpscaleAssembler(blobs: BlobStore, log?: Logger): Assemble {
  return async (job: JobRecord, shards: ShardRecord[]): Promise<OutputRecord[]> => {
    const t0 = performance.now();
    const plan = planTiles({ width: job.inputWidth, height: job.inputHeight, tile: job.tile, overlap: job.overlap });
    const outW = job.outputWidth;
    const outH = job.outputHeight;
    const raw = Buffer.allocUnsafe(outW * outH * 3);
    let written = 0;
    const asm = new BandAssembler(plan, {
      scale: job.scale,
      margin: job.margin,
      channels: 3,
      onRows: (y0, rows) => {
        raw.set(rows, y0 * outW * 3);
        written += rows.length;
      },
    });
    const fetchTile = async (s: ShardRecord): Promise<Uint8Array> => {
      const t = plan.tiles[s.index];
      const expect = t.input.width * job.scale * t.input.height * job.scale * 3;
      // The object store verifies the bytes against the digest it stored, and the commit checked that
      // digest against the SHA-256 the agent reported: a corrupt or swapped tile fails here.
      const data = await blobs.get(s.outputKey).catch((e: unknown) => {
        // A digest mismatch is corruption (run the shard again); anything else is transient (retry).
        if (!/corrupt|digest/i.test(e instanceof Error ? e.message : String(e))) throw e;
        throw new ShardOutputCorruptError(
          s.index,
          `output of shard ${s.index} unreadable: ${e instanceof Error ? e.message : String(e)}`,
        );
      });
      if (!data) throw new ShardOutputCorruptError(s.index, `output of shard ${s.index} is missing`);
      if (data.length !== expect)
        throw new ShardOutputCorruptError(
          s.index,
          `output of shard ${s.index} has ${data.length} bytes, expected ${expect}`,
        );
      return data;
    };
    const ordered = [...shards].sort((a, b) => a.index - b.index);
    const inflight: Promise<Uint8Array>[] = [];
    for (let i = 0; i < ordered.length; i++) {
      while (inflight.length < PREFETCH && i + inflight.length < ordered.length)
        inflight.push(fetchTile(ordered[i + inflight.length]));
      const data = await inflight.shift()!;
      asm.push(ordered[i].index, data);
    }
    if (!asm.done || written !== raw.length) throw new Error(`assembly incomplete: ${written} of ${raw.length} bytes`);
    const tEncode = performance.now();
    const png = await sharp(raw, { raw: { width: outW, height: outH, channels: 3 }, limitInputPixels: false })
      .png()
      .toBuffer();
    const tPut = performance.now();
    const key = blobKeys.jobOutput(job.id);
    const info = await blobs.put(key, png);
    log?.debug(
      {
        job: job.id,
        blendMs: Math.round(tEncode - t0),
        encodeMs: Math.round(tPut - tEncode),
        putMs: Math.round(performance.now() - tPut),
      },
      'output assembled',
    );
    return [{ format: 'png', key, contentType: 'image/png', bytes: info.size, sha256: info.sha256, frames: 1 }];
  };
}

/** Image jobs: the last pipeline stage's RGB8 output becomes the PNG. */
export function createImageAssembler(blobs: BlobStore): Assemble {
  return async (job: JobRecord, shards: ShardRecord[]): Promise<OutputRecord[]> => {
    const last = shards.reduce((a, b) => (b.index > a.index ? b : a));
    const data = await blobs.get(last.outputKey);
    const bytes = job.outputWidth * job.outputHeight * 3;
    if (!data || data.length !== bytes) {
      throw new ShardOutputCorruptError(
        last.index,
        `output of stage ${last.stage} has ${data?.length ?? 0} bytes, expected ${bytes}`,
      );
    }
    const png = await sharp(data, { raw: { width: job.outputWidth, height: job.outputHeight, channels: 3 } })
      .png()
      .toBuffer();
    const key = blobKeys.jobOutput(job.id);
    const info = await blobs.put(key, png);
    return [{ format: 'png', key, contentType: 'image/png', bytes: info.size, sha256: info.sha256, frames: 1 }];
  };
}
