/** Serialises async work per key (one shard's transitions never interleave). */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  /**
   * Runs `fn` after every earlier call with the same key has settled. With none pending, `fn` starts
   * at once, in this call: a grant's write goes out now rather than after every microtask queued
   * before it (on a busy coordinator that wait was most of a grant's latency). A call made while
   * `fn` runs, for the same key, still waits for it.
   */
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key);
    let settle!: () => void;
    const tail = new Promise<void>((r) => (settle = r));
    this.tails.set(key, tail);
    const next = prev ? prev.then(fn, fn) : start(fn);
    next.then(settle, settle);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }
}

function start<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (e) {
    return Promise.reject(e);
  }
}
