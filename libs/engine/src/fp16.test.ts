import { describe, expect, it } from 'vitest';
import { float16BitsToFloat32, float32ToFloat16Bits } from './fp16.js';

/** Independent reference: the binary16 value of bit pattern h, from its definition. */
function halfValue(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

const ALL = Uint16Array.from({ length: 65536 }, (_, i) => i);

describe('fp16 helpers', () => {
  it('decodes every one of the 65536 patterns to its exact value', () => {
    const f = float16BitsToFloat32(ALL);
    const wrong: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const v = halfValue(h);
      if (Number.isNaN(v) ? !Number.isNaN(f[h]) : !Object.is(f[h], v)) wrong.push(h);
    }
    expect(wrong).toEqual([]);
  });

  it('round-trips every one of the 65536 patterns bit for bit (NaN payloads, ±0, subnormals, ±Inf included)', () => {
    const back = float32ToFloat16Bits(float16BitsToFloat32(ALL));
    let mismatches = 0;
    for (let h = 0; h < 65536; h++) if (back[h] !== h) mismatches++;
    expect(mismatches).toBe(0);
  });

  it('rounds to nearest, ties to even, at every midpoint between adjacent finite halves', () => {
    // For each adjacent pair (a, b) of positive finite halves: the float32 just below the midpoint goes to a,
    // just above to b, and the midpoint itself (exact in float32) to whichever of a, b has an even mantissa.
    const mids: number[] = [];
    const expectBits: number[] = [];
    for (let h = 0; h < 0x7bff; h++) {
      const a = halfValue(h);
      const b = halfValue(h + 1);
      const mid = (a + b) / 2;
      const below = new Float32Array([mid]);
      const bits = new Uint32Array(below.buffer);
      bits[0] -= 1;
      const above = new Float32Array([mid]);
      new Uint32Array(above.buffer)[0] += 1;
      mids.push(below[0], mid, above[0]);
      expectBits.push(h, h % 2 === 0 ? h : h + 1, h + 1);
    }
    const out = float32ToFloat16Bits(Float32Array.from(mids));
    expect(Array.from(out)).toEqual(expectBits);
    // Negative values mirror positive ones.
    const neg = float32ToFloat16Bits(Float32Array.from(mids, (v) => -v));
    expect(Array.from(neg)).toEqual(expectBits.map((b) => b | 0x8000));
  });

  it('overflows to Inf from 65520 (the midpoint above 65504, ties to even) and underflows to ±0 below 2^-25', () => {
    const cases: [number, number][] = [
      [65504, 0x7bff],
      [65519.99, 0x7bff],
      [65520, 0x7c00],
      [1e10, 0x7c00],
      [-1e10, 0xfc00],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [2 ** -24, 0x0001],
      [2 ** -25, 0x0000],
      [1.5 * 2 ** -25, 0x0001],
      [-(2 ** -26), 0x8000],
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.1, 0x2e66],
      [2 ** -14, 0x0400],
      [2 ** -14 - 2 ** -25, 0x0400],
    ];
    const out = float32ToFloat16Bits(Float32Array.from(cases, ([v]) => v));
    expect(Array.from(out)).toEqual(cases.map(([, b]) => b));
    const nan = float32ToFloat16Bits(Float32Array.from([NaN]))[0];
    expect(nan & 0x7c00).toBe(0x7c00);
    expect(nan & 0x3ff).not.toBe(0);
  });

  it('reads typed-array views at an offset', () => {
    const buf = new Float32Array([7, 1, 2]);
    expect(Array.from(float32ToFloat16Bits(buf.subarray(1)))).toEqual([0x3c00, 0x4000]);
  });
});
