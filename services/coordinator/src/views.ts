/** Records → API messages. The only place that knows both shapes. */
import { classLabel } from '@tessera/hardware';
import { AgentState, JobKind, JobState, ShardState, type Job, type ShardStatus } from '@tessera/protocol';
import type { JobRecord, ShardRecord } from './model.js';
import type { AgentEntry } from './registry.js';
import type { FarmState } from './core/farm.js';
import { FINAL_JOB_STATES } from './model.js';
import { waitingReason } from './scheduler.js';

const JOB_STATE: Record<JobRecord['state'], JobState> = {
  queued: JobState.JOB_STATE_QUEUED,
  running: JobState.JOB_STATE_RUNNING,
  assembling: JobState.JOB_STATE_ASSEMBLING,
  succeeded: JobState.JOB_STATE_SUCCEEDED,
  failed: JobState.JOB_STATE_FAILED,
  cancelled: JobState.JOB_STATE_CANCELLED,
};

const JOB_KIND: Record<JobRecord['kind'], JobKind> = {
  upscale: JobKind.JOB_KIND_UPSCALE,
  video: JobKind.JOB_KIND_VIDEO,
  video_upscale: JobKind.JOB_KIND_VIDEO_UPSCALE,
  image: JobKind.JOB_KIND_IMAGE,
};

const SHARD_STATE: Record<ShardRecord['state'], ShardState> = {
  queued: ShardState.SHARD_STATE_QUEUED,
  leased: ShardState.SHARD_STATE_LEASED,
  done: ShardState.SHARD_STATE_DONE,
  failed: ShardState.SHARD_STATE_FAILED,
  cancelled: ShardState.SHARD_STATE_CANCELLED,
};

export function shardView(s: ShardRecord): ShardStatus {
  return {
    index: s.index,
    stage: s.stage,
    state: SHARD_STATE[s.state],
    attempts: s.attempt,
    agent: s.agentName,
    agentVramClass: s.agentId ? classLabel(s.agentClassGb) : '',
    requiredVramClass: classLabel(s.requiredClassGb),
    region: { ...s.region },
    reason: s.reason,
    runSeconds: s.runSeconds,
    firstFrame: s.firstFrame ?? 0,
    frameCount: s.frameCount ?? 0,
    dependsOn: s.dependsOn ?? -1,
    decodeChunk: s.decodeChunk ?? 0,
    backupAgent: (s.state === 'leased' && s.backup?.agentName) || '',
    backupAttempt: s.state === 'leased' ? (s.backup?.attempt ?? 0) : 0,
  };
}

export function jobView(
  j: JobRecord,
  extra: { shardsDone: number; shards?: ShardRecord[]; waitingReason?: string },
): Job {
  const { shardsDone, shards, waitingReason = '' } = extra;
  return {
    id: j.id,
    name: j.name,
    kind: JOB_KIND[j.kind],
    state: JOB_STATE[j.state],
    model: j.model,
    seed: j.seed,
    priority: j.priority,
    createdUnixMs: j.createdMs,
    startedUnixMs: j.startedMs,
    finishedUnixMs: j.finishedMs,
    shardsTotal: j.shardsTotal,
    shardsDone,
    waitingReason,
    error: j.error,
    inputWidth: j.inputWidth,
    inputHeight: j.inputHeight,
    outputWidth: j.outputWidth,
    outputHeight: j.outputHeight,
    tile: j.tile,
    overlap: j.overlap,
    // The primary output (the first), kept on the wire for clients that read these fields.
    outputBytes: j.outputs?.[0]?.bytes ?? 0,
    outputSha256: j.outputs?.[0]?.sha256 ?? '',
    outputContentType: j.outputs?.[0]?.contentType ?? '',
    shards: shards ? shards.map(shardView) : [],
    outputs: (j.outputs ?? []).map((o) => ({
      format: o.format,
      contentType: o.contentType,
      bytes: o.bytes,
      sha256: o.sha256,
      frames: o.frames,
    })),
    frames: j.video?.totalFrames ?? j.videoUpscale?.totalFrames ?? 0,
    fps: j.video?.fps ?? j.videoUpscale?.fps ?? 0,
    // Records persisted before owners existed have none.
    owner: j.owner ?? '',
  };
}

/** An agent's state as the API shows it: lost, draining, busy (holds leases) or idle. */
export function agentState(a: AgentEntry): AgentState {
  if (a.liveness === 'lost') return AgentState.AGENT_STATE_LOST;
  if (a.advert.state === AgentState.AGENT_STATE_DRAINING) return AgentState.AGENT_STATE_DRAINING;
  return a.leases.size > 0 ? AgentState.AGENT_STATE_BUSY : AgentState.AGENT_STATE_IDLE;
}

/** Why a job's queued shards are not running, or ''. */
export function jobWaitingReason(
  job: JobRecord,
  farm: FarmState,
  modelWaitReason?: (job: JobRecord) => string,
): string {
  if (FINAL_JOB_STATES.has(job.state) || job.state === 'assembling') return '';
  const waiting = farm.queue.jobQueued(job.id);
  if (waiting.count === 0) return '';
  const modelWait = modelWaitReason?.(job) ?? ''; // hook(models): its model is nowhere yet
  const blocked = job.blockedAgents ?? [];
  const classes = farm.liveAgents().filter((a) => !blocked.includes(a.name));
  const reason = waitingReason(
    waiting.maxClassGb,
    classes.map((a) => a.classGb),
    classLabel,
  );
  const why = reason && blocked.length ? `${reason}; blocklisted for this job: ${blocked.join(', ')}` : reason;
  return [why, modelWait].filter(Boolean).join('; '); // hook(models)
}

/** The fleet (live agents, or all with `includeLost`), each agent with its state. */
export function agentsView(all: AgentEntry[], includeLost: boolean): { entry: AgentEntry; state: AgentState }[] {
  return all.filter((a) => includeLost || a.liveness === 'live').map((entry) => ({ entry, state: agentState(entry) }));
}
