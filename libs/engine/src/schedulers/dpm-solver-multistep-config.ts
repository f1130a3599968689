/**
 * DPMSolverMultistepScheduler's config: the options (diffusers' names camelCased, same defaults) and
 * their validation. The solver itself is dpm-solver-multistep.ts.
 */
import { SchedulerConfigError } from './errors.js';
import type { BetaSchedule } from './noise-schedule.js';
import type { PredictionType, TimestepSpacing } from './types.js';

/** DPMSolverMultistepScheduler config: diffusers' names camelCased, same defaults. */
export interface DPMSolverMultistepSchedulerConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: BetaSchedule;
  trainedBetas: readonly number[] | null;
  /** 1, 2 (DPM-Solver++ 2M, the usual choice for guided sampling) or 3. */
  solverOrder: 1 | 2 | 3;
  predictionType: PredictionType;
  /** Dynamic thresholding of x̂₀ (pixel-space models only). */
  thresholding: boolean;
  dynamicThresholdingRatio: number;
  sampleMaxValue: number;
  /** `dpmsolver++` integrates the data prediction (x̂₀), `dpmsolver` the noise prediction (ε̂). */
  algorithmType: 'dpmsolver++' | 'dpmsolver';
  /** Second-order update formula. */
  solverType: 'midpoint' | 'heun';
  /** Use lower orders in the last steps when there are fewer than 15 (stabilises few-step sampling). */
  lowerOrderFinal: boolean;
  /** Use a first-order (Euler) last step. */
  eulerAtFinal: boolean;
  useKarrasSigmas: boolean;
  useExponentialSigmas: boolean;
  /** Uniform log-SNR steps (Lu et al.). */
  useLuLambdas: boolean;
  /** The σ after the last step: 0 (dpmsolver++ only), or the smallest training σ. */
  finalSigmasType: 'zero' | 'sigma_min';
  /** Drop the timesteps whose λ = log(α/σ) is below this (critical for the cosine schedule). */
  lambdaMinClipped: number;
  timestepSpacing: TimestepSpacing;
  stepsOffset: number;
  rescaleBetasZeroSnr: boolean;
}
/** diffusers' defaults for DPMSolverMultistepScheduler. */
export const DPM_SOLVER_MULTISTEP_DEFAULTS: DPMSolverMultistepSchedulerConfig = {
  numTrainTimesteps: 1000,
  betaStart: 0.0001,
  betaEnd: 0.02,
  betaSchedule: 'linear',
  trainedBetas: null,
  solverOrder: 2,
  predictionType: 'epsilon',
  thresholding: false,
  dynamicThresholdingRatio: 0.995,
  sampleMaxValue: 1.0,
  algorithmType: 'dpmsolver++',
  solverType: 'midpoint',
  lowerOrderFinal: true,
  eulerAtFinal: false,
  useKarrasSigmas: false,
  useExponentialSigmas: false,
  useLuLambdas: false,
  finalSigmasType: 'zero',
  lambdaMinClipped: -Infinity,
  timestepSpacing: 'linspace',
  stepsOffset: 0,
  rescaleBetasZeroSnr: false,
};

/** Fills `config` with the defaults and validates it; throws SchedulerConfigError naming the field. */
export function compileDPMSolverMultistepConfig(
  config: Partial<DPMSolverMultistepSchedulerConfig>,
): Readonly<DPMSolverMultistepSchedulerConfig> {
  const c = { ...DPM_SOLVER_MULTISTEP_DEFAULTS, ...config };
  if (![1, 2, 3].includes(c.solverOrder)) throw new SchedulerConfigError('solverOrder', c.solverOrder);
  if (!['epsilon', 'v_prediction', 'sample'].includes(c.predictionType)) {
    throw new SchedulerConfigError('predictionType', c.predictionType);
  }
  if (!['dpmsolver++', 'dpmsolver'].includes(c.algorithmType)) {
    throw new SchedulerConfigError('algorithmType', c.algorithmType, 'supported: dpmsolver++, dpmsolver');
  }
  if (!['midpoint', 'heun'].includes(c.solverType)) throw new SchedulerConfigError('solverType', c.solverType);
  if (!['zero', 'sigma_min'].includes(c.finalSigmasType)) {
    throw new SchedulerConfigError('finalSigmasType', c.finalSigmasType);
  }
  if (c.algorithmType === 'dpmsolver' && c.finalSigmasType === 'zero') {
    throw new SchedulerConfigError('finalSigmasType', 'zero', "algorithmType 'dpmsolver' needs 'sigma_min'");
  }
  if (!['linspace', 'leading', 'trailing'].includes(c.timestepSpacing)) {
    throw new SchedulerConfigError('timestepSpacing', c.timestepSpacing);
  }
  if ([c.useKarrasSigmas, c.useExponentialSigmas, c.useLuLambdas].filter(Boolean).length > 1) {
    throw new SchedulerConfigError('useKarrasSigmas', true, 'only one of Karras/exponential/Lu schedules');
  }
  return Object.freeze(c);
}
