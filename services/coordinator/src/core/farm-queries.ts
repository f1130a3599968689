/** Queries over the farm state that walk every job held (the API's listings, limits and retention). */
import { FINAL_JOB_STATES, type JobRecord } from '../model.js';
import type { FarmState } from './farm.js';

/** The newest `limit` jobs held (unfinished, or finished and retained), newest first. */
export function recentJobs(farm: FarmState, limit: number): JobRecord[] {
  return [...farm.jobs.values()]
    .map((h) => h.rec)
    .sort((a, b) => b.createdMs - a.createdMs || (a.id < b.id ? 1 : -1))
    .slice(0, limit);
}

/** What `owner` holds now (for the per-user limits); one pass over the jobs. */
export function ownerUsage(farm: FarmState, owner: string): { unfinishedJobs: number; queuedShards: number } {
  let unfinishedJobs = 0;
  let queuedShards = 0;
  for (const { rec } of farm.jobs.values()) {
    if ((rec.owner ?? '') !== owner || FINAL_JOB_STATES.has(rec.state)) continue;
    unfinishedJobs++;
    queuedShards += farm.queue.jobQueued(rec.id).count;
  }
  return { unfinishedJobs, queuedShards };
}

/** Finished jobs older than the retention period. */
export function expiredJobs(farm: FarmState, nowMs: number, retentionMs: number): JobRecord[] {
  return [...farm.jobs.values()]
    .map((h) => h.rec)
    .filter((j) => FINAL_JOB_STATES.has(j.state) && j.finishedMs > 0 && nowMs - j.finishedMs > retentionMs);
}
