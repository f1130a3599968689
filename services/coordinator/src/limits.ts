/**
 * Per-user limits on submissions: unfinished jobs (`--max-jobs-per-user`) and queued shards
 * (`--max-queued-shards-per-user`). The owner is the authenticated user ('' = anonymous: without
 * authentication every caller is that one user). Submissions of one owner are admitted one at a
 * time while a per-user limit is set, so two concurrent submissions cannot both slip under a limit.
 */
import { LimitExceededError } from './errors.js';
import { KeyedMutex } from './mutex.js';

/** Per-user limits; 0 = unlimited. */
export interface UserLimits {
  maxJobsPerUser: number;
  maxQueuedShardsPerUser: number;
}

/** What one owner holds in the farm now. */
export interface OwnerUsage {
  /** Jobs not yet succeeded, failed or cancelled. */
  unfinishedJobs: number;
  /** Shards in state queued. */
  queuedShards: number;
}

/** How an owner is named in messages. */
export function ownerLabel(owner: string): string {
  return owner ? `user ${JSON.stringify(owner)}` : 'the anonymous user';
}

/** Throws RESOURCE_EXHAUSTED when `owner` may not start one more job. */
export function checkUserJobs(limits: UserLimits, owner: string, usage: OwnerUsage): void {
  const max = limits.maxJobsPerUser;
  if (max > 0 && usage.unfinishedJobs >= max) {
    throw new LimitExceededError(
      'job',
      `${ownerLabel(owner)} has ${usage.unfinishedJobs} unfinished jobs, the per-user limit (--max-jobs-per-user) is ${max}; wait for one to finish or cancel one`,
    );
  }
}

/** Throws RESOURCE_EXHAUSTED when `more` queued shards would put `owner` above its limit. */
export function checkUserShards(limits: UserLimits, owner: string, usage: OwnerUsage, more: number): void {
  const max = limits.maxQueuedShardsPerUser;
  if (max > 0 && usage.queuedShards + more > max) {
    throw new LimitExceededError(
      'job',
      `${ownerLabel(owner)} has ${usage.queuedShards} shards queued; ${more} more would exceed the per-user limit (--max-queued-shards-per-user) of ${max}; try again later`,
    );
  }
}

/**
 * Runs submissions under the per-user limits: `admit(owner, submit)` checks the owner's unfinished
 * jobs, then runs `submit` (which checks queued shards once the job is planned, see
 * Coordinator.checkQueueRoom) with no other submission of the same owner in between.
 */
export class UserAdmission {
  private readonly locks = new KeyedMutex();

  constructor(
    private readonly limits: UserLimits,
    private readonly usage: (owner: string) => OwnerUsage,
  ) {}

  admit<T>(owner: string, submit: () => Promise<T>): Promise<T> {
    if (!this.limits.maxJobsPerUser && !this.limits.maxQueuedShardsPerUser) return submit();
    return this.locks.run(owner, async () => {
      checkUserJobs(this.limits, owner, this.usage(owner));
      return submit();
    });
  }
}
