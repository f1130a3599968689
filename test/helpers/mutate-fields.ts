/**
 * Field-level damage of decoded messages (hostile numbers, strings, byte payloads, unset and empty
 * sub-messages), re-encoded with the generated code.
 */
import type { Mutant, Rng } from './fuzz-rng.js';
import { mutateBytes } from './mutate-bytes.js';
import { mutateWire } from './mutate-wire.js';

/** What a generated message type offers: ts-proto's `encode(obj).finish()`. */
export interface Encoder<T> {
  encode(message: T): { finish(): Uint8Array };
}

/** Values for field-level mutation; `images` are alternative byte payloads (other formats, corrupt, huge headers). */
export interface FieldPools {
  images: readonly Uint8Array[];
  /** Largest string or byte value to generate. */
  maxValueBytes: number;
}

const HOSTILE_NUMBERS = [
  0,
  1,
  -1,
  2 ** 31 - 1,
  -(2 ** 31),
  2 ** 32 - 1,
  2 ** 53 - 1,
  2 ** 53,
  1e308,
  -1e308,
  NaN,
  Infinity,
  -Infinity,
  0.5,
  -0.000001,
  5e-324,
];

function hostileStrings(rng: Rng, max: number): string {
  return rng.pick([
    '',
    ' ',
    '\u0000',
    '\n\r\t',
    '../../../../etc/passwd',
    '*',
    '>',
    'a.b.c',
    'j0.1',
    '${jndi:x}',
    '%s%n%x',
    '\u202e\u0627\u0644',
    '\ud800',
    '💥'.repeat(rng.int(1, 2000)),
    'x'.repeat(rng.pick([199, 200, 201, 4000, 4001, Math.min(max, 100_000), Math.min(max, 1_000_000)])),
    String.fromCharCode(...Array.from({ length: rng.int(1, 64) }, () => rng.int(0, 0xffff))),
  ]);
}

type Path = (string | number)[];

/** Every mutable location of a decoded object (fields, array elements, oneof values). */
function paths(v: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  if (v === null || typeof v !== 'object' || v instanceof Uint8Array) return out;
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      out.push([...prefix, i]);
      paths(x, [...prefix, i], out);
    });
    return out;
  }
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    out.push([...prefix, k]);
    paths(x, [...prefix, k], out);
  }
  return out;
}

function deepClone<T>(v: T): T {
  // Buffer#slice is a view, so copy explicitly: a mutation must never touch the corpus.
  if (v instanceof Uint8Array) return (Buffer.isBuffer(v) ? Buffer.from(v) : new Uint8Array(v)) as T;
  if (Array.isArray(v)) return v.map(deepClone) as T;
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, deepClone(x)])) as T;
  return v;
}

function hostileValue(rng: Rng, cur: unknown, pools: FieldPools): { v: unknown; what: string } {
  if (typeof cur === 'number') {
    const v = rng.chance(0.85) ? rng.pick(HOSTILE_NUMBERS) : rng.int(-(2 ** 31), 2 ** 32 - 1);
    return { v, what: String(v) };
  }
  if (typeof cur === 'string') {
    const v = hostileStrings(rng, pools.maxValueBytes);
    return { v, what: v.length > 40 ? `${v.length}-char string` : JSON.stringify(v) };
  }
  if (typeof cur === 'boolean') return { v: !cur, what: String(!cur) };
  if (cur instanceof Uint8Array) {
    switch (rng.below(6)) {
      case 0:
        return { v: new Uint8Array(0), what: 'empty bytes' };
      case 1: {
        const n = rng.length(64 * 1024);
        return { v: rng.bytes(n), what: `${n} random bytes` };
      }
      case 2:
        return { v: cur.subarray(0, rng.below(cur.length + 1)), what: 'truncated bytes' };
      case 3: {
        const m = mutateBytes(rng, cur, { maxBytes: cur.length + 4096 });
        return { v: m.bytes, what: m.how };
      }
      case 4: {
        const times = rng.int(2, Math.max(2, Math.floor(pools.maxValueBytes / Math.max(1, cur.length))));
        const v = new Uint8Array(Math.min(pools.maxValueBytes, cur.length * times));
        for (let o = 0; o < v.length; o += cur.length) v.set(cur.subarray(0, v.length - o), o);
        return { v, what: `${v.length} bytes of repeated image` };
      }
      default:
        return { v: rng.pick(pools.images), what: 'another image payload' };
    }
  }
  if (Array.isArray(cur)) {
    switch (rng.below(3)) {
      case 0:
        return { v: [], what: 'empty list' };
      case 1: {
        if (cur.length === 0) return { v: [0], what: 'one odd element' };
        const times = rng.pick([2, 50, 999, 1000, 1001, 2001, 10_000, 100_000]);
        const size = cur[0] instanceof Uint8Array ? cur[0].length : 8;
        const n = Math.max(1, Math.min(times, Math.floor(pools.maxValueBytes / Math.max(1, size))));
        return { v: Array.from({ length: n }, (_, i) => cur[i % cur.length]), what: `list of ${n}` };
      }
      default:
        return { v: cur.slice(0, -1), what: 'list minus its last element' };
    }
  }
  if (cur && typeof cur === 'object') {
    // A message (or a oneof member) unset, or present with every field at its default.
    return rng.chance(0.5) ? { v: undefined, what: 'unset' } : { v: {}, what: 'empty message' };
  }
  return { v: cur, what: 'unchanged' };
}

/**
 * 1–3 field-level mutations of a decoded message, re-encoded with the generated code. Values the
 * encoder refuses (NaN for an integer, −1 for an unsigned field) are re-drawn; when none encodes,
 * the case becomes a wire-level mutation of the original encoding. Wrong-type oneofs are made at the
 * wire level (`Seed.oneofNumbers`), where one member's bytes can really sit under another's number.
 */
export function mutateFields<T>(
  rng: Rng,
  msg: T,
  codec: Encoder<T>,
  pools: FieldPools,
  opts: { maxBytes: number },
): Mutant {
  for (let tries = 0; tries < 8; tries++) {
    const obj = deepClone(msg);
    const hows: string[] = [];
    for (let n = rng.int(1, 3); n > 0; n--) {
      const all = paths(obj);
      if (!all.length) break;
      const p = rng.pick(all);
      let parent: Record<string | number, unknown> = obj as Record<string | number, unknown>;
      for (const k of p.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
      const key = p[p.length - 1];
      const cur = parent[key];
      const { v, what } = hostileValue(rng, cur, pools);
      parent[key] = v;
      hows.push(`${p.join('.')} = ${what}`);
    }
    let bytes: Uint8Array;
    try {
      bytes = codec.encode(obj).finish();
    } catch {
      continue;
    }
    if (bytes.length > opts.maxBytes) continue;
    return { bytes, how: `fields: ${hows.join(', ')}` };
  }
  return mutateWire(rng, codec.encode(msg).finish(), { maxBytes: opts.maxBytes });
}
