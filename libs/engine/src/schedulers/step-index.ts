import { SchedulerStateError } from './errors.js';

/**
 * diffusers' `index_for_timestep`: the position of `timestep` in `schedule`. When it occurs more than once
 * the *second* occurrence is taken (so a schedule with a repeated first timestep, as img2img can produce,
 * does not skip a σ). Float32 schedules compare against `Math.fround(timestep)`. When there is no exact
 * match, `tolerant` schedules (flow matching, whose timesteps are σ·N in float32) accept the entries within
 * torch.isclose's default tolerance (rtol 1e-5, atol 1e-8); otherwise `onMissing` decides: throw, or
 * diffusers DPM-Solver's choice of the last index.
 */
export function indexForTimestep(
  timestep: number,
  schedule: Float32Array | Int32Array,
  onMissing: 'throw' | 'last' = 'throw',
  tolerant = false,
): number {
  const t = schedule instanceof Float32Array ? Math.fround(timestep) : timestep;
  const found: number[] = [];
  for (let i = 0; i < schedule.length && found.length < 2; i++) if (schedule[i] === t) found.push(i);
  if (found.length === 0 && tolerant) {
    for (let i = 0; i < schedule.length && found.length < 2; i++) {
      if (Math.abs(schedule[i] - timestep) <= 1e-8 + 1e-5 * Math.abs(timestep)) found.push(i);
    }
  }
  if (found.length === 0) {
    if (onMissing === 'last' && schedule.length > 0) return schedule.length - 1;
    throw new SchedulerStateError(`timestep ${timestep} is not in the schedule (call setTimesteps first?)`);
  }
  return found.length > 1 ? found[1] : found[0];
}

/** Throws SchedulerStateError unless all arrays have the same length. */
export function assertSameLength(what: string, ...arrays: ArrayLike<number>[]): number {
  const n = arrays[0].length;
  for (const a of arrays) {
    if (a.length !== n) throw new SchedulerStateError(`${what}: arrays differ in length (${n} vs ${a.length})`);
  }
  return n;
}
