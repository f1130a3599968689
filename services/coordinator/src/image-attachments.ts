/**
 * The ControlNets and VAE an image job may attach to its model (issue 13): validation against the hardware table's
 * `controlnet` / `vae` rows and their `for_models`, and the layout of the job's input blob that carries the control
 * images to the agent. Pure.
 */
import type { HardwareTable, ModelRow } from '@tessera/hardware';
import type { ControlNetTask } from '@tessera/protocol';
import { concatBytes } from '@tessera/runtime';
import { InvalidArgumentError } from './errors.js';
import type { ImageParams } from './model.js';

/** One ControlNet as requested (scale undefined = 1, guidanceEnd undefined = 1). */
export interface ControlNetRequest {
  model: string;
  preprocess: string;
  scale?: number;
  guidanceStart: number;
  guidanceEnd?: number;
}

/** One validated ControlNet of a job (persisted with the job; agents get it on the first stage). */
export interface ControlNetParams {
  model: string;
  preprocess: 'none' | 'canny' | 'blur';
  scale: number;
  guidanceStart: number;
  guidanceEnd: number;
}

/** At most this many ControlNets per job (each adds a model on the agent). */
export const MAX_CONTROLNETS = 4;
const PREPROCESS = ['none', 'canny', 'blur'] as const;
const F = 'image';

/** Validates the ControlNets and VAE of an image job for `row`; throws InvalidArgumentError naming the field. */
export function resolveAttachments(
  row: ModelRow,
  controlNets: readonly ControlNetRequest[],
  vae: string,
  table: HardwareTable,
): { controlNets: ControlNetParams[]; vae: string } {
  if (controlNets.length > MAX_CONTROLNETS) {
    throw new InvalidArgumentError(
      `${F}.controlnets`,
      `${controlNets.length} is above the limit of ${MAX_CONTROLNETS}`,
    );
  }
  const attached = (kind: 'controlnet' | 'vae', id: string, field: string) => {
    const known = [...table.models.values()].filter((m) => m.kind === kind && m.forModels?.includes(row.id));
    const names = known.map((m) => m.id).join(', ') || 'none';
    const r = table.models.get(id);
    if (!r || r.kind !== kind) {
      throw new InvalidArgumentError(field, `unknown ${kind} ${JSON.stringify(id)} (for ${row.id}: ${names})`);
    }
    if (!r.forModels?.includes(row.id)) {
      throw new InvalidArgumentError(field, `${id} does not fit ${row.id} (it is for ${r.forModels?.join(', ')})`);
    }
  };
  const out = controlNets.map((c, i): ControlNetParams => {
    const at = `${F}.controlnets[${i}]`;
    attached('controlnet', c.model, `${at}.model`);
    const preprocess = c.preprocess || 'none';
    if (!(PREPROCESS as readonly string[]).includes(preprocess)) {
      throw new InvalidArgumentError(
        `${at}.preprocess`,
        `unknown ${JSON.stringify(preprocess)} (use ${PREPROCESS.join(', ')})`,
      );
    }
    const scale = c.scale ?? 1;
    if (!Number.isFinite(scale) || scale < 0 || scale > 10)
      throw new InvalidArgumentError(`${at}.scale`, `${scale} is outside 0..10`);
    const end = c.guidanceEnd ?? 1;
    if (!(c.guidanceStart >= 0 && c.guidanceStart < end && end <= 1)) {
      throw new InvalidArgumentError(
        `${at}.guidance_start`,
        `need 0 ≤ start < end ≤ 1, got ${c.guidanceStart}..${end}`,
      );
    }
    return {
      model: c.model,
      preprocess: preprocess as ControlNetParams['preprocess'],
      scale,
      guidanceStart: c.guidanceStart,
      guidanceEnd: end,
    };
  });
  if (vae) attached('vae', vae, `${F}.vae`);
  return { controlNets: out, vae };
}

/**
 * `row` as the first stage of a job with ControlNets sees it: its need (the stage's `min_vram_gb`, or the row's)
 * raised by what the ControlNets' rows add (their `min_vram_gb`), so the stage lands on a class that holds both.
 */
export function withControlNetVram(
  row: ModelRow,
  stage: string | undefined,
  controlNets: readonly { model: string }[] | undefined,
  table: HardwareTable,
): ModelRow {
  const extra = (controlNets ?? []).reduce((gb, c) => gb + (table.models.get(c.model)?.minVramGb ?? 0), 0);
  if (extra === 0) return row;
  if (stage === undefined) return { ...row, minVramGb: row.minVramGb + extra };
  const stages = row.stages?.map((s) =>
    s.id === stage ? { ...s, minVramGb: (s.minVramGb ?? row.minVramGb) + extra } : s,
  );
  return { ...row, stages };
}

/** The ControlNets and VAE of one stage's task: ControlNets run in the first stage; the VAE serves every stage. */
export function imageTaskAttachments(
  p: ImageParams | undefined,
  stageIndex: number,
): { controlnets: ControlNetTask[]; vaeDir: string } {
  const controlnets =
    stageIndex === 0
      ? (p?.controlNets ?? []).map((c) => ({
          modelDir: c.model,
          preprocess: c.preprocess,
          scale: c.scale,
          guidanceStart: c.guidanceStart,
          guidanceEnd: c.guidanceEnd,
        }))
      : [];
  return { controlnets, vaeDir: p?.vae ?? '' };
}

/** What imageInputRgb needs from the coordinator's image codec. */
export interface ResizingDecoder {
  decodeResized(
    bytes: Uint8Array,
    width: number,
    height: number,
    maxPixels: number,
    field: string,
  ): Promise<Uint8Array>;
}

/**
 * The RGB8 input blob of an image job, or undefined when it has none: the init image (img2img) then each control
 * image, all cover-resized to the output size. Decode errors name `image.init_image` / `image.controlnets[i].image`.
 */
export async function imageInputRgb(
  codec: ResizingDecoder,
  initImage: Uint8Array,
  controlImages: readonly Uint8Array[],
  size: { width: number; height: number },
  maxPixels: number,
): Promise<Uint8Array | undefined> {
  const init = initImage.length
    ? await codec.decodeResized(initImage, size.width, size.height, maxPixels, 'image.init_image')
    : undefined;
  const controls: Uint8Array[] = [];
  for (const [i, img] of controlImages.entries()) {
    controls.push(await codec.decodeResized(img, size.width, size.height, maxPixels, `image.controlnets[${i}].image`));
  }
  return init || controls.length ? imageInputBlob(init, controls) : undefined;
}

/** The input blob of an image job: [init image RGB8 when img2img] then each control image RGB8, all width×height. */
export function imageInputBlob(init: Uint8Array | undefined, controls: readonly Uint8Array[]): Uint8Array {
  return concatBytes([...(init ? [init] : []), ...controls]);
}
