/**
 * @tessera/engine — the public surface. Everything else in src/ is internal.
 * Only ort-upscaler.ts imports onnxruntime-node; pure parts (conversion, receptive field, toRgb8,
 * zoo table) can be used without touching a runtime.
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
export type { ConvertedModel } from './convert/to-onnx.js';
export { CONVERTED_OPSET, CONVERTER_VERSION, convertLayersModelToOnnx } from './convert/to-onnx.js';
export type { UpscalerId, UpscalerSpec } from './zoo.js';
export { isUpscalerId, UPSCALER_IDS, upscalerSpec } from './zoo.js';
export type { ModelCacheOptions } from './model-cache.js';
export { ensureUpscalerModel, resolveCacheDir } from './model-cache.js';
export type { ExecutionProviderInfo, ExecutionProviderName, UpscalerOptions } from './ort-upscaler.js';
export { executionProviders, Upscaler } from './ort-upscaler.js';
export { decodeToRgb, encodeRgbPng } from './image-codec.js';
export type { UpscaleFileResult } from './single-pass.js';
export { upscaleImageFile } from './single-pass.js';
export type { EngineHostOptions, UpscaleCallOptions } from './engine-host.js';
export { EngineHost } from './engine-host.js';
