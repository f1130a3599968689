import { status, type ServiceError } from '@grpc/grpc-js';

/** Name of a gRPC status code as the spec spells it ("INVALID_ARGUMENT"); "UNKNOWN" for codes outside the set. */
export type RpcCodeName = keyof typeof status;

/**
 * A failed call to the farm, translated from grpc-js's ServiceError at the client edge.
 * `code` is the status name, `details` the server's message (which names the offending field for
 * INVALID_ARGUMENT); the original error is kept as `cause`.
 */
export class TesseraRpcError extends Error {
  override readonly name = 'TesseraRpcError';
  /** Status name, e.g. "NOT_FOUND". */
  readonly code: RpcCodeName;
  /** Numeric gRPC status. */
  readonly grpcCode: number;
  /** The server's message, without the "5 NOT_FOUND: " prefix grpc-js adds. */
  readonly details: string;
  /** The RPC that failed, e.g. "GetJob". */
  readonly method: string;
  /** The server refused before doing anything (trailer `x-tessera-retry-safe`): retrying is safe. */
  readonly retrySafe: boolean;

  constructor(grpcCode: number, details: string, method: string, options?: { cause?: unknown; retrySafe?: boolean }) {
    const code = codeName(grpcCode);
    super(`${method}: ${code}: ${details}`, options);
    this.grpcCode = grpcCode;
    this.code = code;
    this.details = details;
    this.method = method;
    this.retrySafe = options?.retrySafe ?? false;
  }
}

/** The output a server streamed does not match what it announced (size, offsets or SHA-256). */
export class OutputIntegrityError extends Error {
  override readonly name = 'OutputIntegrityError';
  constructor(
    message: string,
    /** The job whose output failed the check. */
    readonly jobId: string,
  ) {
    super(message);
  }
}

/** Trailer the coordinator sets on an answer given before doing anything (no leader yet). */
export const RETRY_SAFE = 'x-tessera-retry-safe';

/** Status name for a numeric gRPC code. */
export function codeName(grpcCode: number): RpcCodeName {
  const name = (status as unknown as Record<number, string>)[grpcCode];
  return (typeof name === 'string' ? name : 'UNKNOWN') as RpcCodeName;
}

/** True for grpc-js's ServiceError shape (an Error with a numeric `code` and string `details`). */
export function isServiceError(err: unknown): err is ServiceError {
  return (
    err instanceof Error &&
    typeof (err as Partial<ServiceError>).code === 'number' &&
    typeof (err as Partial<ServiceError>).details === 'string'
  );
}

/**
 * Translates a grpc-js ServiceError into a TesseraRpcError; anything else is returned unchanged.
 * Idempotent: a TesseraRpcError passes through.
 */
export function toRpcError(err: unknown, method: string): unknown {
  if (err instanceof TesseraRpcError || !isServiceError(err)) return err;
  const retrySafe = err.code === status.UNAVAILABLE && (err.metadata?.get(RETRY_SAFE).length ?? 0) > 0;
  return new TesseraRpcError(err.code, err.details, method, { cause: err, retrySafe });
}
