/**
 * VRAM class math. A class is a threshold in GB from the table's classes_gb; class 0 is "cpu".
 * An agent's class is the largest threshold its usable VRAM reaches (with the table's tolerance); a
 * shard's required class is the smallest threshold not below its need; a shard fits an agent when the
 * agent's class ≥ the shard's. Pure functions over plain data.
 */
import { VramClassLabelError, VramRequirementError } from './errors.js';
import type { HardwareTable, ModelRow } from './types.js';

/** Slack for floating-point comparisons of GB values (e.g. 8 × 0.97). */
const EPS = 1e-9;

/** Usable VRAM of an agent: total − reserve, never below 0; 0 for a missing or invalid total. */
export function usableVramGb(table: HardwareTable, totalGb: number | undefined): number {
  if (typeof totalGb !== 'number' || !Number.isFinite(totalGb) || totalGb <= 0) return 0;
  return Math.max(0, totalGb - table.reserveGb);
}

/**
 * VRAM class of an agent with `usableGb` usable VRAM: the largest threshold c with
 * usableGb ≥ c × (1 − classTolerance), or 0 ("cpu") when none (also for 0, missing or invalid input).
 */
export function vramClassOf(table: HardwareTable, usableGb: number | undefined): number {
  if (typeof usableGb !== 'number' || !Number.isFinite(usableGb) || usableGb <= 0) return 0;
  let cls = 0;
  for (const c of table.classesGb) if (usableGb + EPS >= c * (1 - table.classTolerance)) cls = c;
  return cls;
}

/** Size of one shard: tile input pixels (upscalers) and/or frames in the batch (video). */
export interface ShardSize {
  pixels?: number;
  frames?: number;
}

/**
 * Smallest class a shard of `row` with `size` needs: the smallest threshold ≥ need, where
 * need = (stage.minVramGb ?? row.minVramGb) + pixels / 1e6 × upscaler.vramGbPerMegapixel; 0 ("cpu") when
 * need is 0. Frames do not change the need (video rows adapt their decode chunk to the class, see
 * {@link decodeChunkFor}) but may not exceed the model's frames per batch.
 * Throws {@link VramRequirementError} when the need is above the largest class or the size is invalid.
 */
export function requiredClassFor(table: HardwareTable, row: ModelRow, size: ShardSize = {}, stage?: string): number {
  const pixels = size.pixels ?? 0;
  const frames = size.frames ?? 0;
  if (!Number.isFinite(pixels) || pixels < 0 || !Number.isFinite(frames) || frames < 0) {
    throw new VramRequirementError(
      row.id,
      'bad-size',
      NaN,
      `${row.id}: shard size must be ≥ 0, got ${JSON.stringify(size)}`,
    );
  }
  if (row.video && frames > row.video.frames) {
    throw new VramRequirementError(
      row.id,
      'too-many-frames',
      NaN,
      `${row.id}: a batch of ${frames} frames exceeds the model's ${row.video.frames} frames per batch`,
    );
  }
  let base = row.minVramGb;
  if (stage !== undefined) {
    const s = row.stages?.find((x) => x.id === stage);
    if (!s) {
      const known = row.stages?.map((x) => x.id).join(', ') || 'none';
      throw new VramRequirementError(
        row.id,
        'unknown-stage',
        NaN,
        `${row.id} has no stage ${JSON.stringify(stage)} (stages: ${known})`,
      );
    }
    base = s.minVramGb ?? row.minVramGb;
  }
  const need = base + (pixels / 1e6) * (row.upscaler?.vramGbPerMegapixel ?? 0);
  if (need <= 0) return 0;
  const cls = table.classesGb.find((c) => c + EPS >= need);
  if (cls === undefined) {
    const largest = table.classesGb[table.classesGb.length - 1];
    throw new VramRequirementError(
      row.id,
      'above-largest-class',
      need,
      `${row.id}: a shard of ${JSON.stringify(size)} needs ${round(need)} GB, above the largest class ${largest} GB`,
    );
  }
  return cls;
}

function round(gb: number): number {
  return Math.round(gb * 100) / 100;
}

/** True when an agent of class `agentClass` may run a shard that requires `requiredClass` (agent ≥ required). */
export function fits(agentClass: number, requiredClass: number): boolean {
  return agentClass >= requiredClass;
}

/**
 * VAE decode chunk (frames decoded at once) for a video row on an agent of class `agentClass`: the entry
 * of the largest class ≤ agentClass. null when the row has no table, or the class is below every entry.
 */
export function decodeChunkFor(row: ModelRow, agentClass: number): number | null {
  let chunk: number | null = null;
  for (const e of row.video?.decodeChunkByClass ?? []) if (e.classGb <= agentClass) chunk = e.chunk;
  return chunk;
}

/** The model row with `id`, or null when the table has none. */
export function findModel(table: HardwareTable, id: string): ModelRow | null {
  return table.models.get(id) ?? null;
}

/** A VRAM class label as on the wire and in `--json` output. */
export type VramClassLabel = 'cpu' | `${number}gb`;

/** Label of class `gb`: "cpu" for 0 (or below), otherwise "<gb>gb" (e.g. "8gb"); same as @tessera/protocol's. */
export function classLabel(gb: number): VramClassLabel {
  return gb <= 0 ? 'cpu' : `${gb}gb`;
}

/** Inverse of {@link classLabel}: "cpu" → 0, "24gb" → 24. Throws {@link VramClassLabelError} otherwise. */
export function parseClassLabel(label: string): number {
  if (label === 'cpu') return 0;
  const m = /^(\d+(?:\.\d+)?)gb$/.exec(label);
  if (!m || Number(m[1]) <= 0) throw new VramClassLabelError(label);
  return Number(m[1]);
}
