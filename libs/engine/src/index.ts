/**
 * @tessera/engine — the public surface. Everything else in src/ is internal.
 * Only ort-session.ts imports onnxruntime-node; pure parts (conversion, receptive
 * field, toRgb8, zoo table, SVD preprocessing and guidance math, tiny-model builders) can be used without
 * touching a runtime.
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
export { float16BitsToFloat32, float32ToFloat16Bits } from './fp16.js';
export type { NoiseGenerator } from './schedulers/generator.js';
export { createGenerator } from './schedulers/generator.js';
export type {
  DiffusionScheduler,
  PredictionType,
  SchedulerStepOptions,
  SchedulerStepResult,
  TimestepSpacing,
} from './schedulers/types.js';
export type { BetaSchedule } from './schedulers/noise-schedule.js';
export { SchedulerConfigError, SchedulerStateError } from './schedulers/errors.js';
export type { EulerDiscreteSchedulerConfig, EulerDiscreteStepOptions } from './schedulers/euler-discrete.js';
export { EulerDiscreteScheduler } from './schedulers/euler-discrete.js';
export type { EulerAncestralDiscreteSchedulerConfig } from './schedulers/euler-ancestral-discrete.js';
export { EulerAncestralDiscreteScheduler } from './schedulers/euler-ancestral-discrete.js';
export type { DDIMSchedulerConfig, DDIMStepOptions } from './schedulers/ddim.js';
export { DDIMScheduler } from './schedulers/ddim.js';
export type { DPMSolverMultistepSchedulerConfig } from './schedulers/dpm-solver-multistep.js';
export { DPMSolverMultistepScheduler } from './schedulers/dpm-solver-multistep.js';
export type { FlowMatchEulerDiscreteSchedulerConfig } from './schedulers/flow-match-euler-discrete.js';
export { calculateShift, FlowMatchEulerDiscreteScheduler } from './schedulers/flow-match-euler-discrete.js';
export type { ClipEncoding, ClipTokenizerSpec } from './tokenizer/clip-tokenizer.js';
export { CLIP_BOS_TOKEN, CLIP_EOS_TOKEN, ClipTokenizer } from './tokenizer/clip-tokenizer.js';
export type { LoadClipTokenizerOptions } from './tokenizer/load-clip-tokenizer.js';
export { loadClipTokenizer } from './tokenizer/load-clip-tokenizer.js';
export type { ImageToVideoCallOptions } from './engine-host.js';
export type { HostTensor, TensorData, TensorInfo } from './ort-session.js';
export type {
  CompiledSvdParams,
  SvdPort,
  SvdScalarPort,
  SvdComponent,
  SvdModelConfig,
  SvdPipelineOptions,
  SvdRunOptions,
  SvdRunParams,
  SvdSignatures,
  SvdSubModel,
  SvdSubModels,
} from './pipelines/svd/index.js';
export {
  addedTimeIds,
  applyGuidance,
  clipPixelValues,
  compileSvdParams,
  guidanceScales,
  InvalidVideoParamsError,
  readSvdModelDir,
  resizeRgbLanczos,
  resizeWithAntialiasing,
  resolveSvdSignatures,
  SVD_COMPONENTS,
  SVD_LIMITS,
  SvdPipeline,
  unetSample,
  usesGuidance,
} from './pipelines/svd/index.js';
export type { TinySvdOptions } from './onnx-build/tiny-svd.js';
export {
  buildTinyImageEncoder,
  buildTinyUnet,
  buildTinyVaeDecoder,
  buildTinyVaeEncoder,
  SVD_PREPROCESSOR_CONFIG,
  SVD_XT_SCHEDULER_CONFIG,
  writeTinySvdModel,
} from './onnx-build/tiny-svd.js';
// Stable Diffusion family on the Optimum ONNX layout (pipelines/sd): SD 1.x/2.x, SDXL base + refiner, SD3.
export type { GenerateImageCallOptions } from './engine-host.js';
export { SdModelLayoutError, SdParamsError } from './pipelines/sd/errors.js';
export type { OptimumSdLayout, SdFamily, SdVaeConfig } from './pipelines/sd/optimum-layout.js';
export { classifySdPipeline, readOptimumLayout } from './pipelines/sd/optimum-layout.js';
export type { SdModel, SdModelLoader } from './pipelines/sd/sd-model.js';
export type { SdDefaults, SdRunOptions, SdRunParams, SdRunResult } from './pipelines/sd/sd-params.js';
export type { SdSchedulerChoice, SdSchedulerName } from './pipelines/sd/sd-scheduler.js';
export { chooseSdScheduler, SD_SCHEDULER_NAMES } from './pipelines/sd/sd-scheduler.js';
export type { SdLatents } from './pipelines/sd/vae.js';
export type { LoadSdPipelineOptions, SdPipeline } from './pipelines/sd/load-sd-pipeline.js';
export { loadSdPipeline } from './pipelines/sd/load-sd-pipeline.js';
export type { StableDiffusionComponents } from './pipelines/sd/stable-diffusion-pipeline.js';
export { StableDiffusionPipeline } from './pipelines/sd/stable-diffusion-pipeline.js';
export type { StableDiffusionXLComponents } from './pipelines/sd/stable-diffusion-xl-pipeline.js';
export { StableDiffusionXLPipeline } from './pipelines/sd/stable-diffusion-xl-pipeline.js';
export type { StableDiffusionXLRefinerComponents } from './pipelines/sd/stable-diffusion-xl-refiner-pipeline.js';
export { StableDiffusionXLRefinerPipeline } from './pipelines/sd/stable-diffusion-xl-refiner-pipeline.js';
export type { StableDiffusion3Components, Sd3T5Encoder } from './pipelines/sd/stable-diffusion-3-pipeline.js';
export { StableDiffusion3Pipeline } from './pipelines/sd/stable-diffusion-3-pipeline.js';
export type { Txt2ImgFileOptions, Txt2ImgFileResult } from './pipelines/sd/txt2img-file.js';
export { txt2imgFile } from './pipelines/sd/txt2img-file.js';
export type { GenerateImageRequest, SdWorkerConfig } from './pipelines/sd/worker-handler.js';
export { SdWorkerHandler } from './pipelines/sd/worker-handler.js';
export type { TinySdFamily, TinySdModelOptions } from './onnx-build/sd/write-tiny-sd-model.js';
export { writeTinySdModel } from './onnx-build/sd/write-tiny-sd-model.js';
// Stable Cascade (pipelines/cascade): prior (stage C) → decoder (stage B) → VQGAN (stage A), one directory per stage.
export type { DDPMWuerstchenSchedulerConfig } from './schedulers/ddpm-wuerstchen.js';
export { DDPMWuerstchenScheduler } from './schedulers/ddpm-wuerstchen.js';
export type { CascadeLayout, CascadeStage } from './pipelines/cascade/cascade-layout.js';
export { classifyCascade, readCascadeLayout } from './pipelines/cascade/cascade-layout.js';
export { StableCascadePriorPipeline } from './pipelines/cascade/stable-cascade-prior-pipeline.js';
export { StableCascadeDecoderPipeline } from './pipelines/cascade/stable-cascade-decoder-pipeline.js';
export { StableCascadeVqganPipeline } from './pipelines/cascade/stable-cascade-vqgan-pipeline.js';
export type { CascadeChainOptions } from './pipelines/cascade/cascade-chain.js';
export { runCascadeChain } from './pipelines/cascade/cascade-chain.js';
export type { TinyCascadeModelOptions, TinyCascadeStage } from './onnx-build/cascade/write-tiny-cascade-model.js';
export { writeTinyCascadeModel, writeTinyCascadeModels } from './onnx-build/cascade/write-tiny-cascade-model.js';
// Hunyuan-DiT v1.2 (pipelines/hunyuan): BERT + mT5 encoders, DiT with rotary embeddings, DDPM v-prediction.
export type { DDPMSchedulerConfig, DDPMVarianceType } from './schedulers/ddpm.js';
export { DDPMScheduler } from './schedulers/ddpm.js';
export { BertWordPieceTokenizer, loadBertTokenizer } from './tokenizer/bert-wordpiece.js';
export { binHunyuanResolution, hunyuanRotaryEmbedding } from './pipelines/hunyuan/hunyuan-math.js';
export { HunyuanDiTPipeline } from './pipelines/hunyuan/hunyuan-dit-pipeline.js';
export { isHunyuanIndex, readHunyuanLayout } from './pipelines/hunyuan/load-hunyuan-pipeline.js';
export type { TinyHunyuanModelOptions } from './onnx-build/hunyuan/write-tiny-hunyuan-model.js';
export { writeTinyHunyuanModel } from './onnx-build/hunyuan/write-tiny-hunyuan-model.js';
export type { FluxComponents, FluxT5Encoder } from './pipelines/flux/flux-pipeline.js';
export { FluxPipeline } from './pipelines/flux/flux-pipeline.js';
export type { TinyFluxModelOptions, TinyFluxVariant } from './onnx-build/flux/write-tiny-flux-model.js';
export { writeTinyFluxModel } from './onnx-build/flux/write-tiny-flux-model.js';
export type { PixArtComponents, PixArtT5Encoder } from './pipelines/pixart/pixart-pipeline.js';
export { PixArtPipeline } from './pipelines/pixart/pixart-pipeline.js';
export type { TinyPixArtModelOptions, TinyPixArtVariant } from './onnx-build/pixart/write-tiny-pixart-model.js';
export { writeTinyPixArtModel } from './onnx-build/pixart/write-tiny-pixart-model.js';
export type { ControlNetParams, ControlNetSupport } from './pipelines/controlnet/controlnet.js';
export { controlNetKeep, residualShapes } from './pipelines/controlnet/controlnet.js';
export type { TinyControlNetOptions } from './onnx-build/controlnet/tiny-controlnet.js';
export { writeTinyControlNet } from './onnx-build/controlnet/tiny-controlnet.js';
export type { ControlPreprocessor } from './pipelines/controlnet/preprocess.js';
export {
  cannyEdges,
  CONTROL_PREPROCESSORS,
  gaussianBlur,
  preprocessControlImage,
} from './pipelines/controlnet/preprocess.js';
export type { TinyVaeOptions } from './onnx-build/vae/write-tiny-vae.js';
export { writeTinyVae } from './onnx-build/vae/write-tiny-vae.js';
