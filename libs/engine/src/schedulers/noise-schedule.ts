import { cumprodF32, f32, npArange, npLinspace, roundHalfEven, torchLinspaceF32 } from './numeric.js';
import { SchedulerConfigError, SchedulerStateError } from './errors.js';

/** diffusers' `beta_schedule` names. */
export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';

/** The training noise schedule every discrete-time scheduler starts from. */
export interface BetaScheduleConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  /** Overrides betaStart/betaEnd/betaSchedule (diffusers' `trained_betas`). */
  trainedBetas: readonly number[] | null;
  /** Rescale to zero terminal SNR (Lin et al. 2023, Algorithm 1). */
  rescaleBetasZeroSnr: boolean;
}

/**
 * β_t as diffusers builds them, float32:
 * - `linear`: torch.linspace(betaStart, betaEnd, N) in float32;
 * - `scaled_linear`: torch.linspace(√betaStart, √betaEnd, N) squared in float32 (latent diffusion);
 * - `squaredcos_cap_v2`: Nichol & Dhariwal's cosine ᾱ(t) = cos²((t + 0.008)/1.008 · π/2), β = min(1 − ᾱ(t₂)/ᾱ(t₁), 0.999)
 *   in float64, then float32.
 */
export function makeBetas(config: BetaScheduleConfig): Float32Array {
  const n = config.numTrainTimesteps;
  if (!Number.isInteger(n) || n < 1) throw new SchedulerConfigError('numTrainTimesteps', n);
  if (config.trainedBetas) return Float32Array.from(config.trainedBetas);
  switch (config.betaSchedule) {
    case 'linear':
      return torchLinspaceF32(config.betaStart, config.betaEnd, n);
    case 'scaled_linear': {
      const roots = torchLinspaceF32(Math.sqrt(config.betaStart), Math.sqrt(config.betaEnd), n);
      return roots.map((r) => f32(r * r));
    }
    case 'squaredcos_cap_v2': {
      const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), 0.999);
      return out;
    }
    default:
      throw new SchedulerConfigError('betaSchedule', config.betaSchedule);
  }
}

/**
 * diffusers' `rescale_zero_terminal_snr`, in float32 like its torch code: shift √ᾱ so the last is 0, scale so
 * the first is unchanged, and turn it back into betas. The last beta becomes exactly 1.
 */
export function rescaleZeroTerminalSnr(betas: Float32Array): Float32Array {
  const alphas = betas.map((b) => f32(1 - b));
  const sqrtAc = cumprodF32(alphas).map((a) => Math.sqrt(a));
  const first = sqrtAc[0];
  const last = sqrtAc[sqrtAc.length - 1];
  const scale = f32(first / f32(first - last));
  const alphaBar = sqrtAc.map((s) => {
    const shifted = f32(f32(s - last) * scale);
    return f32(shifted * shifted);
  });
  const out = new Float32Array(betas.length);
  out[0] = f32(1 - alphaBar[0]);
  for (let i = 1; i < out.length; i++) out[i] = f32(1 - f32(alphaBar[i] / alphaBar[i - 1]));
  return out;
}

/**
 * ᾱ_t = ∏(1 − β) in float32 (torch.cumprod accumulates in double; see `cumprodF32`), after the optional
 * zero-terminal-SNR rescale. `clampLastForSigma` applies diffusers' Euler/DPM trick of setting the last ᾱ to
 * 2⁻²⁴ under zero-SNR so that σ_max stays finite (DDIM does not do this).
 */
export function alphasCumprod(config: BetaScheduleConfig, clampLastForSigma: boolean): Float32Array {
  let betas = makeBetas(config);
  if (config.rescaleBetasZeroSnr) betas = rescaleZeroTerminalSnr(betas);
  const ac = cumprodF32(betas.map((b) => f32(1 - b)));
  if (config.rescaleBetasZeroSnr && clampLastForSigma) ac[ac.length - 1] = 2 ** -24;
  return ac;
}

/** diffusers' `timestep_spacing` of the discrete-timestep schedulers (DDPM, DDIM). */
export type TimestepSpacing = 'linspace' | 'leading' | 'trailing';

/**
 * The `n` integer inference timesteps out of `N` training ones, descending, as diffusers' DDPM and DDIM
 * `set_timesteps` spread them: linspace (rounded half to even), leading (+ `stepsOffset`), trailing.
 * Throws SchedulerStateError unless 1 ≤ n ≤ N.
 */
export function spacedTimesteps(N: number, n: number, spacing: TimestepSpacing, stepsOffset: number): Int32Array {
  if (!Number.isInteger(n) || n < 1 || n > N)
    throw new SchedulerStateError(`numInferenceSteps must be in 1..${N}, got ${n}`);
  if (spacing === 'linspace') return Int32Array.from(npLinspace(0, N - 1, n).reverse(), roundHalfEven);
  if (spacing === 'leading') {
    const ratio = Math.floor(N / n);
    return Int32Array.from({ length: n }, (_, i) => (n - 1 - i) * ratio + stepsOffset);
  }
  return Int32Array.from(npArange(N, 0, -N / n), (t) => roundHalfEven(t) - 1);
}

/**
 * √((1 − ᾱ_t)/ᾱ_t) at each of `timesteps`, then 0 (float32): the equivalent VE noise level of a
 * discrete-timestep schedule (not a diffusers attribute of DDPM or DDIM), for progress displays and
 * for comparing schedules across schedulers.
 */
export function noiseLevels(timesteps: Int32Array, alphasCumprod: Float32Array): Float32Array {
  const out = new Float32Array(timesteps.length + 1);
  timesteps.forEach((t, i) => {
    const a = alphasCumprod[t];
    out[i] = Math.sqrt(f32(f32(1 - a) / a));
  });
  return out;
}
