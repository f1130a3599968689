/**
 * Seeded Gaussian noise that reproduces PyTorch's CPU generator.
 *
 * Why torch's algorithm and not a simpler PRNG: diffusers' ancestral / DDIM-eta tests and every
 * "same seed, same image" comparison with a diffusers run use `torch.manual_seed(seed)` on the CPU.
 * Reproducing that generator lets Tessera's noise equal diffusers' CPU noise for the same seed (up to
 * float32 rounding of log/cos/sin), and it is still a plain, documented, portable algorithm:
 *
 * - MT19937 (32-bit Mersenne Twister) seeded with the low 32 bits of `seed` by the standard
 *   `init_genrand` recurrence, exactly as `at::mt19937` does.
 * - `randn(n)` for n ≥ 16 follows ATen's `normal_fill` for contiguous float32 tensors: first n uniforms
 *   `u = (next32() & 0xFFFFFF) / 2^24`, then Box–Muller over blocks of 16 (u1 = 1 − u[j], u2 = u[j+8] give
 *   out[j] = √(−2 ln u1)·cos 2πu2 and out[j+8] = √(−2 ln u1)·sin 2πu2); when n % 16 ≠ 0 the last 16 outputs
 *   are recomputed from 16 fresh uniforms.
 * - `randn(n)` for n < 16 follows ATen's serial `normal_distribution<double>` path (53-bit uniforms from
 *   two 32-bit draws, Box–Muller with the sine half cached for the next draw). Torch is not available
 *   here to check this path bit for bit; the n ≥ 16 path is checked against diffusers' published numbers.
 *
 * Same seed → same noise on every machine: the integer part is exact, and the float part uses only
 * IEEE-754 arithmetic, `Math.fround` and V8's `Math.log`/`Math.cos`/`Math.sin`/`Math.log1p` (fdlibm ports,
 * identical on every platform Node runs on). Float32 rounding is applied where ATen holds float32.
 */

const N = 624;
const M = 397;
const MATRIX_A = 0x9908b0df;
const UPPER_MASK = 0x80000000;
const LOWER_MASK = 0x7fffffff;
const TWO_POW_24 = 16777216;
const TWO_POW_32 = 4294967296;
const TWO_POW_53 = 9007199254740992;
const f32 = Math.fround;

/** A source of standard-normal float32 noise; consuming it advances its state. */
export interface NoiseGenerator {
  /** The seed it was created with (as given). */
  readonly seed: number | bigint;
  /**
   * `count` standard-normal samples as float32, in the order `torch.randn(shape, generator=g)` fills a
   * contiguous tensor of `count` elements (so a (B, C, H, W) latent is one call with count = B·C·H·W).
   */
  randn(count: number): Float32Array;
  /** The next raw 32-bit MT19937 output (advances the state like one torch `random()` call). */
  nextUint32(): number;
}

/**
 * A torch-compatible CPU generator: `createGenerator(s).randn(n)` equals
 * `torch.randn(n, generator=torch.Generator().manual_seed(s))` for float32 and n ≥ 16 (see file comment).
 * `seed` must be a non-negative integer (number ≤ 2^53 or bigint); like torch, only its low 32 bits seed the
 * twister.
 */
export function createGenerator(seed: number | bigint): NoiseGenerator {
  return new TorchCpuGenerator(seed);
}

class TorchCpuGenerator implements NoiseGenerator {
  private readonly state = new Uint32Array(N);
  private next = 0;
  private left = 1;
  /** ATen's cached second Box–Muller value of the double-precision path (n < 16). */
  private cachedNormal: number | null = null;

  constructor(readonly seed: number | bigint) {
    let low32: number;
    if (typeof seed === 'bigint') {
      if (seed < 0n) throw new RangeError(`seed must be a non-negative integer, got ${seed}`);
      low32 = Number(seed & 0xffffffffn);
    } else {
      if (!Number.isSafeInteger(seed) || seed < 0) {
        throw new RangeError(`seed must be a non-negative safe integer, got ${seed}`);
      }
      low32 = seed % TWO_POW_32;
    }
    const s = this.state;
    s[0] = low32 >>> 0;
    for (let j = 1; j < N; j++) {
      const prev = s[j - 1];
      s[j] = (Math.imul(1812433253, prev ^ (prev >>> 30)) + j) >>> 0;
    }
  }

  nextUint32(): number {
    if (--this.left <= 0) this.twist();
    let y = this.state[this.next++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  randn(count: number): Float32Array {
    if (!Number.isInteger(count) || count < 0) throw new RangeError(`count must be a non-negative integer`);
    const out = new Float32Array(count);
    if (count >= 16) {
      for (let i = 0; i < count; i++) out[i] = this.uniformFloat32();
      for (let i = 0; i + 16 <= count; i += 16) boxMuller16(out, i);
      if (count % 16 !== 0) {
        const base = count - 16;
        for (let i = 0; i < 16; i++) out[base + i] = this.uniformFloat32();
        boxMuller16(out, base);
      }
    } else {
      for (let i = 0; i < count; i++) out[i] = this.normalFloat64();
    }
    return out;
  }

  /** ATen `uniform_real_distribution<float>(0, 1)`: 24 random bits scaled to [0, 1). */
  private uniformFloat32(): number {
    return (this.nextUint32() & 0xffffff) / TWO_POW_24;
  }

  /** ATen `uniform_real_distribution<double>(0, 1)`: low 53 bits of random64() = (first << 32 | second). */
  private uniformFloat64(): number {
    const hi = this.nextUint32();
    const lo = this.nextUint32();
    return ((hi & 0x1fffff) * TWO_POW_32 + lo) / TWO_POW_53;
  }

  /** ATen `normal_distribution<double>` with the generator-held cache of the sine half. */
  private normalFloat64(): number {
    if (this.cachedNormal !== null) {
      const v = this.cachedNormal;
      this.cachedNormal = null;
      return v;
    }
    const u1 = this.uniformFloat64();
    const u2 = this.uniformFloat64();
    const r = Math.sqrt(-2 * Math.log1p(-u2));
    const theta = 2 * Math.PI * u1;
    this.cachedNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  private twist(): void {
    const s = this.state;
    let k = 0;
    for (; k < N - M; k++) {
      const y = (s[k] & UPPER_MASK) | (s[k + 1] & LOWER_MASK);
      s[k] = s[k + M] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    for (; k < N - 1; k++) {
      const y = (s[k] & UPPER_MASK) | (s[k + 1] & LOWER_MASK);
      s[k] = s[k + M - N] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    }
    const y = (s[N - 1] & UPPER_MASK) | (s[0] & LOWER_MASK);
    s[N - 1] = s[M - 1] ^ (y >>> 1) ^ (y & 1 ? MATRIX_A : 0);
    this.left = N;
    this.next = 0;
  }
}

/**
 * ATen's scalar `normal_fill_16` in float32: u1 = 1 − u (exact in float32), radius = √(−2·logf u1),
 * θ = float(2π·u2) with 2π in double, outputs radius·cosf θ and radius·sinf θ.
 */
function boxMuller16(data: Float32Array, base: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = f32(1 - data[base + j]);
    const u2 = data[base + j + 8];
    const radius = f32(Math.sqrt(f32(-2 * f32(Math.log(u1)))));
    const theta = f32(2 * Math.PI * u2);
    data[base + j] = f32(radius * f32(Math.cos(theta)));
    data[base + j + 8] = f32(radius * f32(Math.sin(theta)));
  }
}
