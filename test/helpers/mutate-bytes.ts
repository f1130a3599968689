/**
 * Byte-level damage of encoded messages (flip, truncate, extend, splice, repeat, overwrite, delete,
 * crossover, bad varints) and raw garbage frames.
 */
import type { Mutant, Rng } from './fuzz-rng.js';
import { concatBytes } from '@tessera/runtime';
import { varint } from './protobuf-wire.js';

const BOUNDARY_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x08, 0x0a, 0x12];

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
      return { bytes: concatBytes([b, rng.bytes(n)]), how: `extend by ${n} random bytes` };
    }
    case 3: {
      const from = at();
      const to = Math.min(b.length, from + rng.length(256));
      const n = Math.min(rng.length(4096), Math.max(0, maxBytes - b.length));
      return {
        bytes: concatBytes([b.subarray(0, from), rng.bytes(n), b.subarray(to)]),
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
        bytes: concatBytes([b.subarray(0, to), ...reps, b.subarray(to)]),
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
      return { bytes: concatBytes([b.subarray(0, from), b.subarray(to)]), how: `delete [${from}, ${to})` };
    }
    case 7: {
      // Crossover: a piece of another valid message in the middle of this one.
      const d = donors.length ? rng.pick(donors) : b;
      const df = rng.below(d.length + 1);
      const dt = Math.min(d.length, df + rng.length(1024));
      const piece = d.subarray(df, Math.min(dt, df + Math.max(0, maxBytes - b.length)));
      const p = at();
      return {
        bytes: concatBytes([b.subarray(0, p), piece, b.subarray(p)]),
        how: `insert ${piece.length} donor bytes at ${p}`,
      };
    }
    default: {
      // An unterminated or oversized varint where a tag or length should be.
      const p = at();
      const junk = rng.chance(0.5)
        ? new Uint8Array(rng.int(1, 12)).fill(0xff)
        : Uint8Array.of(0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f);
      return { bytes: concatBytes([b.subarray(0, p), junk, b.subarray(p)]), how: `insert a bad varint at ${p}` };
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
        bytes: concatBytes([varint(BigInt((no << 3) | wt)), rng.bytes(rng.int(0, 16))]),
        how: `garbage: wire type ${wt}`,
      };
    }
    case 4: {
      // Deeply nested length-delimited fields: recursion limits.
      const depth = rng.int(50, 5000);
      let b: Uint8Array = new Uint8Array(0);
      for (let i = 0; i < depth; i++) b = concatBytes([Uint8Array.of(0x52), varint(BigInt(b.length)), b]);
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
