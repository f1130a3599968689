import type { KV } from '@nats-io/kv';
import { StaleRevisionError } from '../errors.js';
import type { JobRecord, ShardRecord } from '../model.js';
import { jobKey, shardStoreKey, type StateStore, type Versioned } from './store.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** JetStream KV implementation of StateStore: JSON records, revision-checked updates. */
export class KvStateStore implements StateStore {
  constructor(private readonly kv: KV) {}

  async loadAll(): Promise<{ jobs: Versioned<JobRecord>[]; shards: Versioned<ShardRecord>[] }> {
    const keys: string[] = [];
    for await (const k of await this.kv.keys()) keys.push(k);
    const jobs: Versioned<JobRecord>[] = [];
    const shards: Versioned<ShardRecord>[] = [];
    for (let i = 0; i < keys.length; i += 256) {
      const batch = await Promise.all(keys.slice(i, i + 256).map((k) => this.kv.get(k)));
      for (const e of batch) {
        if (!e || e.operation !== 'PUT' || e.value.length === 0) continue;
        const value = JSON.parse(dec.decode(e.value));
        if (e.key.startsWith('job.')) jobs.push({ value, revision: e.revision });
        else if (e.key.startsWith('shard.')) shards.push({ value, revision: e.revision });
      }
    }
    return { jobs, shards };
  }

  createJob(job: JobRecord): Promise<number> {
    return this.create(jobKey(job.id), job);
  }

  updateJob(job: JobRecord, revision: number): Promise<number> {
    return this.update(jobKey(job.id), job, revision);
  }

  createShard(shard: ShardRecord): Promise<number> {
    return this.create(shardStoreKey(shard.jobId, shard.index), shard);
  }

  updateShard(shard: ShardRecord, revision: number): Promise<number> {
    return this.update(shardStoreKey(shard.jobId, shard.index), shard, revision);
  }

  getJob(jobId: string): Promise<Versioned<JobRecord> | undefined> {
    return this.get(jobKey(jobId));
  }

  getShard(jobId: string, index: number): Promise<Versioned<ShardRecord> | undefined> {
    return this.get(shardStoreKey(jobId, index));
  }

  private async get<T>(key: string): Promise<Versioned<T> | undefined> {
    const e = await this.kv.get(key);
    if (!e || e.operation !== 'PUT' || e.value.length === 0) return undefined;
    return { value: JSON.parse(dec.decode(e.value)) as T, revision: e.revision };
  }

  async loadShards(jobId: string, shardCount: number): Promise<ShardRecord[]> {
    const out: ShardRecord[] = [];
    for (let i = 0; i < shardCount; i += 64) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(64, shardCount - i) }, (_, j) => this.getShard(jobId, i + j)),
      );
      for (const v of batch) if (v) out.push(v.value);
    }
    return out;
  }

  async deleteJob(jobId: string, shardCount: number): Promise<void> {
    const keys = [jobKey(jobId)];
    for (let i = 0; i < shardCount; i++) keys.push(shardStoreKey(jobId, i));
    await Promise.all(keys.map((k) => this.kv.purge(k)));
  }

  private async create(key: string, value: unknown): Promise<number> {
    try {
      return await this.kv.create(key, enc.encode(JSON.stringify(value)));
    } catch (e) {
      if (isWrongSequence(e)) throw new StaleRevisionError(key, { cause: e });
      throw e;
    }
  }

  private async update(key: string, value: unknown, revision: number): Promise<number> {
    try {
      return await this.kv.update(key, enc.encode(JSON.stringify(value)), revision);
    } catch (e) {
      if (isWrongSequence(e)) throw new StaleRevisionError(key, { cause: e });
      throw e;
    }
  }
}

function isWrongSequence(e: unknown): boolean {
  const msg = e instanceof Error ? `${e.message} ${String((e as { cause?: unknown }).cause ?? '')}` : String(e);
  return /wrong last sequence|key exists|10071/i.test(msg);
}
