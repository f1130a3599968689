/**
 * Seeded mutation of protobuf messages for the hostile-input tests (issue 6): byte-level damage of
 * encoded messages, field-level damage of decoded objects re-encoded with the generated code,
 * wire-level damage the generated encoders refuse to write (out-of-range varints, wrong wire types,
 * one oneof member's bytes under another member's number), and raw garbage.
 *
 * Reproducible: one seed gives one sequence of cases. Tests print the seed; `TESSERA_FUZZ_SEED`
 * replays a run (or explores: `random`).
 */
import type { Mutant, Rng } from './fuzz-rng.js';
import { garbage, mutateBytes } from './mutate-bytes.js';
import { mutateFields, type Encoder, type FieldPools } from './mutate-fields.js';
import { mutateWire } from './mutate-wire.js';

export { Rng, fuzzSeed, type Mutant } from './fuzz-rng.js';
export { varint, parseWire, encodeWire, type WireField } from './protobuf-wire.js';
export { mutateBytes, garbage } from './mutate-bytes.js';
export { mutateWire } from './mutate-wire.js';
export { mutateFields, type Encoder, type FieldPools } from './mutate-fields.js';

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
