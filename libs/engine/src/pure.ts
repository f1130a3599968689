/**
 * @tessera/engine/pure — the engine's pure parts: image types and 8-bit conversion, the named
 * errors, the upscaler zoo table, float16 bits, the diffusion schedulers. Importing this entry never
 * loads onnxruntime-node (test/architecture-fences.test.ts checks it), so the coordinator and tools
 * can use them without the native binding.
 */
export type { RgbFloatImage, RgbImage } from './rgb-image.js';
export { assertRgbImage, toRgb8 } from './rgb-image.js';
export {
  classifyEngineError,
  EngineAbortedError,
  EngineClosedError,
  EngineError,
  EngineOutOfMemoryError,
  ExecutionProviderUnavailableError,
  InvalidImageError,
  UnknownModelError,
  UnsupportedModelError,
} from './errors.js';
export type { UpscalerId, UpscalerSpec } from './zoo.js';
export { isUpscalerId, UPSCALER_IDS, upscalerSpec } from './zoo.js';
export { float16BitsToFloat32, float32ToFloat16Bits } from './fp16.js';
export type { NoiseGenerator } from './schedulers/generator.js';
export { createGenerator } from './schedulers/generator.js';
export type {
  DiffusionScheduler,
  PredictionType,
  SchedulerStepOptions,
  SchedulerStepResult,
} from './schedulers/types.js';
export { SchedulerConfigError, SchedulerStateError } from './schedulers/errors.js';
export { EulerDiscreteScheduler } from './schedulers/euler-discrete.js';
export { EulerAncestralDiscreteScheduler } from './schedulers/euler-ancestral-discrete.js';
export { DDIMScheduler } from './schedulers/ddim.js';
export { DPMSolverMultistepScheduler } from './schedulers/dpm-solver-multistep.js';
export { calculateShift, FlowMatchEulerDiscreteScheduler } from './schedulers/flow-match-euler-discrete.js';
