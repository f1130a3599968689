/**
 * IEEE-754 binary16 ⇄ binary32 conversion for fp16 ONNX tensors, which onnxruntime-node hands over as raw
 * `Uint16Array` bits (Node 20 has no Float16Array).
 */

/**
 * float32 → float16 bit patterns, rounding to nearest, ties to even (the IEEE default, what numpy's
 * `astype(float16)` and CUDA's `__float2half_rn` do). Overflow (|x| ≥ 65520) gives ±Inf, results below the
 * smallest subnormal 2⁻²⁴ round to ±0 or ±2⁻²⁴, subnormals are produced exactly, the sign of zero is kept,
 * and NaN stays NaN keeping the top 10 payload bits (quiet bit set only if they would all be zero).
 * Invariant: `float32ToFloat16Bits(float16BitsToFloat32(b))` returns `b` for every one of the 65536 patterns.
 */
export function float32ToFloat16Bits(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = halfFromFloatBits(bits[i]);
  return out;
}

/**
 * float16 bit patterns → float32, exactly (every binary16 value, subnormals, ±0, ±Inf included, is a
 * binary32 value); NaN payloads are carried into the top of the float32 payload.
 */
export function float16BitsToFloat32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) outBits[i] = floatBitsFromHalf(bits[i]);
  return out;
}

function halfFromFloatBits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) {
    if (mant === 0) return sign | 0x7c00;
    const payload = mant >>> 13;
    return sign | 0x7c00 | (payload === 0 ? 0x200 : payload);
  }
  const e = exp - 112; // rebias 127 → 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below 2^-25: rounds to zero (2^-25 itself ties to even, i.e. 0)
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1) === 1)) h++;
    return sign | h; // h may carry into 0x400, the smallest normal: still the right encoding
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++; // a carry may reach the exponent (→ Inf): correct
  return sign | h;
}

function floatBitsFromHalf(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal half: normalise the mantissa into a float32 normal.
  let e = 113;
  let m = mant;
  while ((m & 0x400) === 0) {
    m <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((m & 0x3ff) << 13)) >>> 0;
}
