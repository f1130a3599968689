/**
 * Reproducible randomness for the hostile-input tests: a seeded PRNG, the seed of a run
 * (`TESSERA_FUZZ_SEED` replays or explores) and the shape of one generated case.
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
