/**
 * Wire-level damage the generated encoders refuse to write: out-of-range varints, wrong wire types,
 * hostile doubles, one oneof member's bytes under another member's number.
 */
import type { Mutant, Rng } from './fuzz-rng.js';
import { mutateBytes } from './mutate-bytes.js';
import { encodeWire, parseWire, varint, type WireField } from './protobuf-wire.js';

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
