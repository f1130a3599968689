/**
 * Image planning for the models of issue 13 part B against the bundled hardware table: Flux, SD 3.5 Large and PixArt
 * rows plan one stage on their own class; a txt2img-only row (`img2img: false`) refuses an init image.
 */
import { describe, expect, it } from 'vitest';
import { loadHardwareTable, requiredClassFor } from '@tessera/hardware';
import { InvalidArgumentError } from './errors.js';
import { resolveImageParams, type ImageRequest } from './planner-image.js';

const table = loadHardwareTable();
const req = (model: string, extra: Partial<ImageRequest> = {}): ImageRequest => ({
  model,
  prompt: 'a cat',
  negativePrompt: '',
  width: 0,
  height: 0,
  steps: 0,
  guidanceScale: 0,
  strength: 0,
  scheduler: '',
  refine: false,
  highNoiseFrac: 0,
  ...extra,
});

describe('image planning for Flux, SD 3.5 Large and PixArt', () => {
  it.each([
    ['flux-schnell', 48],
    ['flux-dev', 48],
    ['sd35l', 24],
    ['pixart-alpha', 12],
    ['pixart-sigma', 12],
  ])('%s: one main stage at its native 1024² needing the %i GB class', (model, gb) => {
    const { row, params } = resolveImageParams(req(model), table);
    expect(params.stages).toEqual(['main']);
    expect([params.width, params.height]).toEqual([1024, 1024]);
    expect(requiredClassFor(table, row, {})).toBe(gb);
  });

  it('img2img is planned for Flux and refused for PixArt, naming image.init_image', () => {
    expect(resolveImageParams(req('flux-dev', { init: { width: 64, height: 64 } }), table).params.img2img).toBe(true);
    for (const model of ['pixart-alpha', 'pixart-sigma']) {
      let err: unknown;
      try {
        resolveImageParams(req(model, { init: { width: 64, height: 64 } }), table);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).message).toMatch(/init_image.*has no img2img pipeline/);
    }
  });
});
