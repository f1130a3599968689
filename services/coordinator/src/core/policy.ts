/**
 * The failure policy as pure functions: retry backoff (one formula for shard retries and assembly
 * retries), the three lease timeouts, the per-job agent blocklist and the out-of-memory class bump.
 */
import { blocklistedJobError } from '../failure-messages.js'; // hook(ops): failed-job messages name the cause
import type { JobRecord, ShardRecord } from '../model.js';

/** Exponential backoff: `baseMs · 2^(attempt−1)`, capped at `maxMs`; 0 when `baseMs` is 0. */
export function backoffMs(baseMs: number, maxMs: number, attempt: number): number {
  return baseMs > 0 ? Math.min(maxMs, baseMs * 2 ** (attempt - 1)) : 0;
}

/** Tries of an assembly (or refine preparation) that fails for reasons other than a corrupt output. */
export const ASSEMBLY_ATTEMPTS = 6;

/** Wait before assembly try `attempt + 1`: 500 ms doubling, at most 8 s. */
export function assemblyRetryMs(attempt: number): number {
  return backoffMs(500, 8000, attempt);
}

/** The three timeouts of a leased shard (options: global values, per-kind overrides). */
export interface LeaseTimeouts {
  startMs: number;
  runtimeMs: number;
  stallMs: number;
}

/** Why a lease must end now, with its metric label; null while it may go on. */
export interface LeaseExpiry {
  reason: string;
  metric: 'timeout_start' | 'timeout_runtime' | 'timeout_no_progress' | 'lease_expired';
}

/**
 * Judges a leased shard at `nowMs`. `progressSinceMs`: when its engine last made progress (the
 * grant when never); `resumedMs`: when state was loaded or NATS came back — a lease granted before
 * then is judged from then, as its confirmation could not arrive meanwhile.
 */
export function leaseExpiry(
  s: ShardRecord,
  t: LeaseTimeouts,
  nowMs: number,
  progressSinceMs: number,
  resumedMs: number,
): LeaseExpiry | null {
  const a = s.attempt;
  if (!s.leaseConfirmed && nowMs - Math.max(s.leasedMs, resumedMs) > t.startMs)
    return {
      reason: `attempt ${a} was not started by ${s.agentName} within ${t.startMs / 1000} s`,
      metric: 'timeout_start',
    };
  if (nowMs - s.leasedMs > t.runtimeMs)
    return { reason: `attempt ${a} ran longer than the maximum of ${t.runtimeMs / 1000} s`, metric: 'timeout_runtime' };
  if (nowMs - progressSinceMs > t.stallMs)
    return { reason: `attempt ${a} made no progress for ${t.stallMs / 1000} s`, metric: 'timeout_no_progress' };
  if (s.leaseExpiresMs < nowMs) return { reason: `lease of attempt ${a} expired`, metric: 'lease_expired' };
  return null;
}

/** How an agent reported a failed attempt. */
export type FailureClass = 'fatal' | 'error' | 'out_of_memory' | 'model_unavailable';

/** What the policy needs to decide on a failure. */
export interface FailurePolicy {
  retryBackoffMs: number;
  retryBackoffMaxMs: number;
  /** The hardware table's VRAM classes, ascending. */
  classesGb: readonly number[];
  /** How a class is named in messages. */
  classLabel: (classGb: number) => string;
}

/** What follows a failed attempt. */
export type FailurePlan =
  | { then: 'fail'; shardReason: string; jobError: string }
  | {
      then: 'requeue';
      metric: 'error' | 'out_of_memory' | 'model_unavailable';
      /** Count it against the agent on the job (the blocklist); errors only, not out-of-memory. */
      countAgainstAgent: boolean;
      reason: string;
      patch: Pick<ShardRecord, 'requiredClassGb' | 'failedOn' | 'notBeforeMs'>;
    };

/** The next VRAM class above `classGb`, or undefined when it is the largest. */
export function classAbove(classesGb: readonly number[], classGb: number): number | undefined {
  return classesGb.find((c) => c > classGb);
}

