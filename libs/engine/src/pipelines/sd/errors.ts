import { EngineError } from '../../errors.js';

/** A generation parameter is out of range or inconsistent with the model; `field` names it (`strength`, `width`, …). */
export class SdParamsError extends EngineError {
  override name = 'SdParamsError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/**
 * A model directory is not a usable Optimum ONNX Stable-Diffusion layout (missing `model_index.json` or
 * sub-model, unknown pipeline class, a sub-model without an expected input or output). `path` names the
 * offending file or folder.
 */
export class SdModelLayoutError extends EngineError {
  override name = 'SdModelLayoutError';
  constructor(
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${path}: ${message}`, options);
  }
}
