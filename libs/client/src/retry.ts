/** Consecutive UNAVAILABLE answers a watch survives (about 40 s of backoff) before it gives up. */
export const MAX_WATCH_RETRIES = 10;

/** Delay before retry `attempt` (1-based): 250 ms doubling, capped at 5 s. Pure. */
export function retryDelayMs(attempt: number): number {
  return Math.min(250 * 2 ** Math.max(0, attempt - 1), 5_000);
}
