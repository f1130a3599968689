/**
 * The coordinator's persisted records. Job and shard state are closed unions; every transition is a
 * verb in `transitions.ts` and is persisted with a revision check before it counts.
 */

export type JobState = 'queued' | 'running' | 'assembling' | 'succeeded' | 'failed' | 'cancelled';
export type ShardState = 'queued' | 'leased' | 'done' | 'failed' | 'cancelled';

export const FINAL_JOB_STATES: ReadonlySet<JobState> = new Set(['succeeded', 'failed', 'cancelled']);

/** Pixel rectangle. */
export interface RectRecord {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A job as persisted in the state bucket under `job.<id>`. */
export interface JobRecord {
  id: string;
  name: string;
  kind: 'upscale';
  state: JobState;
  model: string;
  seed: number;
  priority: number;
  maxAttempts: number;
  createdMs: number;
  startedMs: number;
  finishedMs: number;
  shardsTotal: number;
  inputWidth: number;
  inputHeight: number;
  outputWidth: number;
  outputHeight: number;
  scale: number;
  tile: number;
  overlap: number;
  /** Receptive-field margin used for blending (input px). */
  margin: number;
  requiredClassGb: number;
  error: string;
  outputKey: string;
  outputBytes: number;
  outputSha256: string;
  outputContentType: string;
}

/** A shard as persisted under `shard.<jobId>.<index>`. */
export interface ShardRecord {
  jobId: string;
  index: number;
  stage: string;
  state: ShardState;
  /** Leases granted so far; the latest lease's fencing token. */
  attempt: number;
  requiredClassGb: number;
  /** Output region this shard owns (core), in output pixels. */
  region: RectRecord;
  /** Input rect (with context) in input pixels. */
  input: RectRecord;
  inputKey: string;
  inputSha256: string;
  seed: number;
  agentId: string;
  agentName: string;
  agentClassGb: number;
  leasedMs: number;
  leaseExpiresMs: number;
  /** Set once the agent's heartbeat lists this lease. */
  leaseConfirmed: boolean;
  reason: string;
  outputKey: string;
  outputSha256: string;
  outputBytes: number;
  outputWidth: number;
  outputHeight: number;
  runSeconds: number;
  /** Agents that failed this shard (per-job quarantine). */
  failedOn: string[];
}

/** Key of a shard within the farm. */
export function shardKey(jobId: string, index: number): string {
  return `${jobId}.${index}`;
}
