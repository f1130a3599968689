import { NotLeaderError } from '../errors.js';
import type { JobRecord, ShardRecord } from '../model.js';
import type { StateStore } from './store.js';

/**
 * A StateStore that refuses every write unless `isLeader()` says this replica still surely holds
 * the leader lease (leader.ts). A leader that was paused, or cut off from NATS, past its fence
 * stops writing before a standby can take over; reads pass through.
 */
export class FencedStateStore implements StateStore {
  constructor(
    private readonly inner: StateStore,
    private readonly isLeader: () => boolean,
  ) {}

  private check(what: string): void {
    if (!this.isLeader()) throw new NotLeaderError(`not the leader: refusing to ${what}`);
  }

  loadAll() {
    return this.inner.loadAll();
  }
  getJob(jobId: string) {
    return this.inner.getJob(jobId);
  }
  getShard(jobId: string, index: number) {
    return this.inner.getShard(jobId, index);
  }
  loadShards(jobId: string, shardCount: number) {
    return this.inner.loadShards(jobId, shardCount);
  }
  createJob(job: JobRecord) {
    this.check(`create job ${job.id}`);
    return this.inner.createJob(job);
  }
  updateJob(job: JobRecord, revision: number) {
    this.check(`update job ${job.id}`);
    return this.inner.updateJob(job, revision);
  }
  createShard(shard: ShardRecord) {
    this.check(`create shard ${shard.jobId}/${shard.index}`);
    return this.inner.createShard(shard);
  }
  updateShard(shard: ShardRecord, revision: number) {
    this.check(`update shard ${shard.jobId}/${shard.index}`);
    return this.inner.updateShard(shard, revision);
  }
  deleteJob(jobId: string, shardCount: number) {
    this.check(`delete job ${jobId}`);
    return this.inner.deleteJob(jobId, shardCount);
  }
}
