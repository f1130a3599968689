/**
 * Assembly of video jobs: fetches each batch's frames from the object store in plan order, feeds the
 * streaming ClipAssembler (cross-fade over overlaps; colour matching for chained batches), then
 * stores every requested format: PNG frames, animated WebP, MP4 (ffmpeg).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blobKeys } from '@tessera/protocol';
import { ClipAssembler, planFrameBatches } from '@tessera/video';
import { encodeAnimatedWebp, encodeMp4 } from '@tessera/video/codecs';
import type { Logger } from 'pino';
import sharp from 'sharp';
import { handled, shardOutput } from './assembler.js';
import { sha256Hex, type BlobStore } from './blobs.js';
import { ShardOutputCorruptError, type Assemble } from './shell/deps.js';
import { mapLimit } from './util.js';
import type { JobRecord, OutputRecord, ShardRecord, VideoFormatName } from './model.js';

const PREFETCH = 2;

/** Splits a blob of `n` raw RGB8 frames. */
function splitFrames(data: Uint8Array, frameBytes: number, n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => data.subarray(i * frameBytes, (i + 1) * frameBytes));
}

export function createVideoAssembler(blobs: BlobStore, log?: Logger): Assemble {
  return async (job: JobRecord, shards: ShardRecord[]): Promise<OutputRecord[]> => {
    const t0 = performance.now();
    const width = job.outputWidth;
    const height = job.outputHeight;
    const frameBytes = width * height * 3;
    const video = job.video;
    const up = job.videoUpscale;
    const totalFrames = video?.totalFrames ?? up!.totalFrames;
    const fps = video?.fps ?? up!.fps;
    const formats: VideoFormatName[] = video?.formats ?? up!.formats;
    const batches = video
      ? planFrameBatches({
          totalFrames,
          framesPerBatch: video.framesPerBatch,
          overlap: video.overlap,
          mode: video.mode,
        })
      : planFrameBatches({ totalFrames, framesPerBatch: up!.framesPerBatch, overlap: 0, mode: 'keyframed' });
    const frames: Uint8Array[] = new Array(totalFrames);
    const asm = new ClipAssembler({
      width,
      height,
      totalFrames,
      batches,
      overlap: video?.overlap ?? 0,
      colourMatch: video?.mode === 'chained',
      // The sink may get the pushed buffer itself: keep a copy, the batch blob is released.
      onFrame: (i, rgb) => (frames[i] = Uint8Array.from(rgb)),
    });
    const fetchBatch = async (s: ShardRecord): Promise<Uint8Array> => {
      const data = await shardOutput(blobs, s, 'batch');
      if (data.length !== frameBytes * s.frameCount) {
        throw new ShardOutputCorruptError(
          s.index,
          `output of batch ${s.index} has ${data.length} bytes, expected ${frameBytes * s.frameCount}`,
        );
      }
      return data;
    };
    const ordered = [...shards].sort((a, b) => a.index - b.index);
    const inflight: Promise<Uint8Array>[] = [];
    for (let i = 0; i < ordered.length; i++) {
      while (inflight.length < PREFETCH && i + inflight.length < ordered.length)
        inflight.push(handled(fetchBatch(ordered[i + inflight.length])));
      const data = await inflight.shift()!;
      asm.push(ordered[i].index, splitFrames(data, frameBytes, ordered[i].frameCount));
    }
    if (!asm.done) throw new Error('clip assembly incomplete');
    const tEncode = performance.now();
    const outputs: OutputRecord[] = [];
    for (const format of formats) outputs.push(await store(job, format, frames, { width, height, fps }, blobs));
    log?.debug(
      {
        job: job.id,
        frames: totalFrames,
        assembleMs: Math.round(tEncode - t0),
        encodeMs: Math.round(performance.now() - tEncode),
      },
      'clip assembled',
    );
    return outputs;
  };
}

async function store(
  job: JobRecord,
  format: VideoFormatName,
  frames: Uint8Array[],
  o: { width: number; height: number; fps: number },
  blobs: BlobStore,
): Promise<OutputRecord> {
  if (format === 'png-frames') {
    const prefix = blobKeys.jobFrames(job.id);
    const digests = await mapLimit(frames, 4, async (f, i) => {
      const png = await sharp(f, { raw: { width: o.width, height: o.height, channels: 3 } })
        .png()
        .toBuffer();
      const info = await blobs.put(`${prefix}/${i}`, png);
      return { bytes: info.size, sha256: info.sha256 };
    });
    return {
      format,
      key: prefix,
      contentType: 'image/png',
      bytes: digests.reduce((n, d) => n + d.bytes, 0),
      // The frames' digests in order, hashed: one value that changes when any frame does.
      sha256: sha256Hex(new TextEncoder().encode(digests.map((d) => d.sha256).join('\n'))),
      frames: frames.length,
    };
  }
  let bytes: Uint8Array;
  let contentType: string;
  if (format === 'webp') {
    bytes = await encodeAnimatedWebp(frames, { width: o.width, height: o.height, fps: o.fps });
    contentType = 'image/webp';
  } else {
    const dir = await mkdtemp(join(tmpdir(), 'tessera-mp4-'));
    try {
      const file = join(dir, 'out.mp4');
      await encodeMp4(frames, { width: o.width, height: o.height, fps: o.fps }, file);
      bytes = await readFile(file);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    contentType = 'video/mp4';
  }
  const key = blobKeys.jobOutputAs(job.id, format);
  const info = await blobs.put(key, bytes);
  return { format, key, contentType, bytes: info.size, sha256: info.sha256, frames: frames.length };
}
