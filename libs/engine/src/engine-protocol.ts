/**
 * Messages between EngineHost (parent) and engine-worker (child process), carried over the IPC
 * channel with serialization 'advanced' so Uint8Array pixel data travels without base64. Pure.
 */
import {
  EngineAbortedError,
  EngineClosedError,
  EngineError,
  EngineOutOfMemoryError,
  ExecutionProviderUnavailableError,
  InvalidImageError,
  UnknownModelError,
  UnsupportedModelError,
} from './errors.js';
import type { ExecutionProviderName } from './ort-upscaler.js';
import { SdModelLayoutError, SdParamsError } from './pipelines/sd/errors.js';
import type { SdRunParams, SdRunResult } from './pipelines/sd/sd-params.js';
import { InvalidVideoParamsError, type SvdRunParams } from './pipelines/svd/svd-params.js';
import type { RgbImage } from './rgb-image.js';

/** Fixed configuration of one worker process, passed as its first argv entry (JSON). */
export interface WorkerConfig {
  executionProvider: ExecutionProviderName;
  deviceId?: number;
  threads?: number;
  cacheDir?: string;
}

/** A unit of work the host sends to its worker. */
export type WorkRequest =
  | { type: 'upscale'; modelId: string; image: RgbImage }
  /** SVD / SVD-XT image-to-video from a model directory (docs/svd-models.md). */
  | { type: 'image-to-video'; modelDir: string; params: SvdRunParams }
  /** Stable Diffusion txt2img / img2img from an Optimum ONNX model directory (pipelines/sd). */
  | { type: 'generate-image'; modelDir: string; params: SdRunParams; vaeDir?: string };

/** Parent → child. A worker runs one request at a time; the host never sends a second before the reply. */
export type HostMessage = (WorkRequest & { id: number }) | { type: 'shutdown' };

/**
 * Child → parent. Every request gets exactly one 'result' (upscale), 'frames' (image-to-video), 'generated'
 * (generate-image) or 'error'
 * with its id; 'progress' may come before it, with `step` set after each denoising step.
 */
export type WorkerMessage =
  | { type: 'progress'; id: number; fraction: number; step?: { i: number; n: number } }
  | { type: 'result'; id: number; image: RgbImage; loadedModels: string[] }
  | { type: 'frames'; id: number; frames: RgbImage[]; loadedModels: string[] }
  | { type: 'generated'; id: number; result: SdRunResult; loadedModels: string[] }
  | { type: 'error'; id: number; error: SerializedError; loadedModels: string[] };

/** An error flattened for the IPC channel; `name` selects the class it is rebuilt as. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  provider?: string;
  modelId?: string;
  layer?: string;
  field?: string;
  path?: string;
}

/** Flattens an engine error for the channel (the worker classifies whatever it caught first). */
export function serializeError(err: EngineError): SerializedError {
  const extra = err as Partial<
    ExecutionProviderUnavailableError &
      UnknownModelError &
      UnsupportedModelError &
      InvalidVideoParamsError &
      SdModelLayoutError
  >;
  return {
    name: err.name,
    message: err.message,
    stack: err.stack,
    ...(extra.provider !== undefined ? { provider: extra.provider } : {}),
    ...(extra.modelId !== undefined ? { modelId: extra.modelId } : {}),
    ...(extra.layer !== undefined ? { layer: extra.layer } : {}),
    ...(extra.field !== undefined ? { field: extra.field } : {}),
    ...(extra.path !== undefined ? { path: extra.path } : {}),
  };
}

/** Rebuilds the named engine error class; the worker-side error (with its stack) becomes `cause`. */
export function deserializeError(e: SerializedError): EngineError {
  const cause = Object.assign(new Error(e.message), { name: `${e.name} (in engine worker)`, stack: e.stack });
  switch (e.name) {
    case 'EngineOutOfMemoryError':
      return new EngineOutOfMemoryError(e.message, { cause });
    case 'EngineAbortedError':
      return new EngineAbortedError(e.message, { cause });
    case 'EngineClosedError':
      return new EngineClosedError(e.message, { cause });
    case 'ExecutionProviderUnavailableError':
      return new ExecutionProviderUnavailableError(e.provider ?? 'unknown', e.message, { cause });
    case 'UnknownModelError':
      return new UnknownModelError(e.modelId ?? '', e.message);
    case 'InvalidImageError':
      return new InvalidImageError(e.message, { cause });
    case 'UnsupportedModelError':
      return Object.assign(new UnsupportedModelError('', e.message), { layer: e.layer ?? '' });
    case 'InvalidVideoParamsError':
      return Object.assign(new InvalidVideoParamsError(e.field ?? '', ''), { message: e.message, cause });
    case 'SdParamsError':
      return Object.assign(new SdParamsError(e.field ?? '', ''), { message: e.message, cause });
    case 'SdModelLayoutError':
      return Object.assign(new SdModelLayoutError(e.path ?? '', '', { cause }), { message: e.message });
    default:
      return new EngineError(e.message, { cause });
  }
}
