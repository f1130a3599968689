/** Parsing and validation of the hardware table (YAML text → {@link HardwareTable}). Pure. */
import { parse as parseYaml } from 'yaml';
import { HardwareTableError } from './errors.js';
import { Fields, isMapping, join, show } from './fields.js';
import type { DecodeChunk, HardwareTable, ModelKind, ModelRow, StageSpec, UpscalerSpec, VideoSpec } from './types.js';

const TOP_KEYS = ['version', 'reserve_gb', 'class_tolerance', 'classes_gb', 'speed_by_class', 'models'] as const;
const ROW_KEYS = [
  'id',
  'family',
  'kind',
  'min_vram_gb',
  'native_width',
  'native_height',
  'source',
  'notes',
  'pipeline',
  'stages',
  'video',
  'upscaler',
  'img2img',
  'for_models',
  'seconds_per_unit',
] as const;
const STAGE_KEYS = ['id', 'min_vram_gb', 'notes'] as const;
const VIDEO_KEYS = [
  'frames',
  'steps',
  'fps',
  'motion_bucket_id',
  'noise_aug_strength',
  'decode_chunk_by_class',
] as const;
const UPSCALER_KEYS = ['scale', 'receptive_field_px', 'default_overlap_px', 'vram_gb_per_megapixel'] as const;
const KINDS: readonly ModelKind[] = ['image', 'video', 'upscaler', 'controlnet', 'vae'];
/** Kinds that attach to image models and must say which (`for_models`). */
const ATTACHED: readonly ModelKind[] = ['controlnet', 'vae'];
const ID = /^[a-z0-9][a-z0-9._-]*$/;
const ID_TEXT = 'lower-case letters, digits, ".", "_" or "-"';

interface Context {
  file: string;
  classesGb: number[];
}

/**
 * Parses and validates a hardware table. `sourceName` (a file name) appears in every error. Throws
 * {@link HardwareTableError} naming the key path and the problem for anything invalid: unknown keys,
 * wrong types, non-positive thresholds, unsorted classes, duplicate ids, bad upscaler/video blocks, …
 */
export function parseHardwareTable(text: string, sourceName: string): HardwareTable {
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: true, prettyErrors: true });
  } catch (e) {
    throw new HardwareTableError(sourceName, '', `is not valid YAML: ${(e as Error).message}`, { cause: e });
  }
  if (!isMapping(doc)) {
    throw new HardwareTableError(
      sourceName,
      '',
      `must be a mapping with version, classes_gb and models, got ${show(doc)}`,
    );
  }
  const top = new Fields(sourceName, '', doc, TOP_KEYS);
  if (top.obj.version !== 1) top.fail('version', `must be 1, got ${show(top.obj.version)}`);
  const reserveGb = top.has('reserve_gb') ? top.number('reserve_gb', { min: 0 }) : 0;
  const classTolerance = top.has('class_tolerance') ? top.number('class_tolerance', { min: 0, below: 0.5 }) : 0;
  const classesGb = parseClasses(top);
  const ctx: Context = { file: sourceName, classesGb };
  const speedByClass = top.has('speed_by_class') ? parseSpeeds(ctx, top) : new Map<number, number>();
  const models = new Map<string, ModelRow>();
  const firstIndex = new Map<string, number>();
  top.list('models').forEach((raw, i) => {
    const row = parseRow(ctx, raw, i);
    const seen = firstIndex.get(row.id);
    if (seen !== undefined) {
      throw new HardwareTableError(sourceName, `models[${i}] (${row.id}).id`, `duplicates models[${seen}]`);
    }
    firstIndex.set(row.id, i);
    models.set(row.id, row);
  });
  for (const row of models.values()) {
    row.forModels?.forEach((id, j) => {
      if (models.get(id)?.kind !== 'image') {
        throw new HardwareTableError(
          sourceName,
          `models[${firstIndex.get(row.id)}] (${row.id}).for_models[${j}]`,
          `${show(id)} is not an image model of this table`,
        );
      }
    });
  }
  return { version: 1, sourceName, reserveGb, classTolerance, classesGb, models, speedByClass };
}

