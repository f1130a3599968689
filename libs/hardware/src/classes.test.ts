import { describe, expect, it } from 'vitest';
import {
  VramClassLabelError,
  VramRequirementError,
  classLabel,
  decodeChunkFor,
  findModel,
  fits,
  loadHardwareTable,
  parseClassLabel,
  parseHardwareTable,
  requiredClassFor,
  usableVramGb,
  vramClassOf,
  type ModelRow,
} from './index.js';

const table = loadHardwareTable();
const model = (id: string): ModelRow => {
  const row = findModel(table, id);
  if (!row) throw new Error(`no ${id}`);
  return row;
};

describe('vramClassOf', () => {
  it('gives the largest threshold reached, with the tolerance', () => {
    expect(vramClassOf(table, 6)).toBe(6);
    expect(vramClassOf(table, 7.9)).toBe(8); // 7.9 ≥ 8 × 0.97 = 7.76
    expect(vramClassOf(table, 7.76)).toBe(8);
    expect(vramClassOf(table, 7.7)).toBe(6);
    expect(vramClassOf(table, 8188 / 1024)).toBe(8);
    expect(vramClassOf(table, 24)).toBe(24);
    expect(vramClassOf(table, 23.5)).toBe(24);
    expect(vramClassOf(table, 100)).toBe(80);
    expect(vramClassOf(table, 5.5)).toBe(0);
    expect(vramClassOf(table, 0)).toBe(0);
    expect(vramClassOf(table, undefined)).toBe(0);
    expect(vramClassOf(table, NaN)).toBe(0);
  });

  it('applies the reserve through usableVramGb', () => {
    const reserved = parseHardwareTable(
      'version: 1\nreserve_gb: 1\nclasses_gb: [8]\nmodels: [{id: a, family: A, kind: image, min_vram_gb: 8, source: x}]\n',
      't.yaml',
    );
    expect(usableVramGb(reserved, 8)).toBe(7);
    expect(vramClassOf(reserved, usableVramGb(reserved, 8))).toBe(0); // no tolerance in this table
    expect(vramClassOf(reserved, usableVramGb(reserved, 9))).toBe(8);
    expect(usableVramGb(table, 24)).toBe(24);
    expect(usableVramGb(reserved, 0.5)).toBe(0);
    expect(usableVramGb(table, undefined)).toBe(0);
  });
});

describe('requiredClassFor', () => {
  it('is the smallest class at or above the model need', () => {
    expect(requiredClassFor(table, model('sd15'))).toBe(6);
    expect(requiredClassFor(table, model('sdxl'))).toBe(8);
    expect(requiredClassFor(table, model('sd35m'))).toBe(12);
    expect(requiredClassFor(table, model('cascade'))).toBe(16);
    expect(requiredClassFor(table, model('hunyuan-dit-1.2'))).toBe(24);
    expect(requiredClassFor(table, model('svd-xt'), { frames: 25 })).toBe(16);
    expect(requiredClassFor(table, model('esrgan-slim-x4'), { pixels: 544 * 544 })).toBe(0);
    expect(requiredClassFor(table, model('sdxl'), {}, 'refiner')).toBe(8);
  });

  it('adds vram_gb_per_megapixel × tile megapixels (a custom table making the upscaler need 8 GB)', () => {
    const custom = parseHardwareTable(
      [
        'version: 1',
        'class_tolerance: 0.03',
        'classes_gb: [6, 8, 12]',
        'models:',
        '  - { id: up, family: Up, kind: upscaler, min_vram_gb: 2, source: measured,',
        '      upscaler: { scale: 4, receptive_field_px: 10, default_overlap_px: 16, vram_gb_per_megapixel: 5 } }',
      ].join('\n'),
      'custom.yaml',
    );
    const up = findModel(custom, 'up') as ModelRow;
    expect(requiredClassFor(custom, up, { pixels: 0 })).toBe(6); // 2 GB → class 6
    expect(requiredClassFor(custom, up, { pixels: 1_000_000 })).toBe(8); // 2 + 5 = 7 GB → class 8
    expect(requiredClassFor(custom, up, { pixels: 1_200_000 })).toBe(8); // 8 GB → class 8
    expect(requiredClassFor(custom, up, { pixels: 1_500_000 })).toBe(12); // 9.5 GB → class 12
    try {
      requiredClassFor(custom, up, { pixels: 4_000_000 }); // 22 GB
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(VramRequirementError);
      expect((e as VramRequirementError).reason).toBe('above-largest-class');
      expect((e as VramRequirementError).requiredGb).toBe(22);
      expect((e as Error).message).toMatch(/needs 22 GB, above the largest class 12 GB/);
    }
  });

  it('rejects batches larger than the model takes, unknown stages and bad sizes', () => {
    expect(() => requiredClassFor(table, model('svd'), { frames: 25 })).toThrow(VramRequirementError);
    expect(() => requiredClassFor(table, model('sdxl'), {}, 'c')).toThrow(
      /sdxl has no stage "c" \(stages: base, refiner\)/,
    );
    expect(() => requiredClassFor(table, model('sd15'), { pixels: -1 })).toThrow(VramRequirementError);
  });
});

describe('fits, decode chunks and labels', () => {
  it('fits when the agent class is at least the requirement', () => {
    expect(fits(8, 8)).toBe(true);
    expect(fits(24, 8)).toBe(true);
    expect(fits(6, 8)).toBe(false);
    expect(fits(0, 0)).toBe(true);
    expect(fits(0, 6)).toBe(false);
  });

  it('picks the decode chunk of the largest class entry not above the agent class', () => {
    const svdxt = model('svd-xt');
    expect(decodeChunkFor(svdxt, 12)).toBeNull();
    expect(decodeChunkFor(svdxt, 16)).toBe(2);
    expect(decodeChunkFor(svdxt, 24)).toBe(8);
    expect(decodeChunkFor(svdxt, 80)).toBe(8);
    expect(decodeChunkFor(model('svd'), 80)).toBeNull();
    expect(decodeChunkFor(model('sd15'), 80)).toBeNull();
  });

  it('labels classes as on the wire and parses them back', () => {
    expect(classLabel(0)).toBe('cpu');
    expect(classLabel(8)).toBe('8gb');
    expect(classLabel(80)).toBe('80gb');
    for (const c of [0, ...table.classesGb]) expect(parseClassLabel(classLabel(c))).toBe(c);
    for (const bad of ['', 'CPU', '8GB', '8', 'gb', '-8gb', '0gb']) {
      expect(() => parseClassLabel(bad)).toThrow(VramClassLabelError);
    }
    expect(findModel(table, 'nope')).toBeNull();
  });
});
