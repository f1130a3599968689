/**
 * Seeded mutation of protobuf messages for the hostile-input tests (issue 6): byte-level damage of
 * encoded messages, field-level damage of decoded objects re-encoded with the generated code,
 * wire-level damage the generated encoders refuse to write (out-of-range varints, wrong wire types,
 * one oneof member's bytes under another member's number), and raw garbage.
 *
 * Reproducible: one seed gives one sequence of cases. Tests print the seed; `TESSERA_FUZZ_SEED`
 * replays a run (or explores: `random`).
 */

/** A seeded PRNG (mulberry32): tests never call Math.random(), so a failing run can be replayed. */
export class Rng {
  private s: number;

  constructor(readonly seed: number) {
    this.s = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  u32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.u32() / 2 ** 32;
  }

  /** Uniform integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + this.below(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('pick from an empty list');
    return xs[this.below(xs.length)];
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const v = this.u32();
      for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (v >>> (8 * j)) & 0xff;
    }
    return out;
  }

  /** A small length most of the time, occasionally a large one (up to `max`). */
  length(max: number): number {
    const r = this.float();
    if (r < 0.6) return this.int(0, Math.min(max, 16));
    if (r < 0.9) return this.int(0, Math.min(max, 1024));
    return this.int(0, max);
  }
}

/**
 * The seed of a run: `TESSERA_FUZZ_SEED` when set — a number replays that run, `random` draws a fresh
 * seed — else `fallback`, so that CI runs the same cases every time and a failure there is never luck.
 */
export function fuzzSeed(fallback: number, env: string | undefined = process.env.TESSERA_FUZZ_SEED): number {
  if (env === 'random') return (Date.now() ^ (process.pid << 16)) >>> 0;
  if (env === undefined || env === '') return fallback >>> 0;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff)
    throw new Error(`TESSERA_FUZZ_SEED must be an integer in 0..4294967295 or "random", got ${JSON.stringify(env)}`);
  return n;
}

/** One generated case: the bytes to send and how they were made (for failure messages). */
export interface Mutant {
  bytes: Uint8Array;
  how: string;
}

// ───────────────────────────── byte level ─────────────────────────────

const BOUNDARY_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x08, 0x0a, 0x12];

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** One byte-level mutation of `b`, never longer than `maxBytes`. */
function mutateBytesOnce(rng: Rng, b: Uint8Array, maxBytes: number, donors: readonly Uint8Array[]): Mutant {
  const at = () => rng.below(b.length + 1);
  switch (rng.below(9)) {
    case 0: {
      const out = new Uint8Array(b);
      const flips = rng.int(1, 8);
      for (let i = 0; i < flips && out.length; i++) out[rng.below(out.length)] ^= 1 << rng.below(8);
      return { bytes: out, how: `flip ${flips} bits` };
    }
    case 1: {
      const n = at();
      return { bytes: b.subarray(0, n), how: `truncate to ${n}` };
    }
    case 2: {
      const n = Math.min(rng.length(64 * 1024), Math.max(0, maxBytes - b.length));
      return { bytes: concat([b, rng.bytes(n)]), how: `extend by ${n} random bytes` };
    }
    case 3: {
      const from = at();
      const to = Math.min(b.length, from + rng.length(256));
      const n = Math.min(rng.length(4096), Math.max(0, maxBytes - b.length));
      return {
        bytes: concat([b.subarray(0, from), rng.bytes(n), b.subarray(to)]),
        how: `splice ${n} random bytes over [${from}, ${to})`,
      };
    }
    case 4: {
      const from = at();
      const to = Math.min(b.length, from + rng.int(1, 64));
      const slice = b.subarray(from, to);
      const times = slice.length ? Math.min(rng.int(2, 2000), Math.floor((maxBytes - b.length) / slice.length)) : 0;
      const reps = Array.from({ length: Math.max(0, times) }, () => slice);
      return {
        bytes: concat([b.subarray(0, to), ...reps, b.subarray(to)]),
        how: `repeat [${from}, ${to}) ${times} times`,
      };
    }
    case 5: {
      const out = new Uint8Array(b);
      const n = rng.int(1, 4);
      for (let i = 0; i < n && out.length; i++) out[rng.below(out.length)] = rng.pick(BOUNDARY_BYTES);
      return { bytes: out, how: `overwrite ${n} bytes with boundary values` };
    }
    case 6: {
      const from = at();
      const to = Math.min(b.length, from + rng.length(512));
      return { bytes: concat([b.subarray(0, from), b.subarray(to)]), how: `delete [${from}, ${to})` };
    }
    case 7: {
      // Crossover: a piece of another valid message in the middle of this one.
      const d = donors.length ? rng.pick(donors) : b;
      const df = rng.below(d.length + 1);
      const dt = Math.min(d.length, df + rng.length(1024));
      const piece = d.subarray(df, Math.min(dt, df + Math.max(0, maxBytes - b.length)));
      const p = at();
      return {
        bytes: concat([b.subarray(0, p), piece, b.subarray(p)]),
        how: `insert ${piece.length} donor bytes at ${p}`,
      };
    }
    default: {
      // An unterminated or oversized varint where a tag or length should be.
      const p = at();
      const junk = rng.chance(0.5)
        ? new Uint8Array(rng.int(1, 12)).fill(0xff)
        : Uint8Array.of(0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f);
      return { bytes: concat([b.subarray(0, p), junk, b.subarray(p)]), how: `insert a bad varint at ${p}` };
    }
  }
}

