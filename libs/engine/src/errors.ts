/**
 * Named engine errors. Infrastructure failures (onnxruntime, CUDA, the worker process) are translated
 * into these classes at the adapter that saw them, so callers branch on `instanceof`, never on message text.
 */

/** Base class of every engine failure; `cause` holds the underlying error when there is one. */
export class EngineError extends Error {
  override name = 'EngineError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * The accelerator or host ran out of memory (onnxruntime/CUDA allocation failure, `bad_alloc`).
 * The farm retries such a shard one VRAM class up.
 */
export class EngineOutOfMemoryError extends EngineError {
  override name = 'EngineOutOfMemoryError';
}

/** The call was cancelled through its AbortSignal; an in-flight inference was killed with its worker. */
export class EngineAbortedError extends EngineError {
  override name = 'EngineAbortedError';
  constructor(message = 'engine call aborted', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The EngineHost was closed before or while the call ran. */
export class EngineClosedError extends EngineError {
  override name = 'EngineClosedError';
}

/** An execution provider was requested that this onnxruntime-node installation does not provide. */
export class ExecutionProviderUnavailableError extends EngineError {
  override name = 'ExecutionProviderUnavailableError';
  constructor(
    readonly provider: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A model id that is neither a known zoo id nor a path to an existing .onnx file. */
export class UnknownModelError extends EngineError {
  override name = 'UnknownModelError';
  constructor(
    readonly modelId: string,
    message?: string,
  ) {
    super(message ?? `unknown model '${modelId}': not a zoo id and not an existing .onnx file`);
  }
}

/** An input or output image does not fit the model's or the codec's contract. */
export class InvalidImageError extends EngineError {
  override name = 'InvalidImageError';
}

/**
 * The TF.js layers model uses a layer or a configuration the converter does not translate.
 * `layer` names the offending layer (or '' for model-level problems); nothing is silently approximated.
 */
export class UnsupportedModelError extends EngineError {
  override name = 'UnsupportedModelError';
  constructor(
    readonly layer: string,
    message: string,
  ) {
    super(layer ? `layer '${layer}': ${message}` : message);
  }
}

const OOM_PATTERN =
  /out of memory|failed to allocate|allocation fail|bad_alloc|cudaErrorMemoryAllocation|CUDA_ERROR_OUT_OF_MEMORY|CUBLAS_STATUS_ALLOC_FAILED|CUDNN_STATUS_ALLOC_FAILED|cannot allocate memory/i;

/**
 * Translates anything thrown by onnxruntime (or received from the worker) into an EngineError.
 * Engine errors pass through unchanged; memory exhaustion becomes EngineOutOfMemoryError; the rest
 * becomes EngineError with `context` prefixed and the original as `cause`. Pure.
 */
export function classifyEngineError(err: unknown, context: string): EngineError {
  if (err instanceof EngineError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (OOM_PATTERN.test(message)) {
    return new EngineOutOfMemoryError(`${context}: out of memory: ${message}`, { cause: err });
  }
  return new EngineError(`${context}: ${message}`, { cause: err });
}
