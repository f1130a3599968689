/**
 * Gigapixel assembly in bounded memory (issue 16): a tiled upscale's output blended and encoded by the
 * coordinator's real assembler (`createUpscaleAssembler`, streamed path) to PNG and to a tiled pyramidal
 * TIFF, with tile outputs as the zero-work engine makes them (nearest-neighbour ×scale of each tile's
 * input crop). Tile outputs are computed when the assembler fetches them from a synthetic blob store
 * (what an object-store read hands the assembler), so the process holds only what the assembler holds.
 *
 * Two figures, measured apart (the assembly first, from a fresh process):
 * - blend throughput: output megapixels per second of `BandAssembler.push` alone (tiles made
 *   beforehand per tile row, rows discarded), the pure blend;
 * - the whole assembly (fetch → blend → spool → encode PNG and TIFF → store): wall time and the
 *   process's peak RSS growth over its RSS at the start (kernel high-water mark, VmHWM, reset through
 *   /proc/self/clear_refs), against the raw RGB size of the output. Target: growth ≤ 0.25 × raw.
 *
 *   npm run bench -- assembly [--size 16384] [--model esrgan-slim-x2] [--tile 512] [--formats png,tiff]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { loadHardwareTable } from '@tessera/hardware';
import { blobKeys } from '@tessera/protocol';
import { BandAssembler, planTiles, type TilePlan } from '@tessera/tiling';
import { createUpscaleAssembler } from '../services/coordinator/src/assembler.js';
import type { BlobInfo, BlobStore } from '../services/coordinator/src/blobs.js';
import type { ImageFormatName, ShardRecord } from '../services/coordinator/src/model.js';
import { compileCoordinatorOptions } from '../services/coordinator/src/options.js';
import { planUpscale } from '../services/coordinator/src/planner.js';

const MiB = 1024 * 1024;

/** Input pixel (x, y), channel c: a cheap deterministic pattern with edges in every direction. */
function inputAt(x: number, y: number, c: number): number {
  return ((x * 7 + y * 13 + c * 85) ^ ((x >> 3) * (y >> 3))) & 255;
}

/** The zero-work engine's output for one tile: nearest-neighbour ×scale of its input crop. */
function tileOutput(r: { x: number; y: number; width: number; height: number }, scale: number): Uint8Array {
  const w = r.width * scale;
  const h = r.height * scale;
  const out = new Uint8Array(w * h * 3);
  const row = new Uint8Array(w * 3);
  for (let iy = 0; iy < r.height; iy++) {
    for (let ix = 0; ix < r.width; ix++)
      for (let c = 0; c < 3; c++) {
        const v = inputAt(r.x + ix, r.y + iy, c);
        for (let k = 0; k < scale; k++) row[(ix * scale + k) * 3 + c] = v;
      }
    for (let k = 0; k < scale; k++) out.set(row, (iy * scale + k) * w * 3);
  }
  return out;
}

/** Object store stand-in: shard outputs computed on read; stored outputs counted and hashed, not kept. */
class SyntheticBlobs implements Partial<BlobStore> {
  readonly stored = new Map<string, BlobInfo>();
  constructor(
    private readonly byKey: Map<string, ShardRecord>,
    private readonly scale: number,
  ) {}
  async get(key: string): Promise<Uint8Array | null> {
    const s = this.byKey.get(key);
    return s ? tileOutput(s.input, this.scale) : null;
  }
  async putStream(key: string, data: ReadableStream<Uint8Array>): Promise<BlobInfo> {
    const h = createHash('sha256');
    let size = 0;
    // (test/ compiles with the DOM lib for the console test, whose ReadableStream lacks the async iterator)
    for await (const c of data as unknown as AsyncIterable<Uint8Array>) {
      h.update(c);
      size += c.length;
    }
    const info = { size, sha256: h.digest('hex') };
    this.stored.set(key, info);
    return info;
  }
  async put(key: string, data: Uint8Array): Promise<BlobInfo> {
    const info = { size: data.length, sha256: createHash('sha256').update(data).digest('hex') };
    this.stored.set(key, info);
    return info;
  }
}

