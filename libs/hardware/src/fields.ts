/** Checked reads of one YAML mapping, with errors that name the file and the key path. */
import { HardwareTableError } from './errors.js';

/** Constraints of a numeric field; the description in errors is derived from them. */
export interface NumberRule {
  int?: boolean;
  min?: number;
  /** When true, the value must be > min rather than ≥ min. */
  exclusiveMin?: boolean;
  /** Exclusive upper bound. */
  below?: number;
}

function describe(rule: NumberRule): string {
  let s = rule.int ? 'an integer' : 'a number';
  if (rule.min !== undefined && rule.below !== undefined) s += ` in [${rule.min}, ${rule.below})`;
  else if (rule.min !== undefined) s += rule.exclusiveMin ? ` > ${rule.min}` : ` ≥ ${rule.min}`;
  return s;
}

/** Renders a YAML value for a message: strings quoted, structures as JSON. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'number') return String(value);
  return JSON.stringify(value) ?? String(value);
}

export function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Joins a key path: '' + 'a' → 'a'; 'models[1] (x)' + 'b' → 'models[1] (x).b'. */
export function join(prefix: string, key: string): string {
  return prefix ? `${prefix}.${key}` : key;
}

/** Reads typed fields out of one mapping; every failure throws {@link HardwareTableError}. */
export class Fields {
  constructor(
    readonly file: string,
    readonly prefix: string,
    readonly obj: Record<string, unknown>,
    known: readonly string[],
  ) {
    for (const key of Object.keys(obj)) {
      if (!known.includes(key)) this.fail(key, `is not a known key (known: ${known.join(', ')})`);
    }
  }

  fail(key: string, problem: string): never {
    throw new HardwareTableError(this.file, join(this.prefix, key), problem);
  }

  has(key: string): boolean {
    return this.obj[key] !== undefined && this.obj[key] !== null;
  }

  number(key: string, rule: NumberRule): number {
    const v = this.obj[key];
    const ok =
      typeof v === 'number' &&
      Number.isFinite(v) &&
      (!rule.int || Number.isInteger(v)) &&
      (rule.min === undefined || (rule.exclusiveMin ? v > rule.min : v >= rule.min)) &&
      (rule.below === undefined || v < rule.below);
    if (!ok) this.fail(key, `must be ${describe(rule)}, got ${show(v)}`);
    return v as number;
  }

  optionalNumber(key: string, rule: NumberRule): number | undefined {
    return this.has(key) ? this.number(key, rule) : undefined;
  }

  string(key: string, pattern?: RegExp, patternText?: string): string {
    const v = this.obj[key];
    if (typeof v !== 'string' || v.trim() === '') this.fail(key, `must be a non-empty string, got ${show(v)}`);
    if (pattern && !pattern.test(v))
      this.fail(key, `must be ${patternText ?? `a string matching ${pattern}`}, got ${show(v)}`);
    return v;
  }

  optionalString(key: string): string | undefined {
    return this.has(key) ? this.string(key) : undefined;
  }

  oneOf<T extends string>(key: string, values: readonly T[]): T {
    const v = this.obj[key];
    if (typeof v !== 'string' || !values.includes(v as T)) {
      this.fail(key, `must be one of ${values.join(' | ')}, got ${show(v)}`);
    }
    return v as T;
  }

  mapping(key: string): Record<string, unknown> {
    const v = this.obj[key];
    if (!isMapping(v)) this.fail(key, `must be a mapping, got ${show(v)}`);
    return v;
  }

  list(key: string): unknown[] {
    const v = this.obj[key];
    if (!Array.isArray(v) || v.length === 0) this.fail(key, `must be a non-empty list, got ${show(v)}`);
    return v;
  }
}
