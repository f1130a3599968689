/**
 * "Retry" in the console: a finished tiled upscale submitted again, as a new job of the same user
 * with the same model, tile, overlap, seed, priority and name. The API keeps no encoded input, so
 * the input image is put back together from the tiles' stored input crops.
 */
import { planTiles } from '@tessera/tiling';
import { blobKeys, ImageFormat, JobKind, JobState, type Job, type SubmitJobRequest } from '@tessera/protocol';
import sharp from 'sharp';
import type { BlobStore } from '../blobs.js';

/** Why a job cannot be retried from the console, or null when it can. Pure. */
export function retryRefusal(job: Job): string | null {
  const finished = [JobState.JOB_STATE_FAILED, JobState.JOB_STATE_CANCELLED, JobState.JOB_STATE_SUCCEEDED];
  if (!finished.includes(job.state)) return 'the job has not finished (cancel it first)';
  if (job.kind !== JobKind.JOB_KIND_UPSCALE)
    return 'the console retries tiled upscales only; submit other kinds again with the CLI';
  if (job.shards.some((s) => s.stage !== 'upscale'))
    return 'the console cannot retry an upscale with a refine stage; submit it again with the CLI';
  return null;
}

/** The SubmitJob request that runs `job` again (a finished tiled upscale without refine). */
export async function retryRequest(blobs: BlobStore, job: Job): Promise<SubmitJobRequest> {
  const plan = planTiles({ width: job.inputWidth, height: job.inputHeight, tile: job.tile, overlap: job.overlap });
  const rgb = Buffer.alloc(job.inputWidth * job.inputHeight * 3);
  for (const t of plan.tiles) {
    const crop = await blobs.get(blobKeys.shardInput(job.id, t.index));
    if (!crop || crop.length !== t.input.width * t.input.height * 3)
      throw new Error(`the stored input of tile ${t.index} is gone (retention), so the job cannot be rebuilt`);
    for (let y = 0; y < t.input.height; y++) {
      const src = y * t.input.width * 3;
      rgb.set(crop.subarray(src, src + t.input.width * 3), ((t.input.y + y) * job.inputWidth + t.input.x) * 3);
    }
  }
  const png = await sharp(rgb, { raw: { width: job.inputWidth, height: job.inputHeight, channels: 3 } })
    .png()
    .toBuffer();
  return {
    name: job.name ? `${job.name} (retry)`.slice(0, 200) : `retry of ${job.id}`,
    seed: job.seed,
    priority: job.priority,
    maxAttempts: 0,
    spec: {
      $case: 'upscale',
      value: {
        image: png,
        model: job.model,
        tile: job.tile,
        overlap: job.overlap,
        refine: undefined,
        // the outputs the job stored (png, tiff), in order; a job that never finished → PNG only
        formats: job.outputs.flatMap((o) =>
          o.format === 'tiff'
            ? [ImageFormat.IMAGE_FORMAT_TIFF]
            : o.format === 'png'
              ? [ImageFormat.IMAGE_FORMAT_PNG]
              : [],
        ),
      },
    },
  };
}
