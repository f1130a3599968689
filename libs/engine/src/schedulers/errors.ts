import { EngineError } from '../errors.js';

/** A scheduler config field has a value the scheduler does not support; `field` names it (camelCase). */
export class SchedulerConfigError extends EngineError {
  override name = 'SchedulerConfigError';
  constructor(
    readonly field: string,
    readonly value: unknown,
    detail?: string,
  ) {
    super(`scheduler config: unsupported ${field} ${JSON.stringify(value)}${detail ? ` (${detail})` : ''}`);
  }
}

/**
 * A scheduler was used out of order: `step` before `setTimesteps`, a timestep that is not in the schedule,
 * a sample whose length does not match, or ancestral noise requested without a generator.
 */
export class SchedulerStateError extends EngineError {
  override name = 'SchedulerStateError';
}
