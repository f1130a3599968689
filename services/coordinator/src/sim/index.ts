/** `tessera plan` as a library: the capacity planner on the simulated core (docs/plan.md). */
import { loadHardwareTable } from '@tessera/hardware';
import { planFromFiles, type PlanReport } from './plan.js';
import type { SimOptions } from './simulate.js';

export { planFromFiles, planFleet, formatPlan, lowerBound, type PlanReport, type PlanAttempt } from './plan.js';
export { checkSchedule } from './check.js';
export { PlanInputError, parseFleet, parseWorkload, type FleetEntry, type WorkloadEntry } from './scenario.js';
export { simulateFifo, type SimOptions, type SimResult, type SimAttempt } from './simulate.js';
export { simulateOnCore } from './core-run.js';
export { expandFleet, expandWorkload, speedOf, type SimAgent, type SimJob, type SimShard } from './expand.js';

/** Plans from the files' text with the bundled hardware table or `hardwareTable` (a path). */
export function planWithTable(
  fleet: { text: string; file: string },
  workload: { text: string; file: string },
  o: { hardwareTable?: string } & SimOptions = {},
): PlanReport {
  return planFromFiles(loadHardwareTable(o.hardwareTable), fleet, workload, o);
}
