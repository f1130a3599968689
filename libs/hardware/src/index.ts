/**
 * @tessera/hardware: the hardware table (which model needs how much VRAM) as validated data, and the VRAM
 * class math the scheduler matches on. Only `loadHardwareTable` touches the file system.
 */
export type {
  HardwareTable,
  ModelRow,
  ModelKind,
  WorkUnit,
  UpscalerSpec,
  VideoSpec,
  DecodeChunk,
  StageSpec,
} from './types.js';
export { HardwareTableError, VramRequirementError, VramClassLabelError, type VramRequirementReason } from './errors.js';
export { parseHardwareTable } from './parse.js';
export { loadHardwareTable, BUNDLED_TABLE_PATH } from './load.js';
export {
  usableVramGb,
  vramClassOf,
  requiredClassFor,
  fits,
  decodeChunkFor,
  findModel,
  classLabel,
  parseClassLabel,
  type ShardSize,
  type VramClassLabel,
} from './classes.js';
export { ENGINE_IMAGE_PIPELINES, enginePipelineOf } from './pipelines.js';
export { workUnitOf, workUnits, referenceSeconds, defaultSpeed, type WorkShape } from './cost.js';
