import {
  AgentState,
  JobKind,
  JobState,
  ShardState,
  agentStateToJSON,
  jobKindToJSON,
  jobStateToJSON,
  shardStateToJSON,
} from '@tessera/protocol';

/** Job states after which nothing changes; WatchJob ends after one of these. */
export const FINAL_JOB_STATES: ReadonlySet<JobState> = new Set([
  JobState.JOB_STATE_SUCCEEDED,
  JobState.JOB_STATE_FAILED,
  JobState.JOB_STATE_CANCELLED,
]);

/** True when a job has reached a final state (succeeded, failed or cancelled). */
export function isFinalJobState(state: JobState): boolean {
  return FINAL_JOB_STATES.has(state);
}

/** "JOB_STATE_SUCCEEDED" → "succeeded": the proto enum name, lower-case, without its prefix. */
function shortName(protoName: string, prefix: string): string {
  return (protoName.startsWith(prefix) ? protoName.slice(prefix.length) : protoName).toLowerCase();
}

/** Lower-case job state name without the enum prefix ("queued", "running", "succeeded", …). */
export function jobStateName(state: JobState): string {
  return shortName(jobStateToJSON(state), 'JOB_STATE_');
}

/** Lower-case shard state name without the enum prefix ("queued", "leased", "done", …). */
export function shardStateName(state: ShardState): string {
  return shortName(shardStateToJSON(state), 'SHARD_STATE_');
}

/** Lower-case job kind without the enum prefix ("upscale"). */
export function jobKindName(kind: JobKind): string {
  return shortName(jobKindToJSON(kind), 'JOB_KIND_');
}

/** Lower-case agent state without the enum prefix ("idle", "busy", "draining", "lost"). */
export function agentStateName(state: AgentState): string {
  return shortName(agentStateToJSON(state), 'AGENT_STATE_');
}
