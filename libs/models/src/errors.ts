/** Named errors of the model store and the agent's model cache (STYLE habit 7). */

/** The command a user runs to put a model into the farm's store; every "missing model" message names it. */
export const PUSH_HINT = 'tessera models push';

/** A model id or file path that cannot be stored (bad characters, `..`, too long). */
export class InvalidModelError extends Error {
  override readonly name = 'InvalidModelError';
  constructor(
    message: string,
    /** The offending field (`id`, `dir`, `path`). */
    readonly field: string,
  ) {
    super(message);
  }
}

/** The store has no manifest for this model id. */
export class ModelNotFoundError extends Error {
  override readonly name = 'ModelNotFoundError';
  constructor(readonly modelId: string) {
    super(`model ${modelId} is not in the farm's model store; push it with \`${PUSH_HINT} ${modelId} DIR\``);
  }
}

/**
 * Bytes read from the store (or a cache) do not match the SHA-256 or size their manifest recorded:
 * a corrupt chunk, a truncated file. Never loaded; the reader deletes what it wrote.
 */
export class ModelIntegrityError extends Error {
  override readonly name = 'ModelIntegrityError';
  constructor(
    readonly modelId: string,
    readonly path: string,
    readonly expected: { sha256: string; size: number },
    readonly got: { sha256: string; size: number },
    options?: { cause?: unknown },
  ) {
    super(
      `model ${modelId}: file ${path} is corrupt: expected ${expected.size} bytes with SHA-256 ${expected.sha256}, ` +
        `read ${got.size} bytes with SHA-256 ${got.sha256}; re-push it with \`${PUSH_HINT} ${modelId} DIR\``,
      options,
    );
  }
}

/** A model does not fit the agent's cache (`--model-cache-gb`) even with every idle model evicted. */
export class ModelTooLargeError extends Error {
  override readonly name = 'ModelTooLargeError';
  constructor(
    readonly modelId: string,
    readonly bytes: number,
    readonly capacityBytes: number,
  ) {
    super(
      `model ${modelId} (${bytes} bytes) does not fit this agent's model cache (${capacityBytes} bytes, --model-cache-gb)`,
    );
  }
}
