import type { JobRecord, ShardRecord } from '../model.js';

/** A value with the revision it was read or written at (for compare-and-set). */
export interface Versioned<T> {
  value: T;
  revision: number;
}

/**
 * What the coordinator needs from persistence: job and shard records with revision-checked
 * writes. A write with a stale revision throws StaleRevisionError (another writer won).
 * Implementations: JetStream KV (production), in memory (unit tests).
 */
export interface StateStore {
  loadAll(): Promise<{ jobs: Versioned<JobRecord>[]; shards: Versioned<ShardRecord>[] }>;
  /** Writes a new job; fails if it exists. Returns the revision. */
  createJob(job: JobRecord): Promise<number>;
  /** Replaces a job written at `revision`. Returns the new revision. */
  updateJob(job: JobRecord, revision: number): Promise<number>;
  createShard(shard: ShardRecord): Promise<number>;
  updateShard(shard: ShardRecord, revision: number): Promise<number>;
  /**
   * The stored record and its revision, or undefined. Read after a StaleRevisionError: a write
   * whose acknowledgement was lost (the NATS connection dropped) may have landed all the same.
   */
  getJob(jobId: string): Promise<Versioned<JobRecord> | undefined>;
  getShard(jobId: string, index: number): Promise<Versioned<ShardRecord> | undefined>;
  /** The shard records of a job, in index order (missing ones left out). */
  loadShards(jobId: string, shardCount: number): Promise<ShardRecord[]>;
  /** Removes a job and its shards (retention). */
  deleteJob(jobId: string, shardCount: number): Promise<void>;
}

export const jobKey = (jobId: string) => `job.${jobId}`;
export const shardStoreKey = (jobId: string, index: number) => `shard.${jobId}.${index}`;