/**
 * Decides a failed attempt: a fatal error fails the job; out of memory moves the shard up one class
 * (or fails the job on the largest); an error retries after an exponential backoff. The shard keeps
 * a list of agents that failed it (avoided while others can run it).
 */
export function planFailure(
  s: ShardRecord,
  failure: FailureClass,
  agentId: string,
  agentName: string,
  error: string,
  nowMs: number,
  p: FailurePolicy,
): FailurePlan {
  if (failure === 'fatal')
    return { then: 'fail', shardReason: `${agentName}: ${error}`, jobError: `shard ${s.index}: ${error}` };
  const failedOn = s.failedOn.includes(agentId) ? s.failedOn : [...s.failedOn, agentId];
  // hook(models): a model the agent could not get is not the shard's failure: requeued without
  // counting against the agent (no blocklist), preferring other agents, after a short pause.
  if (failure === 'model_unavailable')
    return {
      then: 'requeue',
      metric: 'model_unavailable',
      countAgainstAgent: false,
      reason: `${agentName}: ${error}`,
      patch: { requiredClassGb: s.requiredClassGb, failedOn, notBeforeMs: nowMs + 1000 },
    };
  let requiredClassGb = s.requiredClassGb;
  let notBeforeMs = 0;
  if (failure === 'out_of_memory') {
    const up = classAbove(p.classesGb, s.agentClassGb);
    if (up === undefined)
      return {
        then: 'fail',
        shardReason: `out of memory on the largest class (${agentName})`,
        jobError: `shard ${s.index} ran out of memory on class ${p.classLabel(s.agentClassGb)}, the largest`,
      };
    requiredClassGb = Math.max(requiredClassGb, up);
  } else {
    // A failure that repeats at once (a missing file, a flaky GPU) does not spin.
    const delay = backoffMs(p.retryBackoffMs, p.retryBackoffMaxMs, s.attempt);
    if (delay > 0) notBeforeMs = nowMs + delay;
  }
  return {
    then: 'requeue',
    metric: failure,
    countAgainstAgent: failure === 'error',
    reason: `attempt ${s.attempt} failed on ${agentName}: ${error}`,
    patch: { requiredClassGb, failedOn, notBeforeMs },
  };
}

/**
 * Counts a failed attempt against `agentName` on the job; at `limit` failures (0 = never) the agent
 * is blocklisted for the job. `blockedNow` is true when this failure put it on the list.
 */
export function countAgentFailure(
  job: JobRecord,
  agentName: string,
  limit: number,
): { patch: Pick<JobRecord, 'agentFailures' | 'blockedAgents'>; blockedNow: boolean } {
  const failures = (job.agentFailures?.[agentName] ?? 0) + 1;
  const blocked = job.blockedAgents ?? [];
  const blockedNow = limit > 0 && failures >= limit && !blocked.includes(agentName);
  return {
    patch: {
      agentFailures: { ...job.agentFailures, [agentName]: failures },
      blockedAgents: blockedNow ? [...blocked, agentName] : blocked,
    },
    blockedNow,
  };
}

/** True when some live agent (class, name) that is not blocklisted can still run a shard of `classGb`. */
export function someAgentCanRun(
  live: readonly { classGb: number; name: string }[],
  blocked: readonly string[],
  classGb: number,
): boolean {
  return live.some((a) => !blocked.includes(a.name) && a.classGb >= classGb);
}

/** The job error when the blocklist leaves no agent for a shard: it ends with the cause, the last error. */
export function blocklistExhausted(
  index: number,
  limit: number,
  blocked: readonly string[],
  lastError: string,
): string {
  return blocklistedJobError(index, limit, blocked, lastError);
}

/**
 * A leased shard whose attempt ended without a result (lost, timed out, failed): back to the queue
 * while attempts are left, else it fails its job.
 */
export function retryOrFail(
  s: ShardRecord,
  maxAttempts: number,
  reason: string,
): { then: 'requeue' } | { then: 'fail'; jobError: string } {
  if (s.attempt >= maxAttempts)
    return { then: 'fail', jobError: `shard ${s.index} failed after ${s.attempt} attempts: ${reason}` };
  return { then: 'requeue' };
}
