/**
 * Time and identity, injected: the coordinator never calls Date.now(), setTimeout or randomBytes
 * itself, so tests move time by hand and the simulator runs the same code under virtual time.
 */

/** A pending timer. */
export interface Timer {
  cancel(): void;
}

/** A time source with timers. */
export interface Clock {
  now(): number;
  /** Runs `fn` once after `ms` (a timer that does not keep the process alive). */
  after(ms: number, fn: () => void): Timer;
}

/** Wall-clock time and Node timers (unref'd: they never hold the process open). */
export const systemClock: Clock = {
  now: () => Date.now(),
  after(ms, fn) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

/** `c` with timers: its own when it has them, Node's (unref'd) otherwise (a time source from before timers were injected). */
export function withTimers(c: { now(): number; after?: Clock['after'] }): Clock {
  return c.after ? (c as Clock) : { now: () => c.now(), after: systemClock.after };
}

/** A clock moved by hand: `advance(ms)` fires the timers that come due, in time order. */
export class ManualClock implements Clock {
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  constructor(public t = 0) {}

  now(): number {
    return this.t;
  }

  after(ms: number, fn: () => void): Timer {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return { cancel: () => this.timers.delete(id) };
  }

  /** Moves time forward by `ms`, running each due timer at its own time. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = next[1].at;
      next[1].fn();
    }
    this.t = end;
  }
}

/** Where new job ids come from. */
export interface IdSource {
  /** A new job id for a job created at `nowMs`: time-ordered, URL- and subject-safe. */
  jobId(nowMs: number): string;
}

/** Job ids from a seeded generator (tests, the simulator): `j<time36><counter>`. */
export function sequentialIds(prefix = ''): IdSource {
  let n = 0;
  return { jobId: (nowMs) => `j${nowMs.toString(36)}${prefix}${(n++).toString(16).padStart(10, '0')}` };
}