/** VmRSS / VmHWM of this process in bytes (Linux). */
function memStatus(): { rss: number; hwm: number } {
  const s = readFileSync('/proc/self/status', 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(s)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** Resets the kernel's peak-RSS mark to the current RSS; false where not permitted. */
function resetPeak(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** Pure blend throughput: tiles of one tile row made, then pushed (timed), rows discarded. */
function blendThroughput(
  plan: TilePlan,
  scale: number,
  margin: number,
): { seconds: number; cpuSeconds: number; megapixels: number } {
  // As the coordinator runs it: one reused chunk buffer (its sinks copy the rows).
  const asm = new BandAssembler(plan, { scale, margin, reuseRows: true, onRows: () => undefined });
  let seconds = 0;
  let cpuSeconds = 0;
  for (let r = 0; r < plan.rows; r++) {
    const row = plan.tiles.slice(r * plan.cols, (r + 1) * plan.cols);
    const outs = row.map((t) => tileOutput(t.input, scale));
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    row.forEach((t, i) => asm.push(t.index, outs[i]));
    seconds += (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(c0);
    cpuSeconds += (cpu.user + cpu.system) / 1e6;
  }
  if (!asm.done) throw new Error('blend incomplete');
  return { seconds, cpuSeconds, megapixels: (plan.width * scale * plan.height * scale) / 1e6 };
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      size: { type: 'string', default: '16384' },
      model: { type: 'string', default: 'esrgan-slim-x2' },
      tile: { type: 'string', default: '512' },
      formats: { type: 'string', default: 'png,tiff' },
    },
  });
  const table = loadHardwareTable();
  const model = values.model!;
  const scale = table.models.get(model)?.upscaler?.scale;
  if (!scale) throw new Error(`${model} is not an upscaler of the hardware table`);
  const size = Number(values.size);
  if (!Number.isInteger(size) || size % scale) throw new Error(`--size must be a multiple of ${scale}`);
  const formats = values.formats!.split(',') as ImageFormatName[];
  const input = size / scale;
  const { job, shards } = planUpscale(
    {
      jobId: 'jbench',
      name: 'assembly bench',
      model,
      seed: 0,
      priority: 0,
      maxAttempts: 1,
      width: input,
      height: input,
      tile: Number(values.tile),
      overlap: 0,
      agents: 1,
      nowMs: 0,
      formats,
    },
    table,
    // The submission limit on input pixels is not what is measured here: raise it for an 8192² input.
    compileCoordinatorOptions({ maxQueuedShards: 10_000_000, maxInputPixels: 2 ** 31 }),
  );
  const rawBytes = job.outputWidth * job.outputHeight * 3;
  console.log(
    `output ${job.outputWidth}×${job.outputHeight} (${(rawBytes / MiB).toFixed(0)} MiB raw RGB) from ${input}² input, ` +
      `${model}, ${shards.length} tiles of ${job.tile} px, overlap ${job.overlap}, margin ${job.margin}; formats ${formats.join(', ')}`,
  );
  const plan = planTiles({ width: input, height: input, tile: job.tile, overlap: job.overlap });

  const byKey = new Map<string, ShardRecord>();
  for (const s of shards) {
    s.outputKey = blobKeys.shardOutput(job.id, s.index, 1);
    byKey.set(s.outputKey, s);
  }
  const blobs = new SyntheticBlobs(byKey, scale);
  global.gc?.();
  const peakReset = resetPeak();
  const before = memStatus();
  let sampledPeak = before.rss;
  const sampler = setInterval(() => (sampledPeak = Math.max(sampledPeak, memStatus().rss)), 25);
  const t0 = performance.now();
  // Always the streamed path (small --size runs would otherwise blend in memory).
  const outputs = await createUpscaleAssembler(blobs as unknown as BlobStore, undefined, { spoolAboveBytes: 0 })(
    job,
    shards,
  );
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  const after = memStatus();
  const peak = peakReset ? Math.max(after.hwm, sampledPeak) : sampledPeak;
  const growth = peak - before.rss;
  const ratio = growth / rawBytes;
  // The pure blend second, so its garbage does not inflate the assembly's starting RSS.
  const blend = blendThroughput(plan, scale, job.margin);
  const blendMps = blend.megapixels / blend.seconds;
  const blendCpuMps = blend.megapixels / blend.cpuSeconds;
  console.log(
    `blend alone: ${blend.megapixels.toFixed(0)} MP in ${blend.seconds.toFixed(2)} s = ${blendMps.toFixed(0)} MP/s ` +
      `(${blendCpuMps.toFixed(0)} MP per CPU-second of this process: the figure a busy machine leaves comparable)`,
  );
  for (const o of outputs)
    console.log(`  ${o.format}: ${(o.bytes / MiB).toFixed(1)} MiB, sha256 ${o.sha256.slice(0, 16)}…`);
  console.log(
    `assembly (fetch, blend, spool, encode ${formats.join(' + ')}, store): ${seconds.toFixed(1)} s; ` +
      `RSS ${(before.rss / MiB).toFixed(0)} MiB at start, peak ${(peak / MiB).toFixed(0)} MiB ` +
      `(${peakReset ? 'kernel high-water mark' : 'sampled every 25 ms'}), growth ${(growth / MiB).toFixed(0)} MiB = ` +
      `${ratio.toFixed(3)} × raw (target ≤ 0.25); blend ${blendMps.toFixed(0)} MP/s wall, ${blendCpuMps.toFixed(0)} per CPU-s (target ≥ 300)`,
  );
  console.log(
    JSON.stringify({
      bench: 'assembly',
      output: `${job.outputWidth}x${job.outputHeight}`,
      model,
      tiles: shards.length,
      tile: job.tile,
      raw_mib: +(rawBytes / MiB).toFixed(1),
      blend_mp_per_s: +blendMps.toFixed(1),
      blend_mp_per_cpu_s: +blendCpuMps.toFixed(1),
      assembly_s: +seconds.toFixed(2),
      rss_start_mib: +(before.rss / MiB).toFixed(1),
      rss_peak_mib: +(peak / MiB).toFixed(1),
      rss_growth_mib: +(growth / MiB).toFixed(1),
      rss_growth_ratio: +ratio.toFixed(4),
      peak_source: peakReset ? 'VmHWM' : 'sampled',
      outputs: outputs.map((o) => ({ format: o.format, bytes: o.bytes })),
      targets: { rss_growth_ratio: 0.25, blend_mp_per_s: 300 },
    }),
  );
}
