import { OutputIntegrityError, TesseraRpcError } from '../errors.js';

/**
 * The one stderr line the CLI prints for a failure: `tessera: <CODE>: <details>` for a server error,
 * `tessera: <message>` otherwise. Never a stack trace. `server` adds a hint when it cannot be reached. Pure.
 */
export function formatCliError(err: unknown, server?: string): string {
  if (err instanceof TesseraRpcError) {
    const hint =
      err.code === 'UNAVAILABLE' && server !== undefined
        ? ` (is a coordinator serving ${server}? set --server or TESSERA_SERVER)`
        : '';
    // grpc-js appends an empty "Resolution note:" to connection failures; it only adds noise.
    const details = err.details.replace(/\s*Resolution note:\s*$/, '');
    return `tessera: ${err.code}: ${details}${hint}`;
  }
  if (err instanceof OutputIntegrityError) return `tessera: DATA_LOSS: job ${err.jobId}: ${err.message}`;
  if (err instanceof Error) return `tessera: ${err.message}`;
  return `tessera: ${String(err)}`;
}
