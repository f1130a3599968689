/**
 * Named errors of the coordinator. Each carries the request field it is about (when any); the gRPC
 * layer alone turns them into status codes.
 */

/** A request field is invalid. → INVALID_ARGUMENT */
export class InvalidArgumentError extends Error {
  override readonly name = 'InvalidArgumentError';
  constructor(
    readonly field: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${field}: ${message}`, options);
  }
}

/** A request is valid but larger than a configured limit. → RESOURCE_EXHAUSTED */
export class LimitExceededError extends Error {
  override readonly name = 'LimitExceededError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** The job (or other entity) does not exist. → NOT_FOUND */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
}

/** The operation does not apply in the entity's current state. → FAILED_PRECONDITION */
export class FailedPreconditionError extends Error {
  override readonly name = 'FailedPreconditionError';
}

/** A compare-and-set on persisted state lost a race (another writer got there first). */
export class StaleRevisionError extends Error {
  override readonly name = 'StaleRevisionError';
  constructor(
    readonly key: string,
    options?: { cause?: unknown },
  ) {
    super(`stale revision for ${key}`, options);
  }
}

/** This replica is not (or no longer surely) the leader: it must not write state. → UNAVAILABLE */
export class NotLeaderError extends Error {
  override readonly name = 'NotLeaderError';
}
