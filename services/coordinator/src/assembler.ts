/**
 * Assembly of a tiled upscale: fetches each tile output from the object store (verifying its
 * checksum), feeds the streaming BandAssembler in tile order, encodes each requested format (PNG, tiled
 * pyramidal TIFF) and stores it. Large outputs are never held whole: blended rows are spooled to a
 * temporary file and encoded from it by libvips (stream-output.ts).
 */
import { tmpdir } from 'node:os';
import { BandAssembler, planTiles, type RowsSink, type TilePlan } from '@tessera/tiling';
import { blobKeys } from '@tessera/protocol';
import sharp from 'sharp';
import type { Logger } from 'pino';
import { BlobCorruptError, type BlobStore } from './blobs.js';
import { ShardOutputCorruptError, type Assemble } from './shell/deps.js';
import { cropRgb, mapLimit } from './util.js';
import type { JobRecord, OutputRecord, ShardRecord } from './model.js';
import { encodeRaw, fileStream, IMAGE_CONTENT_TYPES, RowSpool, type ImageFormatName } from './stream-output.js';

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

/** Options of {@link createUpscaleAssembler}. */
export interface UpscaleAssemblerOptions {
  /** Parent folder of the temporary spool folders. Default: the OS temporary folder. */
  spoolDir?: string;
  /** Outputs whose raw RGB8 size is above this are spooled to disk; smaller ones are blended in memory. Default 64 MiB. */
  spoolAboveBytes?: number;
}

/** Default of {@link UpscaleAssemblerOptions.spoolAboveBytes}. */
export const SPOOL_ABOVE_BYTES = 64 * 1024 * 1024;

/**
 * Blends tile outputs into one RGB8 image, handing finished rows to `onRows` top to bottom:
 * `shards[i]` is tile `shards[i].index - indexOffset` of `plan`, its output the tile's input rect ×
 * `scale`. Tiles are fetched in order (a few ahead); each is dropped once its last band is emitted.
 * `onRows` gets a reused buffer: it must copy what it keeps before returning.
 */
export async function blendTiles(
  blobs: BlobStore,
  plan: TilePlan,
  opts: { scale: number; margin: number; indexOffset: number },
  shards: ShardRecord[],
  onRows: RowsSink,
): Promise<void> {
  const { scale, margin, indexOffset } = opts;
  const total = plan.width * scale * plan.height * scale * 3;
  let written = 0;
  const asm = new BandAssembler(plan, {
    scale,
    margin,
    channels: 3,
    reuseRows: true, // both sinks (a buffer, the spool file) copy the rows before returning
    onRows: (y0, rows) => {
      onRows(y0, rows);
      written += rows.length;
    },
  });
  const fetchTile = async (s: ShardRecord): Promise<Uint8Array> => {
    // A block shard's output is its input rect (its tiles' union) × scale; a tile's, the tile's.
    const expect = s.input.width * scale * s.input.height * scale * 3;
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
    const s = ordered[i];
    if (!s.tiles) asm.push(s.index - indexOffset, data);
    else for (const t of s.tiles) asm.push(t, cropTileOutput(data, s.input, plan.tiles[t].input, scale));
  }
  if (!asm.done || written !== total) throw new Error(`assembly incomplete: ${written} of ${total} bytes`);
}

/**
 * The output of the tile whose input rect is `tile`, cut out of a block shard's output (`block` × scale,
 * RGB8). Inside the tile's trusted area both equal the single pass; the blend weighs nothing else.
 */
export function cropTileOutput(
  data: Uint8Array,
  block: { x: number; y: number; width: number },
  tile: { x: number; y: number; width: number; height: number },
  scale: number,
): Uint8Array {
  const stride = block.width * scale * 3;
  const rowBytes = tile.width * scale * 3;
  const out = new Uint8Array(rowBytes * tile.height * scale);
  const x0 = (tile.x - block.x) * scale * 3;
  for (let y = 0; y < tile.height * scale; y++) {
    const src = ((tile.y - block.y) * scale + y) * stride + x0;
    out.set(data.subarray(src, src + rowBytes), y * rowBytes);
  }
  return out;
}

/** Blends into one in-memory RGB8 buffer (small outputs, and the refine stage's crops). */
async function blendToBuffer(
  blobs: BlobStore,
  plan: TilePlan,
  opts: { scale: number; margin: number; indexOffset: number },
  shards: ShardRecord[],
): Promise<Buffer> {
  const rowBytes = plan.width * opts.scale * 3;
  const raw = Buffer.allocUnsafe(rowBytes * plan.height * opts.scale);
  await blendTiles(blobs, plan, opts, shards, (y0, rows) => raw.set(rows, y0 * rowBytes));
  return raw;
}

