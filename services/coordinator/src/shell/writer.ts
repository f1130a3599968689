/**
 * Persists the core's transitions: every shard and job write is a compare-and-set on the stored
 * revision, and only a landed write is applied to the farm state. A stale revision is handled by
 * reloading: an earlier write of ours whose acknowledgement was lost (NATS dropped the connection
 * after the server applied it) leaves the cache one revision behind, and without the reload every
 * later transition of that record would be refused for good.
 */
import { isRefusal, type Verdict } from '../core/verdict.js';
import type { JobVerb } from '../core/job.js';
import { StaleRevisionError } from '../errors.js';
import { shardKey, type JobRecord, type ShardRecord } from '../model.js';
import { mapLimit } from '../util.js';
import type { ShellContext } from './context.js';

export class RecordWriter {
  constructor(private readonly x: Omit<ShellContext, 'writer' | 'background'>) {}

  /** Persists a planned job: shard records, then the job record (a job record that exists is complete). */
  async create(job: JobRecord, shards: ShardRecord[]): Promise<void> {
    const { store, clock } = this.x.d;
    const revs = await mapLimit(shards, 64, (s) => store.createShard(s));
    const jobRev = await store.createJob(job);
    const now = clock.now();
    this.x.farm.apply({ type: 'job', rec: job, rev: jobRev });
    shards.forEach((s, i) => this.x.farm.apply({ type: 'shard', rec: s, rev: revs[i], nowMs: now }));
  }

  /**
   * Writes the result of a shard verb; the new record, or undefined when the verb refused or the
   * stored revision was not the cached one (the stored record is then reloaded).
   */
  async shard(next: Verdict<ShardRecord>): Promise<ShardRecord | undefined> {
    if (isRefusal(next)) return undefined;
    const k = shardKey(next.jobId, next.index);
    const held = this.x.farm.shards.get(k);
    if (!held) return undefined;
    try {
      const rev = await this.x.d.store.updateShard(next, held.rev);
      this.x.farm.apply({ type: 'shard', rec: next, rev, nowMs: this.x.d.clock.now() });
      return next;
    } catch (e) {
      if (!(e instanceof StaleRevisionError)) throw e;
      this.x.d.log.error({ shard: k }, 'shard record changed under us; refusing the transition');
      await this.reloadShard(k).catch((err: unknown) => this.x.d.log.warn({ err, shard: k }, 'shard reload failed'));
      return undefined;
    }
  }

  /**
   * Applies a job verb under the job's lock. Only the leader writes job records (FencedStateStore):
   * a stale revision is an earlier write of ours whose acknowledgement was lost, so the verb is
   * applied again to what is stored. Undefined when the verb refused.
   */
  async job(jobId: string, verb: JobVerb): Promise<JobRecord | undefined> {
    return this.x.locks.run(`job:${jobId}`, async () => {
      const { store, log, events } = this.x.d;
      const held = this.x.farm.jobs.get(jobId);
      if (!held) return undefined;
      let next = verb(held.rec);
      if (isRefusal(next)) return undefined;
      let rev: number;
      try {
        rev = await store.updateJob(next, held.rev);
      } catch (e) {
        const stored = e instanceof StaleRevisionError ? await store.getJob(jobId) : undefined;
        if (!stored) throw e;
        log.warn({ job: jobId }, 'job record reloaded from the store');
        next = verb(stored.value);
        if (isRefusal(next)) {
          this.x.farm.apply({ type: 'job', rec: stored.value, rev: stored.revision });
          return undefined;
        }
        rev = await store.updateJob(next, stored.revision);
      }
      this.x.farm.apply({ type: 'job', rec: next, rev });
      events.jobChanged(next);
      return next;
    });
  }

  /** Adopts the stored version of a shard record, with what follows from it. */
  private async reloadShard(k: string): Promise<void> {
    const { farm, d } = this.x;
    const prev = farm.shard(k);
    if (!prev) return;
    const stored = await d.store.getShard(prev.jobId, prev.index);
    if (!stored || farm.shard(k) !== prev) return;
    const rec = stored.value;
    farm.apply({ type: 'shard', rec, rev: stored.revision, nowMs: d.clock.now() });
    d.log.warn(
      { shard: k, cached: `${prev.state}/${prev.attempt}`, stored: `${rec.state}/${rec.attempt}` },
      'shard record reloaded from the store',
    );
    const job = farm.job(rec.jobId);
    if (!job) return;
    d.events.shardChanged(job, rec);
    if (rec.state === 'done' && prev.state !== 'done')
      this.x.perform(this.x.core.handle({ type: 'committed', jobId: job.id, index: rec.index }, d.clock.now()));
  }
}
