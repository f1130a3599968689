import { npLinspace } from './numeric.js';

/**
 * Karras et al. (2022) noise levels, float64 like diffusers' NumPy code:
 * σ_i = (σmax^(1/ρ) + i/(n−1) · (σmin^(1/ρ) − σmax^(1/ρ)))^ρ, i = 0…n−1, ρ = 7. Descending from σmax to σmin.
 */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, n: number, rho = 7): number[] {
  const minInvRho = sigmaMin ** (1 / rho);
  const maxInvRho = sigmaMax ** (1 / rho);
  return npLinspace(0, 1, n).map((r) => (maxInvRho + r * (minInvRho - maxInvRho)) ** rho);
}

/** Exponential noise levels: exp(linspace(ln σmax, ln σmin, n)), float64. */
export function exponentialSigmas(sigmaMin: number, sigmaMax: number, n: number): number[] {
  return npLinspace(Math.log(sigmaMax), Math.log(sigmaMin), n).map(Math.exp);
}

/**
 * Lu et al. (DPM-Solver) uniform-logSNR schedule as diffusers implements it: a linear ramp of log σ from
 * `logSigmaMax` down to `logSigmaMin` (diffusers' `_convert_to_lu` with ρ = 1), returned as σ = exp(·).
 */
export function luSigmas(logSigmaMin: number, logSigmaMax: number, n: number): number[] {
  return npLinspace(0, 1, n).map((r) => Math.exp(logSigmaMax + r * (logSigmaMin - logSigmaMax)));
}

/**
 * diffusers' `_sigma_to_t`: the fractional training timestep whose σ equals `sigma`, by linear
 * interpolation of log σ between the two neighbouring training timesteps (`logSigmas` ascending in t,
 * float32 as NumPy holds it; the arithmetic is float64). Below the table it returns 0, above it N − 1.
 */
export function sigmaToT(sigma: number, logSigmas: Float32Array): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  // low = last index whose log σ ≤ log sigma (0 if none), clipped so that high = low + 1 exists.
  let low = 0;
  for (let i = 0; i < logSigmas.length; i++) if (logSigma - logSigmas[i] >= 0) low = i;
  low = Math.min(low, logSigmas.length - 2);
  const high = low + 1;
  const lo = logSigmas[low];
  const hi = logSigmas[high];
  let w = (lo - logSigma) / (lo - hi);
  w = Math.min(Math.max(w, 0), 1);
  return (1 - w) * low + w * high;
}
