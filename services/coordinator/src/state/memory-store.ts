import { StaleRevisionError } from '../errors.js';
import type { JobRecord, ShardRecord } from '../model.js';
import { jobKey, shardStoreKey, type StateStore, type Versioned } from './store.js';

/** In-memory StateStore with the same revision semantics as the KV one (unit tests, simulator). */
export class MemoryStateStore implements StateStore {
  private readonly data = new Map<string, Versioned<string>>();
  private seq = 0;

  async loadAll() {
    const jobs: Versioned<JobRecord>[] = [];
    const shards: Versioned<ShardRecord>[] = [];
    for (const [k, v] of this.data) {
      const value = JSON.parse(v.value);
      if (k.startsWith('job.')) jobs.push({ value, revision: v.revision });
      else shards.push({ value, revision: v.revision });
    }
    return { jobs, shards };
  }
  async createJob(job: JobRecord) {
    return this.put(jobKey(job.id), job, 0);
  }
  async updateJob(job: JobRecord, revision: number) {
    return this.put(jobKey(job.id), job, revision);
  }
  async createShard(shard: ShardRecord) {
    return this.put(shardStoreKey(shard.jobId, shard.index), shard, 0);
  }
  async updateShard(shard: ShardRecord, revision: number) {
    return this.put(shardStoreKey(shard.jobId, shard.index), shard, revision);
  }
  async getJob(jobId: string) {
    return this.get<JobRecord>(jobKey(jobId));
  }
  async getShard(jobId: string, index: number) {
    return this.get<ShardRecord>(shardStoreKey(jobId, index));
  }
  private get<T>(key: string): Versioned<T> | undefined {
    const cur = this.data.get(key);
    return cur && { value: JSON.parse(cur.value) as T, revision: cur.revision };
  }

  async loadShards(jobId: string, shardCount: number) {
    const out: ShardRecord[] = [];
    for (let i = 0; i < shardCount; i++) {
      const v = await this.getShard(jobId, i);
      if (v) out.push(v.value);
    }
    return out;
  }
  async deleteJob(jobId: string, shardCount: number) {
    this.data.delete(jobKey(jobId));
    for (let i = 0; i < shardCount; i++) this.data.delete(shardStoreKey(jobId, i));
  }
  private put(key: string, value: unknown, expected: number): number {
    const cur = this.data.get(key);
    if ((cur?.revision ?? 0) !== expected) throw new StaleRevisionError(key);
    const revision = ++this.seq;
    this.data.set(key, { value: JSON.stringify(value), revision });
    return revision;
  }
}
