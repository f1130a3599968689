/**
 * Thumbnails of committed tiles: a tile's stored output is raw RGB of its input rectangle (core plus
 * context) times the scale; the console shows only the core, the part the tile owns in the result.
 */
import { planTiles } from '@tessera/tiling';
import { blobKeys, JobKind, ShardState, type Job } from '@tessera/protocol';
import sharp from 'sharp';
import type { BlobStore } from '../blobs.js';

/** Longest side of a tile thumbnail, in pixels. */
export const THUMB_PX = 256;

/** Where a tile's core lies in its stored output, and the output's size. */
export interface TileCrop {
  rawWidth: number;
  rawHeight: number;
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * The crop of upscale tile `index` of `job` (the plan the assembler blends with), or null when the
 * job is not a tiled upscale or has no such tile. Pure.
 */
export function tileCrop(job: Job, index: number): TileCrop | null {
  if (job.kind !== JobKind.JOB_KIND_UPSCALE || !job.inputWidth || !job.tile) return null;
  const scale = job.outputWidth / job.inputWidth;
  if (!Number.isInteger(scale) || scale < 1) return null;
  const plan = planTiles({ width: job.inputWidth, height: job.inputHeight, tile: job.tile, overlap: job.overlap });
  const t = plan.tiles[index];
  if (!t) return null;
  return {
    rawWidth: t.input.width * scale,
    rawHeight: t.input.height * scale,
    left: (t.core.x - t.input.x) * scale,
    top: (t.core.y - t.input.y) * scale,
    width: t.core.width * scale,
    height: t.core.height * scale,
  };
}

/** A committed tile's thumbnail as WebP, or null when there is none (not a done upscale tile). */
export async function tileThumbnail(blobs: BlobStore, job: Job, index: number): Promise<Buffer | null> {
  const shard = job.shards.find((s) => s.index === index);
  if (!shard || shard.state !== ShardState.SHARD_STATE_DONE || shard.stage !== 'upscale') return null;
  const crop = tileCrop(job, index);
  if (!crop) return null;
  const raw = await blobs.get(blobKeys.shardOutput(job.id, index, shard.attempts));
  if (!raw || raw.length !== crop.rawWidth * crop.rawHeight * 3) return null;
  return sharp(raw, { raw: { width: crop.rawWidth, height: crop.rawHeight, channels: 3 } })
    .extract({ left: crop.left, top: crop.top, width: crop.width, height: crop.height })
    .resize(THUMB_PX, THUMB_PX, { fit: 'inside', withoutEnlargement: true })
    .webp({ quality: 80 })
    .toBuffer();
}
