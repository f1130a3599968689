/** The input field a {@link TilingError} is about (the same name the caller passed it under). */
export type TilingField =
  | 'width'
  | 'height'
  | 'tile'
  | 'overlap'
  | 'scale'
  | 'margin'
  | 'channels'
  | 'chunkRows'
  | 'agents'
  | 'minTile'
  | 'maxTile'
  | 'align'
  | 'maxOverhead'
  | 'shardOverheadPx'
  | 'tileIndex'
  | 'data';

/**
 * Invalid tiling or blending input. `field` names the offending option; the message states the limit,
 * e.g. `tile 16 must be larger than overlap 16`. Thrown only for caller mistakes, never for "no work".
 */
export class TilingError extends Error {
  override readonly name = 'TilingError';
  readonly field: TilingField;

  constructor(field: TilingField, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.field = field;
  }
}

/** Throws unless `value` is an integer ≥ `min`. */
export function requireInt(field: TilingField, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    const what = min === 1 ? 'a positive integer' : `an integer ≥ ${min}`;
    throw new TilingError(field, `${field} must be ${what}, got ${JSON.stringify(value)}`);
  }
  return value;
}
