import { Presets, SingleBar } from 'cli-progress';
import type { Job, WatchJobResponse } from '@tessera/protocol';
import { jobStateName } from '../states.js';

/** One plain-text progress line, as printed when stderr is not a terminal. Pure. */
export function progressLine(job: Job): string {
  const waiting = job.waitingReason !== '' ? ` (waiting: ${job.waitingReason})` : '';
  return `job ${job.id}: ${jobStateName(job.state)} ${job.shardsDone}/${job.shardsTotal} shards${waiting}`;
}

/** Where progress goes: stderr, so stdout stays clean for ids and JSON. */
export interface ProgressStream {
  isTTY?: boolean;
  write(chunk: string): unknown;
}

/**
 * Shows a job's progress from its WatchJob events: a cli-progress bar (shards done / total, state)
 * on a terminal, otherwise one line whenever the state or the number of shards done changes.
 */
export class JobProgress {
  private bar: SingleBar | undefined;
  private last = '';

  constructor(private readonly stream: ProgressStream = process.stderr) {}

  /** Feeds one event; events without a job are ignored. */
  update(event: WatchJobResponse): void {
    if (event.job) this.show(event.job);
  }

  /** Shows a job snapshot (e.g. the one SubmitJob returned). */
  show(job: Job): void {
    const total = Math.max(job.shardsTotal, 1);
    const payload = {
      state: jobStateName(job.state),
      note: job.waitingReason !== '' ? `waiting: ${job.waitingReason}` : '',
    };
    if (this.stream.isTTY) {
      if (!this.bar) {
        this.bar = new SingleBar(
          {
            format: 'job {jobId} [{bar}] {value}/{total} shards | {state} {note}',
            stream: this.stream as NodeJS.WritableStream,
            hideCursor: true,
            clearOnComplete: false,
          },
          Presets.shades_classic,
        );
        this.bar.start(total, job.shardsDone, { ...payload, jobId: job.id });
      } else {
        this.bar.setTotal(total);
        this.bar.update(job.shardsDone, payload);
      }
      return;
    }
    const line = progressLine(job);
    if (line !== this.last) this.stream.write(`${line}\n`);
    this.last = line;
  }

  /** Stops the bar and leaves the cursor on a fresh line. */
  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}
