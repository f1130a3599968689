/**
 * Every NATS subject, stream, bucket and queue name Tessera uses, defined once.
 * Subjects live under `tessera.`; a farm prefix can isolate several farms on one NATS account.
 */

/** Names derived from one farm prefix (default `tessera`). */
export interface FarmNames {
  /** Agents ask for work here (request/reply; coordinators listen in a queue group). */
  readonly workRequest: string;
  /** Agents renew a lease here (request/reply). */
  readonly workRenew: string;
  /** Agents report a shard's outcome here (request/reply). */
  readonly workResult: string;
  /** Agents publish heartbeats here. */
  readonly heartbeat: string;
  /** Coordinators publish cancel notices here; agents subscribe. */
  readonly cancel: string;
  /** Coordinators publish prefetch notices here (a queued job's models); agents subscribe. */
  readonly prefetch: string;
  /**
   * Coordinators publish attempt cancel notices here (a `LeaseRef`: one attempt of one shard, e.g.
   * the loser of a speculative race); agents subscribe and stop that attempt.
   */
  readonly cancelAttempt: string;
  /** A coordinator announces itself here when it starts or reconnects: agents re-ask for work at once. */
  readonly hello: string;
  /** Queue group coordinators share, so each request is handled once. */
  readonly coordinatorQueue: string;
  /** KV bucket with job and shard records. */
  readonly stateBucket: string;
  /** Object store bucket with inputs, shard outputs and final outputs. */
  readonly blobBucket: string;
  /** Subject of the change events of one job. */
  jobEvents(jobId: string): string;
  /** Subject of the change events of every job. */
  readonly allJobEvents: string;
}

const TOKEN = /^[A-Za-z0-9_-]+$/;

/** Builds the names for a farm prefix; the prefix must be one NATS token. */
export function farmNames(prefix = 'tessera'): FarmNames {
  if (!TOKEN.test(prefix)) {
    throw new Error(`farm prefix must match ${TOKEN.source}, got ${JSON.stringify(prefix)}`);
  }
  return {
    workRequest: `${prefix}.work.request`,
    workRenew: `${prefix}.work.renew`,
    workResult: `${prefix}.work.result`,
    heartbeat: `${prefix}.agent.heartbeat`,
    cancel: `${prefix}.control.cancel`,
    cancelAttempt: `${prefix}.control.cancel-attempt`,
    hello: `${prefix}.control.hello`,
    prefetch: `${prefix}.control.prefetch`,
    coordinatorQueue: `${prefix}-coordinators`,
    stateBucket: `${prefix}-state`,
    blobBucket: `${prefix}-blobs`,
    jobEvents: (jobId: string) => `${prefix}.events.job.${assertToken(jobId, 'job id')}`,
    allJobEvents: `${prefix}.events.job.*`,
  };
}

/** Throws unless `value` is usable as one NATS subject token / KV key part. */
export function assertToken(value: string, what: string): string {
  if (!TOKEN.test(value)) throw new Error(`${what} must match ${TOKEN.source}, got ${JSON.stringify(value)}`);
  return value;
}

/** Object-store keys, defined once. */
export const blobKeys = {
  jobInput: (jobId: string) => `jobs/${jobId}/input`,
  shardInput: (jobId: string, shard: number) => `jobs/${jobId}/shards/${shard}/input`,
  /** Each attempt writes its own key, so a late writer can never overwrite the committed output. */
  shardOutput: (jobId: string, shard: number, attempt: number) => `jobs/${jobId}/shards/${shard}/out-${attempt}`,
  jobOutput: (jobId: string) => `jobs/${jobId}/output`,
  /** A job's output in one of several formats (video: webp, mp4). */
  jobOutputAs: (jobId: string, format: string) => `jobs/${jobId}/output.${format}`,
  /** Prefix of a job's PNG frames: `<prefix>/<frame>`. */
  jobFrames: (jobId: string) => `jobs/${jobId}/frames`,
};

/**
 * Directory holding the `.proto` sources (for gRPC server reflection). Resolved from this package
 * inside the repository; `TESSERA_PROTO_DIR` overrides it in images that move files around.
 */
export function protoDir(): string {
  return process.env.TESSERA_PROTO_DIR || decodeURIComponent(new URL('../../../proto/', import.meta.url).pathname);
}

/** The proto files of the public API, relative to protoDir(). */
export const PROTO_FILES = [
  'tessera/v1/types.proto',
  'tessera/v1/jobs.proto',
  'tessera/v1/agents.proto',
  'tessera/v1/wire.proto',
  'tessera/v1/models.proto',
];

/**
 * Object-store chunk size for blobs. Larger than the client's 128 KiB default so a 12 MiB tile
 * takes 24 round trips instead of 96; below NATS's default 1 MiB max_payload.
 */
export const BLOB_CHUNK_BYTES = 512 * 1024;
