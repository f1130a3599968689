/**
 * The cost of a shard by the hardware table's cost model: its work units (megapixel-steps,
 * frame-steps, input megapixels) and its reference seconds at speed 1.0. Pure.
 */
import { referenceSeconds, workUnits, type HardwareTable, type ModelRow } from '@tessera/hardware';
import type { JobRecord, ShardRecord } from '../model.js';

/** Work of one shard: units of its model's work unit, and seconds at speed 1.0. */
export interface ShardWork {
  /** The model whose row (and whose measured speeds) apply. */
  model: string;
  units: number;
  /** Reference seconds (speed 1.0). */
  workS: number;
}

/**
 * Work of shard `s` of `job`. Image stages count the steps each stage actually runs (SDXL's base
 * stops at high_noise_frac, the refiner runs the rest; img2img runs strength × steps); a refine tile
 * counts its refine model's steps × strength; an unknown model is one unit of 1 s.
 */
export function shardWork(table: HardwareTable, job: JobRecord, s: ShardRecord): ShardWork {
  const refine = s.kind === 'sd_stage' && job.refine && s.stage === 'refine' ? job.refine : undefined;
  const model = refine ? refine.model : job.model;
  const row: ModelRow | undefined = table.models.get(model);
  if (!row) return { model, units: 1, workS: 1 };
  let units = 0;
  switch (s.kind) {
    case 'upscale_tile':
      units = workUnits(row, { width: s.input.width, height: s.input.height });
      break;
    case 'upscale_frames':
      units = workUnits(row, { width: s.input.width, height: s.input.height, frames: Math.max(1, s.frameCount) });
      break;
    case 'svd_batch':
      units = workUnits(row, { frames: s.frameCount, steps: job.video?.steps });
      break;
    case 'sd_stage': {
      if (refine) {
        units = workUnits(row, { width: s.input.width, height: s.input.height, steps: refine.steps * refine.strength });
        break;
      }
      const p = job.image;
      if (!p) break;
      let steps = p.steps;
      if (s.index === 0 && p.img2img) steps *= p.strength;
      if (job.model === 'sdxl' && p.stages.length === 2) {
        steps *= s.stage === 'base' ? p.highNoiseFrac : 1 - p.highNoiseFrac;
      }
      units = workUnits(row, { width: p.width, height: p.height, steps });
      break;
    }
  }
  return { model, units, workS: referenceSeconds(row, units) };
}
