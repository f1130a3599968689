/**
 * The input blob of an image stage with ControlNets (coordinator's image-attachments.ts): the init image RGB8 when
 * the stage is img2img, then each control image RGB8, all width×height. Splits it into the init part and the
 * engine's ControlNet parameters (directories under the agent's models dir). Pure.
 */
import { join } from 'node:path';
import { InvalidImageError, type ControlNetParams, type ControlPreprocessor } from '@tessera/engine';
import type { ImageTask } from '@tessera/protocol';

/** Model directories a stage uses beside its own: its ControlNets' and its VAE's (held like the model). */
export function attachmentDirs(t: ImageTask | undefined): string[] {
  if (!t) return [];
  return [...t.controlnets.map((c) => c.modelDir), t.vaeDir].filter(Boolean);
}

/** The init bytes (empty when the stage has none) and the ControlNets of the stage. */
export function splitImageInput(
  t: ImageTask,
  input: Uint8Array,
  modelsDir: string,
): { init: Uint8Array; controlNets: ControlNetParams[] } {
  if (!t.controlnets.length) return { init: input, controlNets: [] };
  const px = t.width * t.height * 3;
  const initBytes = t.inputKind === 'image' ? px : 0;
  if (input.length !== initBytes + t.controlnets.length * px) {
    throw new InvalidImageError(
      `input has ${input.length} bytes, expected ${initBytes} + ${t.controlnets.length}×${px}`,
    );
  }
  const controlNets = t.controlnets.map((c, i) => ({
    dir: join(modelsDir, c.modelDir),
    image: { width: t.width, height: t.height, data: input.slice(initBytes + i * px, initBytes + (i + 1) * px) },
    preprocess: (c.preprocess || 'none') as ControlPreprocessor,
    scale: c.scale,
    guidanceStart: c.guidanceStart,
    guidanceEnd: c.guidanceEnd,
  }));
  return { init: input.subarray(0, initBytes), controlNets };
}
