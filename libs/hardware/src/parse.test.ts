import { readFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { BUNDLED_TABLE_PATH, HardwareTableError, loadHardwareTable, parseHardwareTable } from './index.js';

const bundledText = readFileSync(BUNDLED_TABLE_PATH, 'utf8');

type Doc = Record<string, unknown> & { models: Record<string, unknown>[] };

/** The bundled table after `edit`, re-serialised. */
function edited(edit: (doc: Doc) => void): string {
  const doc = parse(bundledText) as Doc;
  edit(doc);
  return stringify(doc);
}

function errorOf(text: string): HardwareTableError {
  try {
    parseHardwareTable(text, './x.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(HardwareTableError);
    return e as HardwareTableError;
  }
  throw new Error('expected a HardwareTableError');
}

const row = (doc: Doc, id: string) => doc.models.find((m) => m.id === id) as Record<string, unknown>;

describe('the bundled hardware table', () => {
  it('loads with the classes and model rows of DESIGN §4', () => {
    const t = loadHardwareTable();
    expect(t.version).toBe(1);
    expect(t.reserveGb).toBe(0);
    expect(t.classTolerance).toBe(0.03);
    expect(t.classesGb).toEqual([6, 8, 12, 16, 24, 48, 80]);
    const need = Object.fromEntries([...t.models.values()].map((m) => [m.id, m.minVramGb]));
    expect(need).toEqual({
      sd15: 6,
      sdxl: 8,
      sd35m: 12,
      sd35l: 24,
      cascade: 16,
      'hunyuan-dit-1.2': 24,
      sd21: 8,
      'flux-schnell': 48,
      'flux-dev': 48,
      'pixart-alpha': 12,
      'pixart-sigma': 12,
      'controlnet-canny-sd15': 0.7,
      'controlnet-depth-sd15': 0.7,
      'controlnet-openpose-sd15': 0.7,
      'controlnet-blur-sdxl': 2.5,
      'controlnet-canny-sdxl': 2.5,
      'kl-f8-anime2': 0,
      'svd-xt': 16,
      svd: 16,
      'esrgan-slim-x2': 0,
      'esrgan-slim-x4': 0,
    });
    const seed = [...t.models.values()].filter((m) => m.source === 'seed').map((m) => m.id);
    expect(seed).toEqual(['sd15', 'sdxl', 'sd35m', 'cascade', 'hunyuan-dit-1.2']);
    expect(t.models.get('sd15')).toMatchObject({ kind: 'image', nativeWidth: 512, nativeHeight: 512 });
    expect(t.models.get('sd21')).toMatchObject({
      nativeWidth: 768,
      source: 'model card',
      notes: 'no official figure; conservative',
    });
    expect(t.models.get('sdxl')?.stages?.map((s) => s.id)).toEqual(['base', 'refiner']);
    expect(t.models.get('cascade')?.stages?.map((s) => s.id)).toEqual(['c', 'b', 'a']);
    expect([...t.models.values()].filter((m) => m.img2img === false).map((m) => m.id)).toEqual([
      'pixart-alpha',
      'pixart-sigma',
    ]);
    expect(t.models.get('svd-xt')?.video).toEqual({
      frames: 25,
      steps: 25,
      fps: 7,
      motionBucketId: 127,
      noiseAugStrength: 0.02,
      decodeChunkByClass: [
        { classGb: 16, chunk: 2 },
        { classGb: 24, chunk: 8 },
      ],
    });
    expect(t.models.get('svd')?.video?.frames).toBe(14);
    for (const [id, scale] of [
      ['esrgan-slim-x2', 2],
      ['esrgan-slim-x4', 4],
    ] as const) {
      expect(t.models.get(id)).toMatchObject({
        kind: 'upscaler',
        upscaler: { scale, receptiveFieldPx: 10, defaultOverlapPx: 16, vramGbPerMegapixel: 0 },
      });
    }
  });

  it('loads an explicit path and names an unreadable file', () => {
    expect(loadHardwareTable(BUNDLED_TABLE_PATH).models.size).toBe(21);
    expect(() => loadHardwareTable('/nonexistent/table.yaml')).toThrow(
      /^hardware table \/nonexistent\/table\.yaml: cannot be read/,
    );
  });
});

describe('parseHardwareTable validation', () => {
  it('names the file, the model id and the key path', () => {
    const e = errorOf(edited((d) => (d.models[3].min_vram_gb = 'eight')));
    expect(e.message).toBe(
      'hardware table ./x.yaml: models[3] (cascade).min_vram_gb must be a number ≥ 0, got "eight"',
    );
    expect(e.name).toBe('HardwareTableError');
    expect(e.file).toBe('./x.yaml');
    expect(e.path).toBe('models[3] (cascade).min_vram_gb');
  });

  const cases: [string, (d: Doc) => void, string][] = [
    ['version', (d) => (d.version = 2), 'version must be 1, got 2'],
    ['reserve_gb', (d) => (d.reserve_gb = -1), 'reserve_gb must be a number ≥ 0, got -1'],
    ['class_tolerance', (d) => (d.class_tolerance = 0.7), 'class_tolerance must be a number in [0, 0.5), got 0.7'],
    ['unknown top key', (d) => (d.clases_gb = [1]), 'clases_gb is not a known key'],
    ['classes_gb item', (d) => (d.classes_gb = [6, 0, 8]), 'classes_gb[1] must be a number > 0, got 0'],
    [
      'classes_gb order',
      (d) => (d.classes_gb = [8, 6]),
      'classes_gb must be sorted ascending without duplicates, got [8, 6]',
    ],
    ['classes_gb duplicates', (d) => (d.classes_gb = [6, 6]), 'classes_gb must be sorted ascending'],
    [
      'models missing',
      (d) => delete (d as Record<string, unknown>).models,
      'models must be a non-empty list, got nothing',
    ],
    ['row id', (d) => (d.models[0].id = 'SD 15'), 'models[0].id must be lower-case letters'],
    ['duplicate id', (d) => (d.models[2].id = 'sdxl'), 'models[2] (sdxl).id duplicates models[1]'],
    ['unknown row key', (d) => (d.models[1].min_vram = 8), 'models[1] (sdxl).min_vram is not a known key'],
    [
      'for_models on an image row',
      (d) => (d.models[0].for_models = ['sdxl']),
      'models[0] (sd15).for_models is only allowed for kinds controlnet | vae',
    ],
    [
      'for_models naming a non-image model',
      (d) =>
        d.models.push({ id: 'cn', family: 'x', kind: 'controlnet', min_vram_gb: 0, source: 'x', for_models: ['svd'] }),
      'models[21] (cn).for_models[0] "svd" is not an image model of this table',
    ],
    ['img2img type', (d) => (d.models[0].img2img = 'no'), 'models[0] (sd15).img2img must be true or false, got "no"'],
    [
      'img2img on a video row',
      (d) => (d.models[6].img2img = false),
      'models[6] (svd-xt).img2img is only allowed for kind image, not video',
    ],
    [
      'kind',
      (d) => (d.models[0].kind = 'audio'),
      'models[0] (sd15).kind must be one of image | video | upscaler | controlnet | vae, got "audio"',
    ],
    ['family', (d) => (d.models[0].family = ''), 'models[0] (sd15).family must be a non-empty string'],
    ['source', (d) => delete d.models[0].source, 'models[0] (sd15).source must be a non-empty string, got nothing'],
    [
      'above largest',
      (d) => (d.models[0].min_vram_gb = 96),
      'models[0] (sd15).min_vram_gb 96 is above the largest class 80',
    ],
    ['native pair', (d) => delete d.models[0].native_height, 'models[0] (sd15).native_height must be given together'],
    [
      'native int',
      (d) => (d.models[0].native_width = 512.5),
      'models[0] (sd15).native_width must be an integer ≥ 1, got 512.5',
    ],
    [
      'stage id',
      (d) => ((row(d, 'sdxl').stages as object[])[1] = { id: 'base' }),
      'models[1] (sdxl).stages[1].id duplicates stage "base"',
    ],
    [
      'stage key',
      (d) => ((row(d, 'cascade').stages as object[])[0] = { id: 'c', vram: 3 }),
      'models[3] (cascade).stages[0].vram is not a known key',
    ],
    [
      'upscaler scale',
      (d) => ((row(d, 'esrgan-slim-x4').upscaler as Record<string, unknown>).scale = 2.5),
      'models[9] (esrgan-slim-x4).upscaler.scale must be an integer ≥ 1, got 2.5',
    ],
    [
      'upscaler scale 0',
      (d) => ((row(d, 'esrgan-slim-x2').upscaler as Record<string, unknown>).scale = 0),
      'models[8] (esrgan-slim-x2).upscaler.scale must be an integer ≥ 1, got 0',
    ],
    [
      'receptive field',
      (d) => ((row(d, 'esrgan-slim-x2').upscaler as Record<string, unknown>).receptive_field_px = -1),
      'models[8] (esrgan-slim-x2).upscaler.receptive_field_px must be an integer ≥ 0, got -1',
    ],
    [
      'overlap below receptive field',
      (d) => ((row(d, 'esrgan-slim-x2').upscaler as Record<string, unknown>).default_overlap_px = 8),
      'models[8] (esrgan-slim-x2).upscaler.default_overlap_px must be an integer ≥ 10, got 8',
    ],
    [
      'vram per megapixel',
      (d) => ((row(d, 'esrgan-slim-x2').upscaler as Record<string, unknown>).vram_gb_per_megapixel = 'x'),
      'models[8] (esrgan-slim-x2).upscaler.vram_gb_per_megapixel must be a number ≥ 0',
    ],
    [
      'upscaler missing',
      (d) => delete row(d, 'esrgan-slim-x2').upscaler,
      'models[8] (esrgan-slim-x2).upscaler is required for kind upscaler',
    ],
    [
      'upscaler on image',
      (d) => (row(d, 'sd15').upscaler = { scale: 2 }),
      'models[0] (sd15).upscaler is only allowed for kind upscaler, not image',
    ],
    ['video missing', (d) => delete row(d, 'svd').video, 'models[7] (svd).video is required for kind video'],
    [
      'video frames',
      (d) => ((row(d, 'svd').video as Record<string, unknown>).frames = 0),
      'models[7] (svd).video.frames must be an integer ≥ 1, got 0',
    ],
    [
      'video fps',
      (d) => ((row(d, 'svd').video as Record<string, unknown>).fps = 0),
      'models[7] (svd).video.fps must be a number > 0, got 0',
    ],
    [
      'decode chunk class',
      (d) => ((row(d, 'svd-xt').video as Record<string, unknown>).decode_chunk_by_class = { 16: 2, 20: 4 }),
      'models[6] (svd-xt).video.decode_chunk_by_class.20 is not a class in classes_gb',
    ],
    [
      'decode chunk value',
      (d) => ((row(d, 'svd-xt').video as Record<string, unknown>).decode_chunk_by_class = { 16: 2, 24: 30 }),
      'models[6] (svd-xt).video.decode_chunk_by_class.24 must be an integer in [1, 25] (frames), got 30',
    ],
    [
      'decode chunk order',
      (d) => ((row(d, 'svd-xt').video as Record<string, unknown>).decode_chunk_by_class = { 16: 8, 24: 2 }),
      'models[6] (svd-xt).video.decode_chunk_by_class.24 must not be smaller',
    ],
    [
      'decode chunk coverage',
      (d) => ((row(d, 'svd-xt').video as Record<string, unknown>).decode_chunk_by_class = { 24: 8 }),
      'models[6] (svd-xt).video.decode_chunk_by_class has no entry for class 16',
    ],
  ];
  for (const [name, edit, message] of cases) {
    it(`rejects ${name}`, () => {
      const e = errorOf(edited(edit));
      expect(e.message.startsWith(`hardware table ./x.yaml: ${message}`), e.message).toBe(true);
    });
  }

  it('rejects invalid YAML, duplicate keys and non-mapping documents', () => {
    expect(errorOf('models: [').message).toMatch(/^hardware table \.\/x\.yaml: is not valid YAML/);
    expect(errorOf('version: 1\nversion: 1\n').message).toMatch(/is not valid YAML/);
    expect(errorOf('- 1\n').message).toMatch(/must be a mapping/);
    expect(errorOf('').message).toMatch(/must be a mapping/);
  });
});
