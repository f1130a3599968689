/**
 * The test-only engine slowdown (TESSERA_TEST_ENGINE_SLOWDOWN, zero-work agents): after the engine
 * ran for `engineMs`, the slot waits `delayMs` more, as a slower device would take.
 */

/**
 * Waits `delayMs` (until `signal` aborts), reporting meanwhile the progress a slower device would
 * (the share of the whole run that has passed, below 1), so the coordinator sees a straggler as one
 * rather than as a shard about to finish.
 */
export async function slowDown(
  engineMs: number,
  delayMs: number,
  progress: (fraction: number) => void,
  signal: AbortSignal,
): Promise<void> {
  const t0 = performance.now();
  const total = engineMs + delayMs;
  const tick = () => progress(Math.min(0.99, (engineMs + performance.now() - t0) / total));
  tick();
  const timer = setInterval(tick, 100);
  try {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, delayMs);
      signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    });
  } finally {
    clearInterval(timer);
  }
}
