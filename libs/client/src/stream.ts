import type { ClientReadableStream } from '@grpc/grpc-js';
import { toRpcError } from './errors.js';

/** Messages buffered before the call is paused; keeps a slow consumer from holding a whole output in memory. */
const HIGH_WATER = 16;

/**
 * Reads a server-streaming call as an async iterable. Errors arrive translated (TesseraRpcError); leaving
 * the loop early or aborting `signal` cancels the call, and an abort rejects with the signal's reason.
 * The call always keeps an 'error' listener, so a late CANCELLED status never becomes an uncaught error.
 */
export async function* readStream<T>(
  call: ClientReadableStream<T>,
  method: string,
  signal?: AbortSignal,
): AsyncGenerator<T, void, undefined> {
  const queue: T[] = [];
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };

  call.on('data', (msg: T) => {
    queue.push(msg);
    if (queue.length >= HIGH_WATER) call.pause();
    notify();
  });
  call.on('error', (err: unknown) => {
    if (!ended) failure = err;
    ended = true;
    notify();
  });
  call.on('end', () => {
    ended = true;
    notify();
  });
  const onAbort = (): void => call.cancel();
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) call.cancel();

  try {
    for (;;) {
      if (signal?.aborted) throw signal.reason;
      if (queue.length > 0) {
        const msg = queue.shift() as T;
        if (queue.length < HIGH_WATER / 2 && call.isPaused()) call.resume();
        yield msg;
        continue;
      }
      if (ended) break;
      await new Promise<void>((resolve) => (wake = resolve));
    }
    if (signal?.aborted) throw signal.reason;
    if (failure !== undefined) throw toRpcError(failure, method);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    if (!ended) {
      ended = true;
      call.cancel();
    }
  }
}