/** 1–3 stacked byte-level mutations: flip, truncate, extend, splice, repeat, overwrite, delete, crossover. */
export function mutateBytes(
  rng: Rng,
  input: Uint8Array,
  opts: { maxBytes: number; donors?: readonly Uint8Array[] },
): Mutant {
  let cur: Mutant = { bytes: input, how: '' };
  const n = rng.int(1, 3);
  const hows: string[] = [];
  for (let i = 0; i < n; i++) {
    cur = mutateBytesOnce(rng, cur.bytes, opts.maxBytes, opts.donors ?? []);
    hows.push(cur.how);
  }
  return { bytes: cur.bytes, how: `bytes: ${hows.join(', ')}` };
}

/** Raw garbage frames: random, constant, invalid wire types, huge length prefixes, deep nesting. */
export function garbage(rng: Rng, maxBytes: number): Mutant {
  switch (rng.below(8)) {
    case 0: {
      const n = rng.length(Math.min(maxBytes, 256 * 1024));
      return { bytes: rng.bytes(n), how: `garbage: ${n} random bytes` };
    }
    case 1: {
      const n = rng.length(Math.min(maxBytes, 64 * 1024));
      const v = rng.pick([0x00, 0xff, 0x80, 0x0a]);
      return { bytes: new Uint8Array(n).fill(v), how: `garbage: ${n} × 0x${v.toString(16)}` };
    }
    case 2:
      // Field 1 length-delimited, claiming 2^31 bytes.
      return { bytes: Uint8Array.of(0x0a, 0x80, 0x80, 0x80, 0x80, 0x08, 1, 2, 3), how: 'garbage: huge length prefix' };
    case 3: {
      // Wire types 6 and 7 do not exist; 3 and 4 are deprecated groups.
      const wt = rng.pick([3, 4, 6, 7]);
      const no = rng.int(1, 20);
      return {
        bytes: concat([varint(BigInt((no << 3) | wt)), rng.bytes(rng.int(0, 16))]),
        how: `garbage: wire type ${wt}`,
      };
    }
    case 4: {
      // Deeply nested length-delimited fields: recursion limits.
      const depth = rng.int(50, 5000);
      let b: Uint8Array = new Uint8Array(0);
      for (let i = 0; i < depth; i++) b = concat([Uint8Array.of(0x52), varint(BigInt(b.length)), b]);
      return { bytes: b, how: `garbage: ${depth} nested messages` };
    }
    case 5: {
      // Start groups that never end.
      const n = rng.int(1, 10_000);
      return { bytes: new Uint8Array(n).fill(0x0b), how: `garbage: ${n} open groups` };
    }
    case 6:
      return { bytes: new Uint8Array(0), how: 'garbage: empty' };
    default: {
      const text = rng.pick([
        '{"job_id":"x"}',
        'GET / HTTP/1.1\r\n\r\n',
        '\u0000',
        'PRI * HTTP/2.0',
        'null',
        '💥'.repeat(100),
      ]);
      return { bytes: new TextEncoder().encode(text), how: `garbage: text ${JSON.stringify(text.slice(0, 20))}` };
    }
  }
}

// ───────────────────────────── wire level ─────────────────────────────

