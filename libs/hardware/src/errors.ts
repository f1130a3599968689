/**
 * A hardware table that cannot be read or is invalid. The message names the file, the key path (with the
 * model id) and the problem, e.g.
 * `hardware table ./x.yaml: models[3] (sdxl).min_vram_gb must be a number ≥ 0, got "eight"`.
 */
export class HardwareTableError extends Error {
  override readonly name = 'HardwareTableError';
  /** File or source name as given to the loader. */
  readonly file: string;
  /** Key path of the offending value ('' for the whole file). */
  readonly path: string;
  /** The problem alone, without file and path. */
  readonly problem: string;

  constructor(file: string, path: string, problem: string, options?: { cause?: unknown }) {
    super(`hardware table ${file}: ${path ? `${path} ` : ''}${problem}`, options);
    this.file = file;
    this.path = path;
    this.problem = problem;
  }
}

/** Why a requirement could not be computed. */
export type VramRequirementReason = 'above-largest-class' | 'too-many-frames' | 'bad-size' | 'unknown-stage';

/**
 * A shard whose requirement no VRAM class satisfies (or whose size is invalid for its model). Such a shard
 * can never be placed, so the job should be refused up front.
 */
export class VramRequirementError extends Error {
  override readonly name = 'VramRequirementError';
  readonly modelId: string;
  readonly reason: VramRequirementReason;
  /** The computed need in GB (NaN when the size itself was invalid). */
  readonly requiredGb: number;

  constructor(modelId: string, reason: VramRequirementReason, requiredGb: number, message: string) {
    super(message);
    this.modelId = modelId;
    this.reason = reason;
    this.requiredGb = requiredGb;
  }
}

/** A string that is not a VRAM class label ("cpu" or "<gb>gb"). */
export class VramClassLabelError extends Error {
  override readonly name = 'VramClassLabelError';
  readonly label: string;

  constructor(label: string) {
    super(`not a VRAM class label: ${JSON.stringify(label)} (expected "cpu" or e.g. "8gb")`);
    this.label = label;
  }
}
