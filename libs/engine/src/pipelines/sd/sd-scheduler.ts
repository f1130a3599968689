/**
 * Picks and builds the scheduler of a run from the model's `scheduler/scheduler_config.json`: the class named by
 * `_class_name`, or a caller's override (a short name or a diffusers class name), always configured from the
 * model's config (betas, prediction type, spacing, shift), as diffusers' `Scheduler.from_config(pipe.scheduler.config)`.
 *
 * Classes the engine does not implement (SD 1.5 ships PNDMScheduler; LMS, UniPC, …) run as DPM-Solver++ 2M from the
 * same config, the usual diffusers swap for SD; the substitution is reported (`substitutedFor`) because the images
 * then differ from diffusers' with the original class. Pure.
 */
import { DDIMScheduler } from '../../schedulers/ddim.js';
import { DPMSolverMultistepScheduler } from '../../schedulers/dpm-solver-multistep.js';
import { EulerAncestralDiscreteScheduler } from '../../schedulers/euler-ancestral-discrete.js';
import { EulerDiscreteScheduler } from '../../schedulers/euler-discrete.js';
import { FlowMatchEulerDiscreteScheduler } from '../../schedulers/flow-match-euler-discrete.js';
import type { DiffusionScheduler } from '../../schedulers/types.js';
import { SdParamsError } from './errors.js';

/** Scheduler names accepted as overrides (diffusers class names are accepted too). */
export const SD_SCHEDULER_NAMES = ['euler', 'euler-ancestral', 'ddim', 'dpm++2m', 'flow-match-euler'] as const;
export type SdSchedulerName = (typeof SD_SCHEDULER_NAMES)[number];

const CLASS_OF: Record<SdSchedulerName, string> = {
  euler: 'EulerDiscreteScheduler',
  'euler-ancestral': 'EulerAncestralDiscreteScheduler',
  ddim: 'DDIMScheduler',
  'dpm++2m': 'DPMSolverMultistepScheduler',
  'flow-match-euler': 'FlowMatchEulerDiscreteScheduler',
};

/** The scheduler a run uses. */
export interface SdSchedulerChoice {
  name: SdSchedulerName;
  /** diffusers class name of `name`. */
  className: string;
  /** The model's class when it was replaced because the engine does not implement it. */
  substitutedFor?: string;
}

/** A scheduler as the pipelines drive it: the loop contract plus img2img's begin index (absent on DDIM). */
export type SdScheduler = DiffusionScheduler & { setBeginIndex?(beginIndex: number): void };

/**
 * The scheduler for `config` (its `_class_name`) or `override`. Flow-matching models (SD3) only run flow-matching
 * schedulers and noise-prediction models only the others; a mismatched override throws SdParamsError('scheduler').
 */
export function chooseSdScheduler(config: Readonly<Record<string, unknown>>, override?: string): SdSchedulerChoice {
  const modelClass = String(config._class_name ?? '');
  const flow = /FlowMatch/.test(modelClass);
  if (override !== undefined) {
    const name = (SD_SCHEDULER_NAMES as readonly string[]).includes(override)
      ? (override as SdSchedulerName)
      : SD_SCHEDULER_NAMES.find((n) => CLASS_OF[n] === override);
    if (!name) {
      throw new SdParamsError(
        'scheduler',
        `unknown scheduler '${override}' (one of ${SD_SCHEDULER_NAMES.join(', ')} or their diffusers class names)`,
      );
    }
    if ((name === 'flow-match-euler') !== flow) {
      throw new SdParamsError(
        'scheduler',
        flow
          ? `this model is trained for flow matching; '${override}' cannot drive it`
          : `'${override}' is for flow-matching models (SD3)`,
      );
    }
    return { name, className: CLASS_OF[name] };
  }
  const known = SD_SCHEDULER_NAMES.find((n) => CLASS_OF[n] === modelClass);
  if (known) return { name: known, className: modelClass };
  const name: SdSchedulerName = flow ? 'flow-match-euler' : 'dpm++2m';
  return { name, className: CLASS_OF[name], substitutedFor: modelClass || '(none)' };
}

/** A fresh scheduler (they keep per-run state) configured from the model's scheduler_config.json. */
export function createSdScheduler(config: Readonly<Record<string, unknown>>, choice: SdSchedulerChoice): SdScheduler {
  const raw = config as Record<string, unknown>;
  switch (choice.name) {
    case 'euler':
      return EulerDiscreteScheduler.fromDiffusersConfig(raw);
    case 'euler-ancestral':
      return EulerAncestralDiscreteScheduler.fromDiffusersConfig(raw);
    case 'ddim':
      return DDIMScheduler.fromDiffusersConfig(raw);
    case 'dpm++2m':
      return DPMSolverMultistepScheduler.fromDiffusersConfig(raw);
    case 'flow-match-euler':
      return FlowMatchEulerDiscreteScheduler.fromDiffusersConfig(raw);
  }
}

/** `numTrainTimesteps` of a scheduler config (diffusers' default 1000). */
export function numTrainTimesteps(config: Readonly<Record<string, unknown>>): number {
  const n = config.num_train_timesteps;
  return typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : 1000;
}
