import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import {
  BUNDLED_TABLE_PATH,
  HardwareTableError,
  defaultSpeed,
  loadHardwareTable,
  parseHardwareTable,
  referenceSeconds,
  workUnitOf,
  workUnits,
} from './index.js';

const table = loadHardwareTable();
const row = (id: string) => table.models.get(id)!;

function withDoc(edit: (doc: Record<string, unknown>) => void): string {
  const doc = parse(readFileSync(BUNDLED_TABLE_PATH, 'utf8')) as Record<string, unknown>;
  edit(doc);
  return stringify(doc);
}

describe('the cost model', () => {
  it('gives every bundled model a cost and every class a default speed, growing with the class', () => {
    // Rows that run as shards (ControlNets and VAEs ride along with an image model's stage).
    for (const m of table.models.values())
      if (m.kind !== 'controlnet' && m.kind !== 'vae') expect(m.secondsPerUnit, m.id).toBeGreaterThan(0);
    const speeds = [0, ...table.classesGb].map((c) => defaultSpeed(table, c));
    expect(speeds[0]).toBe(0.005);
    expect(defaultSpeed(table, 24)).toBe(1);
    for (let i = 1; i < speeds.length; i++) expect(speeds[i]).toBeGreaterThan(speeds[i - 1]);
  });

  it('counts work in megapixel-steps, frame-steps and input megapixels', () => {
    expect(workUnitOf('image')).toBe('megapixel_step');
    expect(workUnitOf('video')).toBe('frame_step');
    expect(workUnitOf('upscaler')).toBe('megapixel');
    expect(workUnits(row('sdxl'), { width: 1000, height: 1000, steps: 30 })).toBeCloseTo(30);
    expect(workUnits(row('svd-xt'), { frames: 25 })).toBe(25 * 25);
    expect(workUnits(row('svd-xt'), { frames: 10, steps: 4 })).toBe(40);
    expect(workUnits(row('esrgan-slim-x4'), { width: 500, height: 200 })).toBeCloseTo(0.1);
    expect(workUnits(row('esrgan-slim-x4'), { width: 500, height: 200, frames: 3 })).toBeCloseTo(0.3);
    expect(referenceSeconds(row('sdxl'), 30)).toBeCloseTo(4.2);
    // 128×128 tile on the CPU class: ≈ 0.1 s, what the CPU session measures (DESIGN §10).
    const tile = referenceSeconds(row('esrgan-slim-x4'), workUnits(row('esrgan-slim-x4'), { width: 128, height: 128 }));
    expect(tile / defaultSpeed(table, 0)).toBeCloseTo(0.098, 2);
  });

  it('falls back to one second per shard and speed 1.0 when the table has no cost', () => {
    const t = parseHardwareTable(
      withDoc((d) => {
        delete d.speed_by_class;
        for (const m of d.models as Record<string, unknown>[]) delete m.seconds_per_unit;
      }),
      'bare.yaml',
    );
    expect(defaultSpeed(t, 80)).toBe(1);
    expect(referenceSeconds(t.models.get('sdxl')!, 1234)).toBe(1);
  });

  it('takes the nearest smaller listed class for an unlisted one', () => {
    const t = parseHardwareTable(
      withDoc((d) => (d.speed_by_class = { cpu: 0.1, 16: 3 })),
      'x.yaml',
    );
    expect(defaultSpeed(t, 12)).toBe(0.1);
    expect(defaultSpeed(t, 48)).toBe(3);
  });

  it('refuses bad cost data naming the key', () => {
    const bad = (edit: (d: Record<string, unknown>) => void) => {
      try {
        parseHardwareTable(withDoc(edit), 'x.yaml');
      } catch (e) {
        expect(e).toBeInstanceOf(HardwareTableError);
        return (e as Error).message;
      }
      throw new Error('expected an error');
    };
    expect(bad((d) => (d.speed_by_class = { 7: 1 }))).toMatch(/speed_by_class\.7 is not cpu or a class/);
    expect(bad((d) => (d.speed_by_class = { cpu: 0 }))).toMatch(/speed_by_class\.cpu must be a number > 0, got 0/);
    expect(bad((d) => ((d.models as Record<string, unknown>[])[0].seconds_per_unit = 'fast'))).toMatch(
      /models\[0\] \(sd15\)\.seconds_per_unit must be a number > 0/,
    );
  });
});
