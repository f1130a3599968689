/** Publishes job and shard changes on NATS, so WatchJob works on every coordinator replica. */
import { CancelNotice, LeaseRef, PrefetchNotice, WatchJobResponse, type FarmNames } from '@tessera/protocol';
import type { NatsConnection } from '@nats-io/transport-node';
import type { CoordinatorEvents } from './shell/deps.js';
import type { JobRecord, ShardRecord } from './model.js';
import { jobView, shardView } from './views.js';

export class NatsEvents implements CoordinatorEvents {
  /** Set once the coordinator exists (it reports progress counts). */
  progress: (jobId: string) => { shardsDone: number; waitingReason: string } = () => ({
    shardsDone: 0,
    waitingReason: '',
  });

  constructor(
    private readonly nc: NatsConnection,
    private readonly names: FarmNames,
  ) {}

  jobChanged(job: JobRecord): void {
    this.publish(job, 'job', undefined);
  }

  shardChanged(job: JobRecord, shard: ShardRecord): void {
    this.publish(job, 'shard', shard);
  }

  jobCancelled(jobId: string): void {
    try {
      this.nc.publish(this.names.cancel, CancelNotice.encode({ jobId }).finish());
    } catch {
      // Agents also learn it from their next lease renewal.
    }
  }

  modelsWanted(models: readonly string[], requiredClassGb: number): void {
    for (const model of models) {
      try {
        this.nc.publish(this.names.prefetch, PrefetchNotice.encode({ model, requiredClassGb }).finish());
      } catch {
        // A hint only: the agent fetches the model when it gets a shard anyway.
      }
    }
  }

  attemptCancelled(ref: LeaseRef): void {
    try {
      this.nc.publish(this.names.cancelAttempt, LeaseRef.encode(ref).finish());
    } catch {
      // Its agent also learns it from its next lease renewal.
    }
  }

  private publish(job: JobRecord, event: string, shard: ShardRecord | undefined): void {
    const msg: WatchJobResponse = {
      event,
      job: jobView(job, this.progress(job.id)),
      shard: shard ? shardView(shard) : undefined,
      unixMs: Date.now(),
    };
    try {
      this.nc.publish(this.names.jobEvents(job.id), WatchJobResponse.encode(msg).finish());
    } catch {
      // Connection closing: watchers reconnect and get a fresh snapshot.
    }
  }
}
