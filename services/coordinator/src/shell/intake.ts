/**
 * Intake: runs a kind's intake (validation, plan, inputs) with the farm's limits, persists the
 * planned job and queues its shards.
 */
import { randomBytes } from 'node:crypto';
import type { IdSource } from '../clock.js';
import type { Intake, IntakeContext } from '../kinds/requests.js';
import { ownerUsage } from '../core/farm-queries.js';
import { checkUserShards } from '../limits.js';
import { LimitExceededError } from '../errors.js';
import type { JobRecord } from '../model.js';
import { requiredModels } from '../model-routing.js';
import { tilingAgentsFor } from '../placement/speeds.js';
import type { ShellContext } from './context.js';

/** Job ids from the time and 5 random bytes: time-ordered, URL- and subject-safe. */
export const randomIds: IdSource = {
  jobId: (nowMs) => `j${nowMs.toString(36)}${randomBytes(5).toString('hex')}`,
};

export class Submissions {
  private readonly ctx: IntakeContext;

  constructor(private readonly x: ShellContext) {
    const ids = x.d.ids ?? randomIds;
    this.ctx = {
      d: x.d,
      jobId: (nowMs) => ids.jobId(nowMs),
      liveAgents: () => x.farm.registry.live().length,
      fleetClassesGb: () => x.farm.registry.live().map((a) => a.classGb), // hook(scale)
      tilingAgents: (model) => tilingAgentsFor(x.d.table, x.farm.registry.live(), model), // hook(speed)
      checkQueueRoom: (more, owner) => this.checkQueueRoom(more, owner),
    };
  }

  /** Runs `intake` on a submission, then persists and queues the job. */
  async submit<S>(intake: (sub: S, ctx: IntakeContext) => Promise<Intake>, sub: S): Promise<JobRecord> {
    const { job, shards, log } = await intake(sub, this.ctx);
    const { d } = this.x;
    await d.modelGate?.(job); // hook(models): validated; refused when its model is nowhere
    await this.x.writer.create(job, shards);
    d.metrics.jobsSubmitted.inc({ kind: job.kind });
    d.log.info({ job: job.id, kind: job.kind, model: job.model, shards: shards.length, ...log }, 'job accepted');
    d.events.jobChanged(job);
    this.x.perform([{ type: 'pump' }]);
    // hook(models): after the pump (holders and agents already waiting get shards first), idle agents
    // that lack the job's models may fetch them while the job is queued.
    const needed = requiredModels(job, d.table);
    if (needed.length) d.events.modelsWanted?.(needed, Math.min(...shards.map((s) => s.requiredClassGb)));
    return job;
  }

  private checkQueueRoom(more: number, owner = ''): void {
    const o = this.x.d.options;
    const queued = this.x.farm.queue.size;
    if (queued + more > o.maxQueuedShards) {
      throw new LimitExceededError(
        'job',
        `the farm has ${queued} shards queued; ${more} more would exceed the limit of ${o.maxQueuedShards}; try again later`,
      );
    }
    if (o.maxQueuedShardsPerUser) checkUserShards(o, owner, ownerUsage(this.x.farm, owner), more);
  }
}
