/**
 * Planning: a validated upscale request → a job record and its shard records. Pure: the caller
 * decodes the image and stores blobs.
 */
import { requiredClassFor, type HardwareTable, type ModelRow } from '@tessera/hardware';
import { chooseTileSize, planTiles, TilingError, type TilePlan } from '@tessera/tiling';
import { InvalidArgumentError, LimitExceededError } from './errors.js';
import { requireEnginePipeline, requireImg2img } from './pipeline-support.js';
import { planTileBlocks } from './tile-blocks.js';
import {
  newJob,
  newShard,
  type ImageFormatName,
  type JobRecord,
  type RefineParams,
  type ShardRecord,
} from './model.js';
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
  /** The submitting user ('' = anonymous). */
  owner?: string;
  /** Optional SD img2img refine over tiles of the upscaled image. */
  refine?: RefineRequest;
  /** Output formats, the first being the primary output (absent = PNG only). */
  formats?: ImageFormatName[];
  /**
   * VRAM classes (GB) of the live agents: on a mixed fleet big agents get k × k blocks of tiles
   * (tile-blocks.ts). Absent, or with a refine stage: one shard per tile.
   */
  fleetClassesGb?: number[];
}

/** The refine request; zeros mean defaults. */
export interface RefineRequest {
  model: string;
  prompt: string;
  negativePrompt: string;
  strength: number;
  steps: number;
  guidanceScale: number;
  tile: number;
  overlap: number;
  scheduler: string;
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
    owner: input.owner ?? '',
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
    ...(input.formats?.length ? { imageFormats: [...input.formats] } : {}),
  });
  const need = (pixels: number) => requiredClassFor(table, row, { pixels });
  const groups =
    input.fleetClassesGb && !input.refine
      ? planTileBlocks(tiles, input.fleetClassesGb, need)
      : tiles.tiles.map((t) => ({
          tiles: [t.index],
          input: t.input,
          core: t.core,
          requiredClassGb: need(t.input.width * t.input.height),
        }));
  job.shardsTotal = groups.length;
  const shards = groups.map((g, index): ShardRecord => {
    const { requiredClassGb, core } = g;
    job.requiredClassGb = Math.max(job.requiredClassGb, requiredClassGb);
    return newShard({
      jobId: job.id,
      index,
      stage: 'upscale',
      kind: 'upscale_tile',
      requiredClassGb,
      region: { x: core.x * scale, y: core.y * scale, width: core.width * scale, height: core.height * scale },
      input: { ...g.input },
      // A block carries its tiles; a single tile is the tile of its own index (as before).
      ...(g.tiles.length > 1 || g.tiles[0] !== index ? { tiles: [...g.tiles] } : {}),
      seed: deriveSeed(input.seed, 'upscale', index),
    });
  });
  if (input.refine) {
    const r = planRefine(input, input.refine, job, table);
    job.refine = r.params;
    job.shardsTotal += r.shards.length;
    job.requiredClassGb = Math.max(job.requiredClassGb, ...r.shards.map((x) => x.requiredClassGb));
    shards.push(...r.shards);
  }
  return { job, shards, tiles };
}

const REFINE_SCHEDULERS = ['', 'euler', 'euler-ancestral', 'ddim', 'dpm++2m', 'flow-match-euler'];

/**
 * The refine stage: SD img2img tiles over the upscaled image (output pixels), blended back with a
 * linear cross-fade over the whole overlap (no receptive-field margin: diffusion output is never
 * exact at a seam, so the seam is spread over the band). Tiles wait until the upscale is assembled.
 */
function planRefine(
  input: UpscalePlanInput,
  r: RefineRequest,
  job: JobRecord,
  table: HardwareTable,
): { params: RefineParams; shards: ShardRecord[] } {
  const f = 'upscale.refine';
  const row = table.models.get(r.model);
  const known = [...table.models.values()]
    .filter((m) => m.kind === 'image' && !(m.stages && m.stages.length > 2))
    .map((m) => m.id);
  if (!row || row.kind !== 'image')
    throw new InvalidArgumentError(
      `${f}.model`,
      `unknown image model ${JSON.stringify(r.model)} (known: ${known.join(', ')})`,
    );
  // hook(engines-a): refuse a refine model no engine pipeline runs (or without img2img), naming it
  requireImg2img(requireEnginePipeline(row, `${f}.model`), row.id, `${f}.model`);
  if (row.stages && row.stages.length > 2)
    throw new InvalidArgumentError(
      `${f}.model`,
      `${row.id} is a ${row.stages.length}-stage pipeline; refine tiles need a single-pass img2img model (${known.join(', ')})`,
    );
  if (!r.prompt.trim()) throw new InvalidArgumentError(`${f}.prompt`, 'required');
  const strength = r.strength || 0.3;
  if (!(strength > 0 && strength <= 1))
    throw new InvalidArgumentError(`${f}.strength`, `${strength} is outside (0, 1]`);
  if (!REFINE_SCHEDULERS.includes(r.scheduler))
    throw new InvalidArgumentError(`${f}.scheduler`, `unknown scheduler ${JSON.stringify(r.scheduler)}`);
  const W = job.outputWidth;
  const H = job.outputHeight;
  const tile = r.tile || Math.min(row.nativeWidth ?? 512, Math.max(W, H));
  if (tile < 32 || tile > 4096 || tile % 8)
    throw new InvalidArgumentError(`${f}.tile`, `${tile} must be a multiple of 8 in 32..4096`);
  const overlap = r.overlap || Math.max(8, Math.round(tile / 8 / 8) * 8);
  if (overlap >= tile)
    throw new InvalidArgumentError(`${f}.overlap`, `overlap ${overlap} must be smaller than tile ${tile}`);
  let plan: TilePlan;
  try {
    plan = planTiles({ width: W, height: H, tile, overlap });
  } catch (e) {
    if (e instanceof TilingError) throw new InvalidArgumentError(`${f}.${e.field}`, e.message, { cause: e });
    throw e;
  }
  const firstShard = job.shardsTotal;
  const requiredClassGb = requiredClassFor(table, row, {}, row.stages?.[0]?.id);
  const shards = plan.tiles.map((t) =>
    newShard({
      jobId: job.id,
      index: firstShard + t.index,
      stage: 'refine',
      kind: 'sd_stage',
      requiredClassGb,
      seed: deriveSeed(input.seed, 'refine', t.index),
      region: { ...t.core },
      input: { ...t.input },
    }),
  );
  return {
    params: {
      model: row.id,
      prompt: r.prompt,
      negativePrompt: r.negativePrompt,
      strength,
      steps: r.steps,
      guidanceScale: r.guidanceScale,
      scheduler: r.scheduler,
      tile,
      overlap,
      firstShard,
      ready: false,
    },
    shards,
  };
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