function parseClasses(top: Fields): number[] {
  const list = top.list('classes_gb');
  list.forEach((v, i) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      top.fail(`classes_gb[${i}]`, `must be a number > 0, got ${show(v)}`);
    }
  });
  const classes = list as number[];
  for (let i = 1; i < classes.length; i++) {
    if (classes[i] <= classes[i - 1]) {
      top.fail('classes_gb', `must be sorted ascending without duplicates, got [${classes.join(', ')}]`);
    }
  }
  return classes;
}

/** `speed_by_class`: class label (`cpu` or a class of classes_gb) → speed > 0. */
function parseSpeeds(ctx: Context, top: Fields): Map<number, number> {
  const m = top.mapping('speed_by_class');
  const out = new Map<number, number>();
  for (const [key, speed] of Object.entries(m)) {
    const classGb = key === 'cpu' ? 0 : Number(key);
    if (classGb !== 0 && !ctx.classesGb.includes(classGb)) {
      top.fail(`speed_by_class.${key}`, `is not cpu or a class in classes_gb [${ctx.classesGb.join(', ')}]`);
    }
    if (typeof speed !== 'number' || !Number.isFinite(speed) || speed <= 0) {
      top.fail(`speed_by_class.${key}`, `must be a number > 0, got ${show(speed)}`);
    }
    out.set(classGb, speed);
  }
  return new Map([...out].sort((a, b) => a[0] - b[0]));
}

function parseRow(ctx: Context, raw: unknown, i: number): ModelRow {
  const at = `models[${i}]`;
  if (!isMapping(raw)) throw new HardwareTableError(ctx.file, at, `must be a mapping, got ${show(raw)}`);
  // Read the id first so every later message can say which model it is about.
  const id = new Fields(ctx.file, at, { id: raw.id }, ['id']).string('id', ID, ID_TEXT);
  const f = new Fields(ctx.file, `${at} (${id})`, raw, ROW_KEYS);
  const largest = ctx.classesGb[ctx.classesGb.length - 1];
  const kind = f.oneOf('kind', KINDS);
  const row: ModelRow = {
    id,
    family: f.string('family'),
    kind,
    minVramGb: f.number('min_vram_gb', { min: 0 }),
    source: f.string('source'),
  };
  if (row.minVramGb > largest) f.fail('min_vram_gb', `${row.minVramGb} is above the largest class ${largest}`);
  if (f.has('native_width') !== f.has('native_height')) {
    f.fail(f.has('native_width') ? 'native_height' : 'native_width', 'must be given together with its pair');
  }
  if (f.has('native_width')) {
    row.nativeWidth = f.number('native_width', { int: true, min: 1 });
    row.nativeHeight = f.number('native_height', { int: true, min: 1 });
  }
  const notes = f.optionalString('notes');
  if (notes !== undefined) row.notes = notes;
  if (f.has('pipeline')) row.pipeline = f.string('pipeline', ID, ID_TEXT);
  const spu = f.optionalNumber('seconds_per_unit', { min: 0, exclusiveMin: true });
  if (spu !== undefined) row.secondsPerUnit = spu;
  if (f.has('stages')) row.stages = parseStages(f, largest);
  if (ATTACHED.includes(kind) !== f.has('for_models')) {
    f.fail(
      'for_models',
      ATTACHED.includes(kind) ? `is required for kind ${kind}` : `is only allowed for kinds ${ATTACHED.join(' | ')}`,
    );
  }
  if (f.has('for_models')) {
    row.forModels = f.list('for_models').map((v, j) => {
      if (typeof v !== 'string') f.fail(`for_models[${j}]`, `must be a model id, got ${show(v)}`);
      return v as string;
    });
  }
  if (f.has('img2img')) {
    if (kind !== 'image') f.fail('img2img', `is only allowed for kind image, not ${kind}`);
    if (typeof raw.img2img !== 'boolean') f.fail('img2img', `must be true or false, got ${show(raw.img2img)}`);
    row.img2img = raw.img2img as boolean;
  }
  for (const [block, owner] of [
    ['video', 'video'],
    ['upscaler', 'upscaler'],
  ] as const) {
    if (kind === owner && !f.has(block)) f.fail(block, `is required for kind ${kind}`);
    if (kind !== owner && f.has(block)) f.fail(block, `is only allowed for kind ${owner}, not ${kind}`);
  }
  if (kind === 'upscaler')
    row.upscaler = parseUpscaler(
      new Fields(ctx.file, join(f.prefix, 'upscaler'), f.mapping('upscaler'), UPSCALER_KEYS),
    );
  if (kind === 'video')
    row.video = parseVideo(ctx, row, new Fields(ctx.file, join(f.prefix, 'video'), f.mapping('video'), VIDEO_KEYS));
  return row;
}

