/**
 * The job state machine: queued → running → assembling → succeeded, and failed | cancelled from
 * any unfinished state; a corrupt shard output sends an assembling job back to running. Verbs are
 * functions of the current record (so the shell can apply one again to the stored record after a
 * lost acknowledgement) returning the next record or a refusal.
 */
import { FINAL_JOB_STATES, type JobRecord, type OutputRecord } from '../model.js';
import { refuse, type Verdict } from './verdict.js';

/** A job verb: the next record from the current one. */
export type JobVerb = (cur: JobRecord) => Verdict<JobRecord>;

/** queued → running: its first lease was granted. */
export const start =
  (nowMs: number): JobVerb =>
  (j) =>
    j.state === 'queued' ? { ...j, state: 'running', startedMs: nowMs } : refuse('start', j.state);

/** queued | running → assembling: every shard committed. */
export const assemble: JobVerb = (j) =>
  j.state === 'assembling' || FINAL_JOB_STATES.has(j.state)
    ? refuse('assemble', j.state)
    : { ...j, state: 'assembling' };

/** assembling → running: a shard output was corrupt and runs again. */
export const reopen: JobVerb = (j) =>
  FINAL_JOB_STATES.has(j.state) ? refuse('reopen', j.state) : { ...j, state: 'running' };

/** Records the assembled outputs (primary first) on an assembling job. */
export const recordOutputs =
  (outputs: OutputRecord[]): JobVerb =>
  (j) => {
    if (j.state !== 'assembling') return refuse('record outputs of', j.state);
    return { ...j, outputs };
  };

/** A speculative backup expected to take `seconds` was granted: its budget has spent them. */
export const spendOnBackup =
  (seconds: number): JobVerb =>
  (j) =>
    FINAL_JOB_STATES.has(j.state)
      ? refuse('spend a backup budget of', j.state)
      : { ...j, backupSpentS: (j.backupSpentS ?? 0) + seconds };

/** Any unfinished state → succeeded | failed | cancelled. */
export const finish =
  (state: 'succeeded' | 'failed' | 'cancelled', error: string, nowMs: number): JobVerb =>
  (j) =>
    FINAL_JOB_STATES.has(j.state) ? refuse(`finish (${state})`, j.state) : { ...j, state, error, finishedMs: nowMs };

/** Upscale with refine: the upscaled image is assembled and every refine tile has its input. */
export const refineReady: JobVerb = (j) =>
  j.refine && !FINAL_JOB_STATES.has(j.state)
    ? { ...j, refine: { ...j.refine, ready: true } }
    : refuse('ready the refine of', j.state);
