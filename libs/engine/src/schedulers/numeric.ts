/**
 * The NumPy / PyTorch numerics that diffusers' schedulers are built from, reproduced so that schedules
 * match diffusers bit for bit where that is cheap and to float32 rounding elsewhere.
 *
 * Conventions used throughout `schedulers/`:
 * - diffusers keeps per-timestep tables (betas, ᾱ = alphas_cumprod, σ) and sample math in float32 torch
 *   tensors; we hold them in `Float32Array` and round every float32 operation with `Math.fround` (`f32`).
 *   An elementary op on two float32 values done in double and rounded once equals the float32 op.
 * - NumPy code paths in diffusers (`np.linspace`, `np.interp`, Karras/Lu ramps) run in float64; we run them
 *   in JavaScript numbers (float64) with NumPy's formulas, and round to float32 where diffusers casts.
 */

/** Round to float32 (an alias for `Math.fround`, the one rounding primitive in this folder). */
export const f32 = Math.fround;

/**
 * `torch.linspace(start, end, steps, dtype=torch.float32)` on the CPU: start and end are rounded to float32,
 * step = (end − start)/(steps − 1) in float32, the first half counts up from start and the second half
 * down from end (ATen's scalar kernel; its vectorised path can differ in the last bit).
 */
export function torchLinspaceF32(start: number, end: number, steps: number): Float32Array {
  const out = new Float32Array(steps);
  if (steps === 0) return out;
  const s = f32(start);
  const e = f32(end);
  if (steps === 1) {
    out[0] = s;
    return out;
  }
  const step = f32(f32(e - s) / (steps - 1));
  const halfway = Math.floor(steps / 2);
  for (let i = 0; i < steps; i++) {
    out[i] = i < halfway ? f32(s + f32(step * i)) : f32(e - f32(step * (steps - i - 1)));
  }
  return out;
}

/**
 * `torch.cumprod` of a float32 tensor on the CPU: ATen accumulates in double and rounds each partial
 * product to float32 on store (so this is *not* a float32 running product).
 */
export function cumprodF32(values: Float32Array): Float32Array {
  const out = new Float32Array(values.length);
  let acc = 1;
  for (let i = 0; i < values.length; i++) {
    acc *= values[i];
    out[i] = acc;
  }
  return out;
}

/**
 * `np.linspace(start, stop, num)` in float64: y[i] = i·step + start with step = (stop − start)/(num − 1),
 * and the last element set to `stop` exactly (NumPy's formula, so values match it bit for bit).
 */
export function npLinspace(start: number, stop: number, num: number): number[] {
  if (num <= 0) return [];
  if (num === 1) return [start];
  const div = num - 1;
  const delta = stop - start;
  const step = delta / div;
  const out = new Array<number>(num);
  for (let i = 0; i < num; i++) out[i] = step === 0 ? (i / div) * delta + start : i * step + start;
  out[num - 1] = stop;
  return out;
}

/**
 * `np.arange(start, stop, step)` in float64: length ceil((stop − start)/step) and values start + i·delta with
 * delta = (start + step) − start, as NumPy fills it. (Length can exceed the "obvious" count when the division
 * rounds up, as it does in diffusers.)
 */
export function npArange(start: number, stop: number, step: number): number[] {
  const len = Math.max(0, Math.ceil((stop - start) / step));
  const delta = start + step - start;
  const out = new Array<number>(len);
  for (let i = 0; i < len; i++) out[i] = start + i * delta;
  return out;
}

/** `np.round` / `np.rint`: round half to even. */
export function roundHalfEven(x: number): number {
  if (!Number.isFinite(x)) return x;
  const fl = Math.floor(x);
  const diff = x - fl;
  const r = diff > 0.5 ? fl + 1 : diff < 0.5 ? fl : fl % 2 === 0 ? fl : fl + 1;
  return r === 0 && x < 0 ? -0 : r; // keep NumPy's signed zero
}

/**
 * `np.interp(x, np.arange(fp.length), fp)` in float64: linear interpolation on the integer grid, clamped to the
 * end values, exact grid points returning fp[j] unchanged (NumPy's special case).
 */
export function interpOnIndexGrid(x: number, fp: ArrayLike<number>): number {
  const last = fp.length - 1;
  if (!(x > 0)) return fp[0];
  if (x >= last) return fp[last];
  const j = Math.floor(x);
  if (x === j) return fp[j];
  const slope = (fp[j + 1] - fp[j]) / 1;
  return slope * (x - j) + fp[j];
}

/** Float32 `(((1 − ᾱ) / ᾱ) ** 0.5)` per entry: the VE noise level σ of each training timestep, as diffusers holds it. */
export function sigmasFromAlphasCumprod(alphasCumprod: Float32Array): Float32Array {
  const out = new Float32Array(alphasCumprod.length);
  for (let i = 0; i < out.length; i++) {
    const a = alphasCumprod[i];
    out[i] = Math.sqrt(f32(f32(1 - a) / a));
  }
  return out;
}

/** Float32 `np.log` of each entry (NumPy keeps a float32 array float32). */
export function logF32(values: Float32Array): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < out.length; i++) out[i] = Math.log(values[i]);
  return out;
}

/** Sum of |x| in float64 (tests and diagnostics; torch's float32 pairwise sum differs only in far digits). */
export function sumAbs(values: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += Math.abs(values[i]);
  return s;
}
