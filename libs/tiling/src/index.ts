/**
 * @tessera/tiling: pure tiling and blending math — tile grids, choice of tile size, seam weights and
 * streaming band reassembly. No I/O and no heavy dependencies, so the coordinator can use it freely.
 */
export { TilingError, type TilingField } from './errors.js';
export {
  planTiles,
  validatePlanInput,
  MAX_TILES,
  type Rect,
  type TileSpec,
  type TilePlan,
  type PlanTilesInput,
} from './plan.js';
export {
  chooseTileSize,
  fleetTilingAgents,
  overheadFloor,
  tilingCost,
  type ChooseTileSizeInput,
} from './choose-tile-size.js';
export {
  axisWeight,
  axisWeights,
  axisSupport,
  tileWeight,
  trustedRect,
  validateBlend,
  type Axis,
  type AxisWeights,
} from './weights.js';
export { bandSchedule, type BandSegment } from './band-schedule.js';
export {
  BandAssembler,
  assembleAll,
  peakHeldBytes,
  tileOutputBytes,
  DEFAULT_ACCUMULATOR_BYTES,
  type BlendOptions,
  type BandAssemblerOptions,
  type RowsSink,
} from './assembler.js';
