/** SVD / SVD-XT image-to-video: the folder's public surface (re-exported from the package index). */
export type { SvdPipelineOptions, SvdRunOptions, SvdSubModel, SvdSubModels } from './svd-pipeline.js';
export { SvdPipeline } from './svd-pipeline.js';
export type { CompiledSvdParams, SvdRunParams } from './svd-params.js';
export { compileSvdParams, InvalidVideoParamsError, SVD_LIMITS } from './svd-params.js';
export type { SvdPort, SvdScalarPort, SvdComponent, SvdModelConfig, SvdSignatures } from './svd-model-dir.js';
export { readSvdModelDir, resolveSvdSignatures, SVD_COMPONENTS } from './svd-model-dir.js';
export { addedTimeIds, applyGuidance, guidanceScales, unetSample, usesGuidance } from './svd-math.js';
export { clipPixelValues, resizeRgbLanczos, resizeWithAntialiasing } from './svd-preprocess.js';
