/**
 * @tessera/video: the pure part of video jobs — frame-batch planning, cross-fade weights, colour matching and
 * streaming clip assembly. No I/O and no native dependencies: the coordinator's planner can import it freely.
 * Clip I/O (sharp, ffmpeg) is in `@tessera/video/codecs`; the test-clip maker in `@tessera/video/testing`.
 */
export { VideoPlanError, ClipAssemblyError, type VideoPlanField, type ClipAssemblyField } from './errors.js';
export {
  planFrameBatches,
  validatePlanFrameBatchesInput,
  validateFramePlan,
  batchEnd,
  MAX_TOTAL_FRAMES,
  type BatchMode,
  type BatchLayout,
  type FrameBatch,
  type PlanFrameBatchesInput,
} from './plan.js';
export { crossFadeWeights, frameSources, type FrameSource } from './cross-fade.js';
export {
  ColourStatsAccumulator,
  measureColourStats,
  colourTransferLut,
  applyColourLut,
  isIdentityLut,
  colourMatch,
  requireMaxGain,
  DEFAULT_MAX_GAIN,
  type ColourStats,
  type ColourMatchOptions,
} from './colour.js';
export {
  ClipAssembler,
  assembleClip,
  type ClipAssemblerOptions,
  type FrameSink,
  type AssembledClip,
} from './assembler.js';
export { FrameQueue } from './frame-queue.js';