/** The blend of a job's last stage: its plan, blend options and shards. */
function finalBlend(job: JobRecord, shards: ShardRecord[]) {
  if (job.refine) {
    // Refined tiles of the upscaled image: diffusion output is not exact at a seam, so the seam is
    // spread over the whole overlap (margin 0, scale 1).
    const r = job.refine;
    return {
      plan: planTiles({ width: job.outputWidth, height: job.outputHeight, tile: r.tile, overlap: r.overlap }),
      opts: { scale: 1, margin: 0, indexOffset: r.firstShard },
      shards: shards.filter((s) => s.stage === 'refine'),
    };
  }
  return {
    plan: planTiles({ width: job.inputWidth, height: job.inputHeight, tile: job.tile, overlap: job.overlap }),
    opts: { scale: job.scale, margin: job.margin, indexOffset: 0 },
    shards: shards.filter((s) => s.kind === 'upscale_tile'),
  };
}

/** The upscale stage: tiles of the input, blended with the model's receptive field as margin. */
function blendUpscale(blobs: BlobStore, job: JobRecord, shards: ShardRecord[]): Promise<Buffer> {
  const plan = planTiles({ width: job.inputWidth, height: job.inputHeight, tile: job.tile, overlap: job.overlap });
  const upscale = shards.filter((s) => s.kind === 'upscale_tile');
  return blendToBuffer(blobs, plan, { scale: job.scale, margin: job.margin, indexOffset: 0 }, upscale);
}

/** Object key of a job's output in `format`: the first format takes the job's primary output key. */
function outputKey(jobId: string, format: ImageFormatName, first: boolean): string {
  return first ? blobKeys.jobOutput(jobId) : blobKeys.jobOutputAs(jobId, format);
}

/**
 * The upscale job's assembly: blends the last stage's tiles and stores one output per requested
 * format (`job.imageFormats`, default PNG; the first is the primary output). Outputs above
 * `spoolAboveBytes` of raw RGB8 are blended band by band into a spool file and encoded from it, so the
 * coordinator's memory does not grow with the output size.
 */
export function createUpscaleAssembler(blobs: BlobStore, log?: Logger, opts: UpscaleAssemblerOptions = {}): Assemble {
  const spoolAbove = opts.spoolAboveBytes ?? SPOOL_ABOVE_BYTES;
  return async (job: JobRecord, shards: ShardRecord[]): Promise<OutputRecord[]> => {
    const t0 = performance.now();
    const outW = job.outputWidth;
    const outH = job.outputHeight;
    const formats: ImageFormatName[] = job.imageFormats?.length ? job.imageFormats : ['png'];
    const blend = finalBlend(job, shards);
    const outputs: OutputRecord[] = [];
    const store = async (format: ImageFormatName, put: (key: string) => Promise<{ size: number; sha256: string }>) => {
      const key = outputKey(job.id, format, outputs.length === 0);
      const info = await put(key);
      const contentType = IMAGE_CONTENT_TYPES[format];
      outputs.push({ format, key, contentType, bytes: info.size, sha256: info.sha256, frames: 1 });
    };
    let tEncode: number;
    if (outW * outH * 3 > spoolAbove) {
      const spool = await RowSpool.open(opts.spoolDir ?? tmpdir(), outW, outH);
      try {
        await blendTiles(blobs, blend.plan, blend.opts, blend.shards, (y0, rows) => spool.writeRows(y0, rows));
        spool.finish();
        tEncode = performance.now();
        for (const format of formats) {
          const file = await spool.encode(format);
          await store(format, (key) => blobs.putStream(key, fileStream(file)));
        }
      } finally {
        await spool.dispose();
      }
    } else {
      const raw = await blendToBuffer(blobs, blend.plan, blend.opts, blend.shards);
      tEncode = performance.now();
      for (const format of formats) {
        const bytes = await encodeRaw(raw, outW, outH, format);
        await store(format, (key) => blobs.put(key, bytes));
      }
    }
    log?.debug(
      {
        job: job.id,
        spooled: outW * outH * 3 > spoolAbove,
        blendMs: Math.round(tEncode - t0),
        encodeAndPutMs: Math.round(performance.now() - tEncode),
      },
      'output assembled',
    );
    return outputs;
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
