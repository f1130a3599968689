/** @tessera/coordinator: the farm's coordinator as a library (the binary is bin/tessera-coordinator.js). */
export { startCoordinator, type CoordinatorHandle } from './main.js';
export { compileCoordinatorOptions, type CoordinatorOptions, type CompiledCoordinatorOptions } from './options.js';
export { Coordinator } from './coordinator.js';
export { cropRgb } from './util.js';
export {
  assign,
  bestAgentFor,
  fits,
  compareShards,
  waitingReason,
  type IdleAgent,
  type QueuedShard,
} from './scheduler.js';
export { planUpscale, deriveSeed } from './planner.js';
export * from './errors.js';
export {
  planWithTable,
  formatPlan,
  checkSchedule,
  PlanInputError,
  type PlanReport,
  type PlanAttempt,
} from './sim/index.js';