/** One field as it appears on the wire: number, wire type and the raw value bytes (without the tag). */
export interface WireField {
  no: number;
  wt: number;
  data: Uint8Array;
}

/** Encodes an unsigned 64-bit varint. */
export function varint(v: bigint): Uint8Array {
  v = BigInt.asUintN(64, v);
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return Uint8Array.from(out);
}

function readVarint(b: Uint8Array, pos: number): { v: bigint; pos: number } | undefined {
  let v = 0n;
  for (let shift = 0n; shift < 70n; shift += 7n) {
    if (pos >= b.length) return undefined;
    const x = b[pos++];
    v |= BigInt(x & 0x7f) << shift;
    if (!(x & 0x80)) return { v, pos };
  }
  return undefined;
}

/** Splits bytes into fields; undefined when they are not a well-formed field sequence. */
export function parseWire(b: Uint8Array): WireField[] | undefined {
  const out: WireField[] = [];
  let pos = 0;
  while (pos < b.length) {
    const tag = readVarint(b, pos);
    if (!tag) return undefined;
    pos = tag.pos;
    const no = Number(tag.v >> 3n);
    const wt = Number(tag.v & 7n);
    if (no === 0) return undefined;
    const start = pos;
    if (wt === 0) {
      const v = readVarint(b, pos);
      if (!v) return undefined;
      pos = v.pos;
    } else if (wt === 1) pos += 8;
    else if (wt === 5) pos += 4;
    else if (wt === 2) {
      const len = readVarint(b, pos);
      if (!len || len.v > BigInt(b.length)) return undefined;
      pos = len.pos + Number(len.v);
      if (pos > b.length) return undefined;
      out.push({ no, wt, data: b.subarray(len.pos, pos) });
      continue;
    } else return undefined;
    if (pos > b.length) return undefined;
    out.push({ no, wt, data: b.subarray(start, pos) });
  }
  return out;
}

/** Writes fields back (length-delimited values get their length prefix). */
export function encodeWire(fields: readonly WireField[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const f of fields) {
    parts.push(varint(BigInt(f.no) * 8n + BigInt(f.wt & 7)));
    if (f.wt === 2) parts.push(varint(BigInt(f.data.length)));
    parts.push(f.data);
  }
  return concat(parts);
}

function f64(x: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, x, true);
  return b;
}

const HOSTILE_VARINTS = [
  0n,
  1n,
  0x7fffffffn,
  0x80000000n,
  0xffffffffn,
  0x100000000n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 63n - 1n,
  2n ** 64n - 1n, // -1 as int64/int32: ten bytes on the wire
  BigInt.asUintN(64, -(2n ** 31n)),
  BigInt.asUintN(64, -(2n ** 63n)),
];
const HOSTILE_DOUBLES = [NaN, Infinity, -Infinity, -0, 5e-324, 1.7976931348623157e308, -1e308, 1e-300];

/**
 * One wire-level mutation. `oneofSiblings` lists field numbers of one oneof (or of fields with
 * different types) whose values can be moved onto each other: a wrong-type oneof member.
 */
