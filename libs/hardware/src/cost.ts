/**
 * The cost model: how much work a shard is (work units), how long it takes at the reference speed
 * (the table's seconds per unit), and the default speed of an agent of a VRAM class until it has
 * measured its own. Pure functions over the validated table.
 */
import type { HardwareTable, ModelKind, ModelRow, WorkUnit } from './types.js';

/** The work unit of a model kind: images megapixel-steps, video frame-steps, upscalers input megapixels. */
export function workUnitOf(kind: ModelKind): WorkUnit {
  return kind === 'image' ? 'megapixel_step' : kind === 'video' ? 'frame_step' : 'megapixel';
}

/** What a shard's amount of work is read from; fields a kind does not use are ignored. */
export interface WorkShape {
  /** Image/tile width and height in px (input px for upscalers, output px for image stages). */
  width?: number;
  height?: number;
  /** Denoising steps actually run (image stages, video batches; the video row's steps when absent). */
  steps?: number;
  /** Frames in the batch (video: generated frames; upscale_frames: frames upscaled). */
  frames?: number;
}

/**
 * Work units of one shard of `row`: megapixels × steps (image), frames × steps (video), input
 * megapixels × frames (upscalers; one frame when absent). Never negative; 0 for an empty shape.
 */
export function workUnits(row: ModelRow, shape: WorkShape): number {
  const mp = (Math.max(0, shape.width ?? 0) * Math.max(0, shape.height ?? 0)) / 1e6;
  switch (workUnitOf(row.kind)) {
    case 'megapixel_step':
      return mp * Math.max(0, shape.steps ?? 0);
    case 'frame_step':
      return Math.max(0, shape.frames ?? 0) * Math.max(0, shape.steps ?? row.video?.steps ?? 0);
    case 'megapixel':
      return mp * Math.max(1, shape.frames ?? 1);
  }
}

/** Seconds `units` of `row`'s work take at speed 1.0; a row without a cost counts each shard as 1 s. */
export function referenceSeconds(row: ModelRow, units: number): number {
  return row.secondsPerUnit === undefined ? 1 : units * row.secondsPerUnit;
}

/**
 * Default speed of an agent of class `classGb` (0 = cpu): the table's `speed_by_class` entry for the
 * largest listed class ≤ `classGb`, 1.0 when none is listed.
 */
export function defaultSpeed(table: HardwareTable, classGb: number): number {
  let speed = 1;
  for (const [c, s] of table.speedByClass) if (c <= classGb) speed = s;
  return speed;
}
