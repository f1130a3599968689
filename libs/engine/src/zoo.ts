/**
 * The upscaler model zoo: ids, their fixed properties, and where their source weights live.
 * The table is data; `model-cache.ts` checks on every conversion that the shipped model still has
 * these properties, so the table can never silently disagree with the weights.
 */

/** Every upscaler id the zoo knows, in ascending scale. */
export const UPSCALER_IDS = ['esrgan-slim-x2', 'esrgan-slim-x4'] as const;

/** A zoo upscaler id. */
export type UpscalerId = (typeof UPSCALER_IDS)[number];

/** What the farm needs to plan tiles for an upscaler without loading it. */
export interface UpscalerSpec {
  id: UpscalerId;
  /** Output size = input size · scale. */
  scale: number;
  /** Context (input pixels) a tile needs on each side for its centre to equal the single-pass result. */
  receptiveFieldPx: number;
}

const SPECS: Record<UpscalerId, UpscalerSpec> = {
  'esrgan-slim-x2': { id: 'esrgan-slim-x2', scale: 2, receptiveFieldPx: 10 },
  'esrgan-slim-x4': { id: 'esrgan-slim-x4', scale: 4, receptiveFieldPx: 10 },
};

/** True when `id` names a zoo upscaler. */
export function isUpscalerId(id: string): id is UpscalerId {
  return (UPSCALER_IDS as readonly string[]).includes(id);
}

/** The spec of a zoo upscaler, or undefined for an unknown id. Pure. */
export function upscalerSpec(id: string): UpscalerSpec | undefined {
  return isUpscalerId(id) ? { ...SPECS[id] } : undefined;
}

/** Package and folder inside it holding the TF.js layers model of a zoo id (model.json + shards). */
export function upscalerSource(id: UpscalerId): { packageName: string; modelDir: string } {
  return { packageName: '@upscalerjs/esrgan-slim', modelDir: `models/x${SPECS[id].scale}` };
}
