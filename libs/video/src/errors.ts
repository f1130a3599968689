/** The input field a {@link VideoPlanError} is about, spelled as on the wire (job parameters). */
export type VideoPlanField = 'total_frames' | 'frames_per_batch' | 'overlap' | 'mode' | 'layout' | 'batches';

/**
 * Invalid frame-batch planning input, or a plan that is not a valid frame-batch plan. `field` names the
 * offending input; the message states the limit, e.g. `overlap 13 must be at most frames_per_batch / 2 = 12`.
 * Thrown only for caller mistakes, never for "no work".
 */
export class VideoPlanError extends Error {
  override readonly name = 'VideoPlanError';
  readonly field: VideoPlanField;

  constructor(field: VideoPlanField, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.field = field;
  }
}

/** The option or argument a {@link ClipAssemblyError} is about. */
export type ClipAssemblyField = 'width' | 'height' | 'total_frames' | 'overlap' | 'batch_index' | 'frames' | 'max_gain';

/**
 * Invalid assembler options, a bad `push` (unknown or repeated batch, wrong frame count or byte length) or a
 * frame buffer of the wrong size given to a colour function. `field` names the offending input.
 */
export class ClipAssemblyError extends Error {
  override readonly name = 'ClipAssemblyError';
  readonly field: ClipAssemblyField;

  constructor(field: ClipAssemblyField, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.field = field;
  }
}

/** Throws `make(message)` unless `value` is an integer in [min, max]. Returns the value. */
export function requireIntIn<E extends Error>(
  make: (message: string) => E,
  name: string,
  value: unknown,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer in [${min}, ${max}]`;
    throw make(`${name} must be ${range}, got ${JSON.stringify(value)}`);
  }
  return value;
}
