/**
 * The protobuf wire format at its rawest, for the mutators (mutate-*.ts): varints, a field sequence
 * split into (number, wire type, bytes) and written back. No schema: it reads what generated code would refuse.
 */

import { concatBytes } from '@tessera/runtime';

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
  return concatBytes(parts);
}