function mutateWireOnce(rng: Rng, fields: WireField[], maxBytes: number, oneofSiblings: readonly number[]): string {
  if (fields.length === 0 || rng.chance(0.1)) {
    const no = rng.pick([1, 2, 3, 5, 15, 16, 99, 2047, 536870911]);
    const wt = rng.pick([0, 1, 2, 5]);
    const data =
      wt === 0
        ? varint(rng.pick(HOSTILE_VARINTS))
        : wt === 1
          ? f64(rng.pick(HOSTILE_DOUBLES))
          : wt === 5
            ? rng.bytes(4)
            : rng.bytes(rng.length(256));
    fields.splice(rng.below(fields.length + 1), 0, { no, wt, data });
    return `add field ${no} (wire type ${wt})`;
  }
  const i = rng.below(fields.length);
  const f = fields[i];
  switch (rng.below(8)) {
    case 0: {
      const v = rng.chance(0.8) ? rng.pick(HOSTILE_VARINTS) : BigInt(rng.u32()) * BigInt(rng.u32());
      fields[i] = { no: f.no, wt: 0, data: varint(v) };
      return `field ${f.no} = varint ${v}`;
    }
    case 1: {
      const x = rng.pick(HOSTILE_DOUBLES);
      fields[i] = { no: f.no, wt: 1, data: f64(x) };
      return `field ${f.no} = double ${x}`;
    }
    case 2: {
      const wt = rng.pick([0, 1, 2, 5].filter((w) => w !== f.wt));
      const data = wt === 0 ? varint(BigInt(rng.u32())) : wt === 1 ? rng.bytes(8) : wt === 5 ? rng.bytes(4) : f.data;
      fields[i] = { no: f.no, wt, data };
      return `field ${f.no} wire type ${f.wt} → ${wt}`;
    }
    case 3: {
      const others = oneofSiblings.filter((n) => n !== f.no);
      const no = others.length && rng.chance(0.7) ? rng.pick(others) : rng.int(1, 30);
      fields[i] = { ...f, no };
      return `field ${f.no} moved to number ${no}`;
    }
    case 4: {
      const times = Math.min(rng.pick([2, 10, 1000, 100_000]), Math.floor(maxBytes / Math.max(1, f.data.length + 6)));
      fields.splice(i, 0, ...Array.from({ length: times }, () => f));
      return `field ${f.no} repeated ${times} times`;
    }
    case 5:
      fields.splice(i, 1);
      return `drop field ${f.no}`;
    case 6: {
      if (f.wt === 2) {
        // Recurse into a length-delimited value as if it were a message.
        const inner = parseWire(f.data);
        if (inner) {
          const how = mutateWireOnce(rng, inner, maxBytes, []);
          fields[i] = { ...f, data: encodeWire(inner) };
          return `in field ${f.no}: ${how}`;
        }
      }
      const m = mutateBytes(rng, f.data, { maxBytes: Math.max(f.data.length, maxBytes / 4) });
      fields[i] = { ...f, data: m.bytes };
      return `field ${f.no} ${m.how}`;
    }
    default: {
      const s = rng.pick(['', '\uFFFD', '\xff\xfe', 'x'.repeat(70_000)]);
      const data = s === '\xff\xfe' ? Uint8Array.of(0xff, 0xfe, 0xc0, 0x80) : new TextEncoder().encode(s);
      fields[i] = { no: f.no, wt: 2, data };
      return `field ${f.no} = ${data.length} bytes of odd text`;
    }
  }
}

/** 1–3 wire-level mutations of an encoded message; falls back to byte-level when it does not parse. */
export function mutateWire(
  rng: Rng,
  input: Uint8Array,
  opts: { maxBytes: number; oneofSiblings?: readonly number[] },
): Mutant {
  const fields = parseWire(input);
  if (!fields) return mutateBytes(rng, input, opts);
  const hows: string[] = [];
  for (let n = rng.int(1, 3); n > 0; n--)
    hows.push(mutateWireOnce(rng, fields, opts.maxBytes, opts.oneofSiblings ?? []));
  const bytes = encodeWire(fields);
  if (bytes.length > opts.maxBytes)
    return { bytes: bytes.subarray(0, opts.maxBytes), how: `wire: ${hows.join(', ')}, cut to ${opts.maxBytes}` };
  return { bytes, how: `wire: ${hows.join(', ')}` };
}

// ───────────────────────────── field level ─────────────────────────────

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

/** A valid message and how to mutate it. */
export interface Seed<T> {
  label: string;
  message: T;
  codec: Encoder<T>;
  /** Field numbers whose values may be moved onto each other at the wire level (a wrong-type oneof). */
  oneofNumbers?: readonly number[];
}

/**
 * Mixes the strategies over a corpus of valid messages: field-level 40 %, byte-level 30 %,
 * wire-level 20 %, garbage 10 %.
 */
export function mutant<T>(
  rng: Rng,
  seed: Seed<T>,
  pools: FieldPools,
  opts: { maxBytes: number; donors?: readonly Uint8Array[] },
): Mutant & { label: string } {
  const valid = seed.codec.encode(seed.message).finish();
  const r = rng.float();
  let m: Mutant;
  if (r < 0.4) m = mutateFields(rng, seed.message, seed.codec, pools, { maxBytes: opts.maxBytes });
  else if (r < 0.7) m = mutateBytes(rng, valid, opts);
  else if (r < 0.9) m = mutateWire(rng, valid, { maxBytes: opts.maxBytes, oneofSiblings: seed.oneofNumbers });
  else m = garbage(rng, opts.maxBytes);
  return { ...m, label: seed.label };
}
