/**
 * Planning: a validated upscale request → a job record and its shard records. Pure: the caller
 * decodes the image and stores blobs.
 */
import { requiredClassFor, type HardwareTable, type ModelRow } from '@tessera/hardware';
import { chooseTileSize, planTiles, TilingError, type TilePlan } from '@tessera/tiling';
import { InvalidArgumentError, LimitExceededError } from './errors.js';
import { newJob, newShard, type JobRecord, type ShardRecord } from './model.js';
import type { CompiledCoordinatorOptions } from './options.js';

/** What the planner needs to know about the request. */
export interface UpscalePlanInput {
  jobId: string;
  name: string;
  model: string;
  seed: number;
  priority: number;
  maxAttempts: number;
  width: number;
  height: number;
  tile: number;
  overlap: number;
  /** Agents that could run it (for the tile-size choice); ≥ 1. */
  agents: number;
  nowMs: number;
}

export interface UpscalePlan {
  job: JobRecord;
  shards: ShardRecord[];
  tiles: TilePlan;
}

/** Looks up an upscaler row or throws InvalidArgumentError naming the field. */
export function upscalerRow(
  table: HardwareTable,
  model: string,
  field = 'upscale.model',
): ModelRow & { upscaler: NonNullable<ModelRow['upscaler']> } {
  const known = [...table.models.values()].filter((m) => m.upscaler).map((m) => m.id);
  const list = `known upscalers: ${known.join(', ')}`;
  if (!model) throw new InvalidArgumentError(field, `required (${list})`);
  const row = table.models.get(model);
  if (!row) throw new InvalidArgumentError(field, `unknown model ${JSON.stringify(model)} (${list})`);
  if (!row.upscaler) throw new InvalidArgumentError(field, `${model} is not an upscaler (${list})`);
  return row as ModelRow & { upscaler: NonNullable<ModelRow['upscaler']> };
}

/** Plans a tiled upscale. Throws InvalidArgumentError / LimitExceededError naming the field. */
export function planUpscale(
  input: UpscalePlanInput,
  table: HardwareTable,
  opts: CompiledCoordinatorOptions,
): UpscalePlan {
  const row = upscalerRow(table, input.model);
  const { scale, receptiveFieldPx, defaultOverlapPx } = row.upscaler;
  const { width, height } = input;
  if (width * height > opts.maxInputPixels) {
    throw new InvalidArgumentError(
      'upscale.image',
      `${width}×${height} is ${width * height} pixels, above the limit of ${opts.maxInputPixels}`,
    );
  }
  const outPixels = width * scale * height * scale;
  if (outPixels > opts.maxOutputPixels) {
    throw new InvalidArgumentError(
      'upscale.image',
      `output ${width * scale}×${height * scale} is above the limit of ${opts.maxOutputPixels} pixels`,
    );
  }
  const overlap = input.overlap || Math.max(defaultOverlapPx, receptiveFieldPx);
  if (overlap < receptiveFieldPx) {
    throw new InvalidArgumentError(
      'upscale.overlap',
      `${overlap} px is below the receptive field of ${row.id} (${receptiveFieldPx} px); seams would show`,
    );
  }
  if (input.tile && input.tile <= overlap) {
    throw new InvalidArgumentError('upscale.tile', `tile ${input.tile} must be larger than overlap ${overlap}`);
  }
  if (input.tile > 16384)
    throw new InvalidArgumentError('upscale.tile', `tile ${input.tile} is above the limit of 16384`);
  if (overlap > 4096)
    throw new InvalidArgumentError('upscale.overlap', `overlap ${overlap} is above the limit of 4096`);
  const tile = input.tile || chooseTileSize({ width, height, overlap, agents: Math.max(1, input.agents) });
  let tiles: TilePlan;
  try {
    tiles = planTiles({ width, height, tile, overlap });
  } catch (e) {
    if (e instanceof TilingError)
      throw new InvalidArgumentError(`upscale.${e.field}`, e.message.replace(/^[a-z]+: /, ''), { cause: e });
    throw e;
  }
  if (tiles.tiles.length > opts.maxQueuedShards) {
    throw new LimitExceededError(
      'upscale.tile',
      `${tiles.tiles.length} tiles exceed the farm's limit of ${opts.maxQueuedShards} queued shards; use a larger tile`,
    );
  }
  const job = newJob({
    id: input.jobId,
    name: input.name,
    kind: 'upscale',
    model: row.id,
    seed: input.seed,
    priority: input.priority,
    maxAttempts: input.maxAttempts || opts.maxAttempts,
    createdMs: input.nowMs,
    shardsTotal: tiles.tiles.length,
    inputWidth: width,
    inputHeight: height,
    outputWidth: width * scale,
    outputHeight: height * scale,
    scale,
    tile,
    overlap,
    margin: receptiveFieldPx,
  });
  const shards = tiles.tiles.map((t): ShardRecord => {
    const requiredClassGb = requiredClassFor(table, row, { pixels: t.input.width * t.input.height });
    job.requiredClassGb = Math.max(job.requiredClassGb, requiredClassGb);
    return newShard({
      jobId: job.id,
      index: t.index,
      stage: 'upscale',
      kind: 'upscale_tile',
      requiredClassGb,
      region: { x: t.core.x * scale, y: t.core.y * scale, width: t.core.width * scale, height: t.core.height * scale },
      input: { ...t.input },
      seed: deriveSeed(input.seed, 'upscale', t.index),
    });
  });
  return { job, shards, tiles };
}

/**
 * A shard's seed from the job seed and the shard's position (stage, index): splitmix64 over the
 * inputs, truncated to 53 bits so it survives JSON. Independent of which agent runs the shard.
 */
export function deriveSeed(jobSeed: number, stage: string, index: number): number {
  let x = BigInt.asUintN(64, BigInt(Math.trunc(jobSeed)));
  const mix = (v: bigint) => {
    v = BigInt.asUintN(64, v + 0x9e3779b97f4a7c15n);
    v = BigInt.asUintN(64, (v ^ (v >> 30n)) * 0xbf58476d1ce4e5b9n);
    v = BigInt.asUintN(64, (v ^ (v >> 27n)) * 0x94d049bb133111ebn);
    return v ^ (v >> 31n);
  };
  for (const ch of stage) x = mix(x ^ BigInt(ch.charCodeAt(0)));
  x = mix(x ^ BigInt(index));
  return Number(x & ((1n << 53n) - 1n));
}
