/**
 * Assembly of a tiled upscale: fetches each tile output from the object store (verifying its
 * checksum), feeds the streaming BandAssembler in tile order, encodes the PNG and stores it.
 */
import { BandAssembler, planTiles, type TilePlan } from '@tessera/tiling';
import { blobKeys } from '@tessera/protocol';
import sharp from 'sharp';
import type { Logger } from 'pino';
import { BlobCorruptError, type BlobStore } from './blobs.js';
import { ShardOutputCorruptError, type Assemble } from './shell/deps.js';
import { cropRgb, mapLimit } from './util.js';
import type { JobRecord, OutputRecord, ShardRecord } from './model.js';

/** Tiles fetched ahead of the one being blended. */
const PREFETCH = 4;

/**
 * A fetch started ahead of its turn. Nothing awaits it until then, nor ever once an earlier fetch
 * fails and the assembly is abandoned, so its rejection must not count as unhandled: that would
 * crash the process (Node's default). Awaiting the returned promise still throws.
 */
/**
 * A committed shard's output bytes. A corrupt blob (its digest does not match) or a missing one is
 * ShardOutputCorruptError: the shard runs again. Anything else (NATS trouble) is left to retry.
 */
export async function shardOutput(blobs: BlobStore, s: ShardRecord, what: 'shard' | 'batch'): Promise<Uint8Array> {
  const data = await blobs.get(s.outputKey).catch((e: unknown) => {
    if (!(e instanceof BlobCorruptError)) throw e;
    throw new ShardOutputCorruptError(s.index, `output of ${what} ${s.index} unreadable: ${e.message}`);
  });
  if (!data) throw new ShardOutputCorruptError(s.index, `output of ${what} ${s.index} is missing`);
  return data;
}

export function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(() => undefined);
  return p;
}

/**
 * Blends tile outputs into one RGB8 image: `shards[i]` is tile `shards[i].index - indexOffset` of
 * `plan`, its output the tile's input rect × `scale`. Tiles are fetched in order (a few ahead).
 */
async function blendTiles(
  blobs: BlobStore,
  plan: TilePlan,
  opts: { scale: number; margin: number; indexOffset: number },
  shards: ShardRecord[],
): Promise<Buffer> {
  const { scale, margin, indexOffset } = opts;
  const outW = plan.width * scale;
  const outH = plan.height * scale;
  const raw = Buffer.allocUnsafe(outW * outH * 3);
  let written = 0;
  const asm = new BandAssembler(plan, {
    scale,
    margin,
    channels: 3,
    onRows: (y0, rows) => {
      raw.set(rows, y0 * outW * 3);
      written += rows.length;
    },
  });
  const fetchTile = async (s: ShardRecord): Promise<Uint8Array> => {
    const t = plan.tiles[s.index - indexOffset];
    const expect = t.input.width * scale * t.input.height * scale * 3;
    // The object store verifies the bytes against the digest it stored, and the commit checked that
    // digest against the SHA-256 the agent reported: a corrupt or swapped tile fails here.
    const data = await shardOutput(blobs, s, 'shard');
    if (data.length !== expect) {
      throw new ShardOutputCorruptError(
        s.index,
        `output of shard ${s.index} has ${data.length} bytes, expected ${expect}`,
      );
    }
    return data;
  };
  const ordered = [...shards].sort((a, b) => a.index - b.index);
  const inflight: Promise<Uint8Array>[] = [];
  for (let i = 0; i < ordered.length; i++) {
    while (inflight.length < PREFETCH && i + inflight.length < ordered.length)
      inflight.push(handled(fetchTile(ordered[i + inflight.length])));
    const data = await inflight.shift()!;
    asm.push(ordered[i].index - indexOffset, data);
  }
  if (!asm.done || written !== raw.length) throw new Error(`assembly incomplete: ${written} of ${raw.length} bytes`);
  return raw;
}

/** The upscale stage: tiles of the input, blended with the model's receptive field as margin. */
function blendUpscale(blobs: BlobStore, job: JobRecord, shards: ShardRecord[]): Promise<Buffer> {
  const plan = planTiles({ width: job.inputWidth, height: job.inputHeight, tile: job.tile, overlap: job.overlap });
  const upscale = shards.filter((s) => s.kind === 'upscale_tile');
  return blendTiles(blobs, plan, { scale: job.scale, margin: job.margin, indexOffset: 0 }, upscale);
}

export function createUpscaleAssembler(blobs: BlobStore, log?: Logger): Assemble {
  return async (job: JobRecord, shards: ShardRecord[]): Promise<OutputRecord[]> => {
    const t0 = performance.now();
    const outW = job.outputWidth;
    const outH = job.outputHeight;
    let raw: Buffer;
    if (job.refine) {
      // Refined tiles of the upscaled image: diffusion output is not exact at a seam, so the seam is
      // spread over the whole overlap (margin 0, scale 1).
      const r = job.refine;
      const plan = planTiles({ width: outW, height: outH, tile: r.tile, overlap: r.overlap });
      raw = await blendTiles(
        blobs,
        plan,
        { scale: 1, margin: 0, indexOffset: r.firstShard },
        shards.filter((s) => s.stage === 'refine'),
      );
    } else {
      raw = await blendUpscale(blobs, job, shards);
    }
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

/** Upscale → refine: blends the upscale tiles and stores each refine tile's input crop. */
export function createRefinePreparer(blobs: BlobStore) {
  return async (job: JobRecord, shards: ShardRecord[]): Promise<Map<number, { key: string; sha256: string }>> => {
    const raw = await blendUpscale(blobs, job, shards);
    const img = { width: job.outputWidth, height: job.outputHeight, data: raw };
    const out = new Map<number, { key: string; sha256: string }>();
    await mapLimit(
      shards.filter((s) => s.stage === 'refine'),
      8,
      async (s) => {
        const key = blobKeys.shardInput(job.id, s.index);
        const info = await blobs.put(key, cropRgb(img, s.input));
        out.set(s.index, { key, sha256: info.sha256 });
      },
    );
    return out;
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
