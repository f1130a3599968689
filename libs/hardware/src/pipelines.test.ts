import { describe, expect, it } from 'vitest';
import { HardwareTableError } from './errors.js';
import { loadHardwareTable } from './load.js';
import { parseHardwareTable } from './parse.js';
import { ENGINE_IMAGE_PIPELINES, enginePipelineOf } from './pipelines.js';

const table = (pipeline: string) => `
version: 1
reserve_gb: 0
class_tolerance: 0
classes_gb: [6, 8]
models:
  - id: m
    family: test
    kind: image
    min_vram_gb: 6
    source: test
    pipeline: ${pipeline}
`;

describe('image rows name their engine pipeline', () => {
  it('parses the pipeline key and validates its spelling', () => {
    expect(parseHardwareTable(table('stable-cascade'), 't.yaml').models.get('m')!.pipeline).toBe('stable-cascade');
    expect(() => parseHardwareTable(table('"Not A Name"'), 't.yaml')).toThrow(HardwareTableError);
    expect(() => parseHardwareTable(table('"Not A Name"'), 't.yaml')).toThrow(/pipeline/);
  });

  it('enginePipelineOf: only pipelines the engine implements', () => {
    expect(enginePipelineOf({ pipeline: 'hunyuan-dit' })).toBe('hunyuan-dit');
    expect(enginePipelineOf({ pipeline: 'pixart-x' })).toBeUndefined();
    expect(enginePipelineOf({})).toBeUndefined();
    expect(enginePipelineOf({ pipeline: 'toString' })).toBeUndefined();
  });

  it('every image row of the bundled table names a pipeline the engine has (the seed rows included)', () => {
    const rows = [...loadHardwareTable().models.values()].filter((r) => r.kind === 'image');
    for (const r of rows) expect(enginePipelineOf(r), r.id).toBe(r.pipeline);
    const seed = rows.filter((r) => r.source === 'seed').map((r) => [r.id, r.pipeline]);
    expect(seed).toEqual([
      ['sd15', 'stable-diffusion'],
      ['sdxl', 'stable-diffusion-xl'],
      ['sd35m', 'stable-diffusion-3'],
      ['cascade', 'stable-cascade'],
      ['hunyuan-dit-1.2', 'hunyuan-dit'],
    ]);
    for (const spec of Object.values(ENGINE_IMAGE_PIPELINES)) expect(spec.sizeMultiple % 8).toBe(0);
  });
});
