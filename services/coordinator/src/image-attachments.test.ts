/** ControlNets and VAE of image jobs against the bundled table; the input blob layout. Pure units. */
import { describe, expect, it } from 'vitest';
import { loadHardwareTable } from '@tessera/hardware';
import { InvalidArgumentError } from './errors.js';
import { imageInputRgb, imageTaskAttachments, resolveAttachments, withControlNetVram } from './image-attachments.js';
import { planImage, resolveImageParams } from './planner-image.js';
import { requiredClassFor } from '@tessera/hardware';

const table = loadHardwareTable();
const row = (id: string) => table.models.get(id)!;
const cn = { model: 'controlnet-canny-sd15', preprocess: 'canny', guidanceStart: 0 };
const fieldOf = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return (e as InvalidArgumentError).field;
  }
  return undefined;
};

describe('resolveAttachments', () => {
  it('fills defaults (scale 1, end 1, preprocess none) and keeps the VAE', () => {
    const r = resolveAttachments(row('sd15'), [{ ...cn, preprocess: '' }], 'kl-f8-anime2', table);
    expect(r).toEqual({
      controlNets: [{ model: 'controlnet-canny-sd15', preprocess: 'none', scale: 1, guidanceStart: 0, guidanceEnd: 1 }],
      vae: 'kl-f8-anime2',
    });
    expect(resolveAttachments(row('sd15'), [{ ...cn, scale: 0 }], '', table).controlNets[0].scale).toBe(0);
  });

  it('names the field of each refusal', () => {
    expect(fieldOf(() => resolveAttachments(row('sd35m'), [cn], '', table))).toBe('image.controlnets[0].model');
    expect(fieldOf(() => resolveAttachments(row('sd15'), [{ ...cn, model: 'sd15' }], '', table))).toBe(
      'image.controlnets[0].model',
    );
    expect(fieldOf(() => resolveAttachments(row('sd15'), [{ ...cn, scale: 11 }], '', table))).toBe(
      'image.controlnets[0].scale',
    );
    expect(
      fieldOf(() => resolveAttachments(row('sd15'), [{ ...cn, guidanceStart: 0.5, guidanceEnd: 0.4 }], '', table)),
    ).toBe('image.controlnets[0].guidance_start');
    expect(fieldOf(() => resolveAttachments(row('flux-dev'), [], 'kl-f8-anime2', table))).toBe('image.vae');
    expect(fieldOf(() => resolveAttachments(row('sd15'), Array(5).fill(cn), '', table))).toBe('image.controlnets');
  });
});

describe('input blob and stage tasks', () => {
  const decoder = {
    decodeResized: async (bytes: Uint8Array, w: number, h: number, _max: number, field: string) => {
      if (bytes[0] === 0) throw new InvalidArgumentError(field, 'corrupt');
      return new Uint8Array(w * h * 3).fill(bytes[0]);
    },
  };
  it('init image first, then control images, each resized to the output size; none → undefined', async () => {
    const size = { width: 2, height: 1 };
    const blob = await imageInputRgb(decoder, Uint8Array.of(7), [Uint8Array.of(8), Uint8Array.of(9)], size, 100);
    expect(Array.from(blob!)).toEqual([7, 7, 7, 7, 7, 7, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9]);
    expect(Array.from((await imageInputRgb(decoder, new Uint8Array(), [Uint8Array.of(5)], size, 100))!)).toEqual([
      5, 5, 5, 5, 5, 5,
    ]);
    expect(await imageInputRgb(decoder, new Uint8Array(), [], size, 100)).toBeUndefined();
    await expect(
      imageInputRgb(decoder, new Uint8Array(), [Uint8Array.of(1), Uint8Array.of(0)], size, 100),
    ).rejects.toMatchObject({
      field: 'image.controlnets[1].image',
    });
  });

  it('ControlNets go to the first stage only; the VAE to every stage', () => {
    const p = {
      controlNets: [{ model: 'cn', preprocess: 'blur' as const, scale: 0.5, guidanceStart: 0, guidanceEnd: 1 }],
      vae: 'kl-f8-anime2',
    };
    const params = { ...p } as unknown as Parameters<typeof imageTaskAttachments>[0];
    expect(imageTaskAttachments(params, 0)).toEqual({
      controlnets: [{ modelDir: 'cn', preprocess: 'blur', scale: 0.5, guidanceStart: 0, guidanceEnd: 1 }],
      vaeDir: 'kl-f8-anime2',
    });
    expect(imageTaskAttachments(params, 1)).toEqual({ controlnets: [], vaeDir: 'kl-f8-anime2' });
    expect(imageTaskAttachments(undefined, 0)).toEqual({ controlnets: [], vaeDir: '' });
  });
});

describe('ControlNet VRAM', () => {
  it('the first stage needs the model plus its ControlNets: sd15 6 + 0.7 → 8 GB, sdxl base 8 + 2.5 → 12 GB', () => {
    const sd15 = withControlNetVram(row('sd15'), undefined, [{ model: 'controlnet-canny-sd15' }], table);
    expect(sd15.minVramGb).toBeCloseTo(6.7, 9);
    expect(requiredClassFor(table, sd15, {})).toBe(8);
    const xl = withControlNetVram(row('sdxl'), 'base', [{ model: 'controlnet-canny-sdxl' }], table);
    expect(requiredClassFor(table, xl, {}, 'base')).toBe(12);
    expect(requiredClassFor(table, xl, {}, 'refiner')).toBe(8);
    expect(withControlNetVram(row('sd15'), undefined, [], table)).toBe(row('sd15'));
  });

  it('planImage puts the extra on the first stage only', () => {
    const req = {
      model: 'sdxl',
      prompt: 'a cat',
      negativePrompt: '',
      width: 64,
      height: 64,
      steps: 0,
      guidanceScale: 0,
      strength: 0,
      scheduler: '',
      refine: true,
      highNoiseFrac: 0,
      controlNets: [{ model: 'controlnet-blur-sdxl', preprocess: 'blur', guidanceStart: 0 }],
    };
    const { row: r, params } = resolveImageParams(req, table);
    const header = { jobId: 'j', name: '', seed: 1, priority: 0, maxAttempts: 3, nowMs: 0 };
    const plan = planImage(header, r, params, table, 'in');
    expect(plan.shards.map((s) => [s.stage, s.requiredClassGb, s.inputKey])).toEqual([
      ['base', 12, 'in'],
      ['refiner', 8, ''],
    ]);
  });
});