function parseStages(f: Fields, largest: number): StageSpec[] {
  const ids = new Set<string>();
  return f.list('stages').map((raw, j) => {
    const at = join(f.prefix, `stages[${j}]`);
    if (!isMapping(raw)) throw new HardwareTableError(f.file, at, `must be a mapping, got ${show(raw)}`);
    const s = new Fields(f.file, at, raw, STAGE_KEYS);
    const stage: StageSpec = { id: s.string('id', ID, ID_TEXT) };
    if (ids.has(stage.id)) s.fail('id', `duplicates stage ${JSON.stringify(stage.id)}`);
    ids.add(stage.id);
    const min = s.optionalNumber('min_vram_gb', { min: 0 });
    if (min !== undefined) {
      if (min > largest) s.fail('min_vram_gb', `${min} is above the largest class ${largest}`);
      stage.minVramGb = min;
    }
    const notes = s.optionalString('notes');
    if (notes !== undefined) stage.notes = notes;
    return stage;
  });
}

function parseUpscaler(u: Fields): UpscalerSpec {
  const receptiveFieldPx = u.number('receptive_field_px', { int: true, min: 0 });
  return {
    scale: u.number('scale', { int: true, min: 1 }),
    receptiveFieldPx,
    defaultOverlapPx: u.number('default_overlap_px', { int: true, min: receptiveFieldPx }),
    vramGbPerMegapixel: u.number('vram_gb_per_megapixel', { min: 0 }),
  };
}

function parseVideo(ctx: Context, row: ModelRow, v: Fields): VideoSpec {
  const frames = v.number('frames', { int: true, min: 1 });
  const video: VideoSpec = {
    frames,
    steps: v.number('steps', { int: true, min: 1 }),
    fps: v.number('fps', { min: 0, exclusiveMin: true }),
    motionBucketId: v.number('motion_bucket_id', { int: true, min: 0 }),
    noiseAugStrength: v.number('noise_aug_strength', { min: 0 }),
    decodeChunkByClass: [],
  };
  if (!v.has('decode_chunk_by_class')) return video;
  const m = v.mapping('decode_chunk_by_class');
  const at = join(v.prefix, 'decode_chunk_by_class');
  const chunks: DecodeChunk[] = Object.entries(m).map(([key, chunk]) => {
    const classGb = Number(key);
    if (!ctx.classesGb.includes(classGb)) {
      throw new HardwareTableError(
        ctx.file,
        `${at}.${key}`,
        `is not a class in classes_gb [${ctx.classesGb.join(', ')}]`,
      );
    }
    if (typeof chunk !== 'number' || !Number.isInteger(chunk) || chunk < 1 || chunk > frames) {
      throw new HardwareTableError(
        ctx.file,
        `${at}.${key}`,
        `must be an integer in [1, ${frames}] (frames), got ${show(chunk)}`,
      );
    }
    return { classGb, chunk };
  });
  if (chunks.length === 0) throw new HardwareTableError(ctx.file, at, 'must not be empty (omit it instead)');
  chunks.sort((a, b) => a.classGb - b.classGb);
  for (let k = 1; k < chunks.length; k++) {
    if (chunks[k].chunk < chunks[k - 1].chunk) {
      throw new HardwareTableError(
        ctx.file,
        `${at}.${chunks[k].classGb}`,
        `must not be smaller than the chunk of a smaller class (${chunks[k - 1].chunk})`,
      );
    }
  }
  // The class the model needs must have a chunk, or its smallest agents could not decode.
  const needed = ctx.classesGb.find((c) => c >= row.minVramGb) ?? 0;
  if (chunks[0].classGb > needed) {
    throw new HardwareTableError(
      ctx.file,
      at,
      `has no entry for class ${needed}, the class min_vram_gb ${row.minVramGb} requires`,
    );
  }
  video.decodeChunkByClass = chunks;
  return video;
}
