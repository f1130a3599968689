/**
 * Bridges the synchronous `onFrame` callback of a `ClipAssembler` to an async consumer such as an encoder:
 * `push` queues a frame, `frames` yields them in order, `end` / `fail` finish the stream.
 */

/**
 * An unbounded single-consumer queue of frames. Invariants: `frames` yields exactly the pushed frames, in push
 * order, then ends after `end()` (or throws the error given to `fail`). It holds the frames pushed but not yet
 * consumed — an encoder slower than the arriving batches makes it grow; `size` reports it.
 */
export class FrameQueue {
  private readonly items: Uint8Array[] = [];
  private head = 0;
  private closed = false;
  private error: unknown = undefined;
  private wake: (() => void) | undefined;

  /** Queues a frame; throws once the queue was ended. Usable directly as `onFrame: (_i, f) => q.push(f)`. */
  push(frame: Uint8Array): void {
    if (this.closed) throw new Error('FrameQueue: push after end');
    this.items.push(frame);
    this.notify();
  }

  /** No more frames: the consumer finishes after the queued ones. */
  end(): void {
    this.closed = true;
    this.notify();
  }

  /** Ends the stream with an error, thrown to the consumer after the queued frames. */
  fail(error: unknown): void {
    this.error = error ?? new Error('FrameQueue failed');
    this.end();
  }

  /** Frames queued and not yet consumed. */
  get size(): number {
    return this.items.length - this.head;
  }

  /** The frames, for one consumer. */
  async *frames(): AsyncGenerator<Uint8Array> {
    for (;;) {
      while (this.head < this.items.length) {
        const f = this.items[this.head];
        this.items[this.head++] = undefined as unknown as Uint8Array; // release as we go
        if (this.head > 1024 && this.head * 2 > this.items.length) {
          this.items.splice(0, this.head);
          this.head = 0;
        }
        yield f;
      }
      if (this.closed) {
        if (this.error !== undefined) throw this.error;
        return;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}
