/**
 * `tessera plan` inputs: the fleet file and the workload file (YAML), validated against the hardware
 * table. Unknown keys and unknown models are errors naming them. Pure (text in, data out).
 */
import { parse as parseYaml } from 'yaml';
import type { HardwareTable } from '@tessera/hardware';

/** A fleet or workload file that is not valid: `path` names the key, the message says what is wrong. */
export class PlanInputError extends Error {
  override readonly name = 'PlanInputError';
  constructor(
    readonly file: string,
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${file}: ${path ? `${path} ` : ''}${problem}`);
  }
}

/** One line of the fleet file: `count` agents `name-0 … name-(count−1)`. */
export interface FleetEntry {
  name: string;
  vramGb: number;
  count: number;
  /** Work per second relative to the cost table: one number, or model id → speed (others 1.0). */
  speed: number | Readonly<Record<string, number>>;
}

export type WorkloadKind = 'upscale' | 'image' | 'video';

/** One line of the workload file: `count` identical jobs submitted at `submitAtS`. */
export interface WorkloadEntry {
  kind: WorkloadKind;
  model: string;
  count: number;
  submitAtS: number;
  /** Job names are `<name>-<n>`; default `<kind><line>`. */
  name: string;
  /** Who submits them (fair share between owners, weight 1 each; default '', the anonymous owner). */
  owner: string;
  /** Job priority, -1000..1000 (high first; default 0), as `tessera submit --priority`. */
  priority: number;
  /** upscale: input size; image: output size (default the model's native size). */
  width?: number;
  height?: number;
  /** upscale: tile side (default chosen from the fleet) and overlap (default the model's). */
  tile?: number;
  overlap?: number;
  /** image and video: denoising steps (default 30 for images, the model's for video). */
  steps?: number;
  /** image: run the refiner stage after the base (SDXL); multi-stage models always run every stage. */
  refine?: boolean;
  /** video: frames in the clip and how batches relate. */
  frames?: number;
  mode?: 'chained' | 'keyframed';
}

const FLEET_KEYS = ['name', 'vram_gb', 'count', 'speed'];
const COMMON_KEYS = ['kind', 'model', 'count', 'submit_at_s', 'name', 'owner', 'priority'];
const KIND_KEYS: Record<WorkloadKind, string[]> = {
  upscale: ['width', 'height', 'tile', 'overlap'],
  image: ['width', 'height', 'steps', 'refine'],
  video: ['frames', 'mode', 'steps'],
};
const MODEL_KIND: Record<WorkloadKind, string> = { upscale: 'upscaler', image: 'image', video: 'video' };

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function load(file: string, text: string, top: string): unknown[] {
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: true });
  } catch (e) {
    throw new PlanInputError(file, '', `is not valid YAML: ${(e as Error).message}`);
  }
  if (!isObj(doc)) throw new PlanInputError(file, '', `must be a mapping with the key ${top}`);
  for (const k of Object.keys(doc))
    if (k !== top) throw new PlanInputError(file, k, `is not a known key (known: ${top})`);
  const list = doc[top];
  if (!Array.isArray(list) || list.length === 0) throw new PlanInputError(file, top, 'must be a non-empty list');
  return list;
}

function checkKeys(file: string, at: string, o: Obj, known: readonly string[]): void {
  for (const k of Object.keys(o))
    if (!known.includes(k))
      throw new PlanInputError(file, `${at}.${k}`, `is not a known key (known: ${known.join(', ')})`);
}

function num(file: string, at: string, v: unknown, o: { int?: boolean; min: number; above?: boolean }): number {
  const ok =
    typeof v === 'number' &&
    Number.isFinite(v) &&
    (!o.int || Number.isInteger(v)) &&
    (o.above ? v > o.min : v >= o.min);
  if (!ok)
    throw new PlanInputError(
      file,
      at,
      `must be ${o.int ? 'an integer' : 'a number'} ${o.above ? '>' : '≥'} ${o.min}, got ${JSON.stringify(v)}`,
    );
  return v as number;
}

function str(file: string, at: string, v: unknown): string {
  if (typeof v !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(v))
    throw new PlanInputError(file, at, `must be a name of 1-64 [A-Za-z0-9_.-], got ${JSON.stringify(v)}`);
  return v;
}

/** Parses a fleet file. Speed maps may name only models of the table. */
export function parseFleet(text: string, file: string, table: HardwareTable): FleetEntry[] {
  const names = new Set<string>();
  return load(file, text, 'agents').map((raw, i) => {
    const at = `agents[${i}]`;
    if (!isObj(raw)) throw new PlanInputError(file, at, 'must be a mapping');
    checkKeys(file, at, raw, FLEET_KEYS);
    const name = str(file, `${at}.name`, raw.name);
    if (names.has(name)) throw new PlanInputError(file, `${at}.name`, `duplicates ${JSON.stringify(name)}`);
    names.add(name);
    let speed: FleetEntry['speed'] = 1;
    if (isObj(raw.speed)) {
      const m: Record<string, number> = {};
      for (const [model, s] of Object.entries(raw.speed)) {
        if (!table.models.has(model))
          throw new PlanInputError(
            file,
            `${at}.speed.${model}`,
            `is not a model of the hardware table (${table.sourceName})`,
          );
        m[model] = num(file, `${at}.speed.${model}`, s, { min: 0, above: true });
      }
      speed = m;
    } else if (raw.speed !== undefined) speed = num(file, `${at}.speed`, raw.speed, { min: 0, above: true });
    return {
      name,
      vramGb: num(file, `${at}.vram_gb`, raw.vram_gb, { min: 0 }),
      count: raw.count === undefined ? 1 : num(file, `${at}.count`, raw.count, { int: true, min: 1 }),
      speed,
    };
  });
}

/** Parses a workload file; each model must be in the table and of the kind's family. */
export function parseWorkload(text: string, file: string, table: HardwareTable): WorkloadEntry[] {
  return load(file, text, 'jobs').map((raw, i) => {
    const at = `jobs[${i}]`;
    if (!isObj(raw)) throw new PlanInputError(file, at, 'must be a mapping');
    const kind = raw.kind;
    if (kind !== 'upscale' && kind !== 'image' && kind !== 'video')
      throw new PlanInputError(file, `${at}.kind`, `must be upscale | image | video, got ${JSON.stringify(kind)}`);
    checkKeys(file, at, raw, [...COMMON_KEYS, ...KIND_KEYS[kind]]);
    if (typeof raw.model !== 'string') throw new PlanInputError(file, `${at}.model`, 'must be a model id');
    const row = table.models.get(raw.model);
    if (!row)
      throw new PlanInputError(
        file,
        `${at}.model`,
        `${JSON.stringify(raw.model)} is not a model of the hardware table (${table.sourceName})`,
      );
    if (row.kind !== MODEL_KIND[kind])
      throw new PlanInputError(file, `${at}.model`, `${raw.model} is a ${row.kind} model, not usable for kind ${kind}`);
    const e: WorkloadEntry = {
      kind,
      model: raw.model,
      count: raw.count === undefined ? 1 : num(file, `${at}.count`, raw.count, { int: true, min: 1 }),
      submitAtS: raw.submit_at_s === undefined ? 0 : num(file, `${at}.submit_at_s`, raw.submit_at_s, { min: 0 }),
      name: raw.name === undefined ? `${kind}${i}` : str(file, `${at}.name`, raw.name),
      owner: raw.owner === undefined ? '' : str(file, `${at}.owner`, raw.owner),
      priority: raw.priority === undefined ? 0 : num(file, `${at}.priority`, raw.priority, { int: true, min: -1000 }),
    };
    if (e.priority > 1000)
      throw new PlanInputError(file, `${at}.priority`, `must be an integer in -1000..1000, got ${e.priority}`);
    const opt = (key: string, o: { int?: boolean; min: number; above?: boolean }) =>
      raw[key] === undefined ? undefined : num(file, `${at}.${key}`, raw[key], o);
    e.width = opt('width', { int: true, min: 1 });
    e.height = opt('height', { int: true, min: 1 });
    e.tile = opt('tile', { int: true, min: 1 });
    e.overlap = opt('overlap', { int: true, min: 0 });
    e.steps = opt('steps', { int: true, min: 1 });
    e.frames = opt('frames', { int: true, min: 1 });
    if (raw.refine !== undefined) {
      if (typeof raw.refine !== 'boolean') throw new PlanInputError(file, `${at}.refine`, 'must be true or false');
      e.refine = raw.refine;
    }
    if (raw.mode !== undefined) {
      if (raw.mode !== 'chained' && raw.mode !== 'keyframed')
        throw new PlanInputError(file, `${at}.mode`, `must be chained | keyframed, got ${JSON.stringify(raw.mode)}`);
      e.mode = raw.mode;
    }
    if (kind === 'upscale' && (e.width === undefined || e.height === undefined))
      throw new PlanInputError(file, at, 'an upscale needs width and height (input px)');
    if (kind === 'video' && e.frames === undefined)
      throw new PlanInputError(file, `${at}.frames`, 'is required for video');
    return e;
  });
}
