import type { AgentInfo, Job, ShardStatus, WatchJobResponse } from '@tessera/protocol';
import { agentStateName, jobKindName, jobStateName, shardStateName } from '../states.js';

// The shapes below are the stable `--json` contract documented in libs/client/README.md. Add fields
// only at the end; never rename, retype or remove one.

/** Pixel rectangle. */
export interface RectJson {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** One shard in `status --json`. Strings are "" when unset. */
export interface ShardJson {
  index: number;
  stage: string;
  state: string;
  attempts: number;
  agent: string;
  agentVramClass: string;
  requiredVramClass: string;
  region: RectJson;
  reason: string;
  runSeconds: number;
  /** Video: the clip frames this shard produces, [firstFrame, firstFrame + frameCount). */
  firstFrame: number;
  frameCount: number;
  /** Chained video: the shard this one waits for, -1 for none. */
  dependsOn: number;
  /** Image-to-video: the VAE decode chunk the agent used (0 before it ran). */
  decodeChunk: number;
  /** A straggler's speculative backup running beside `agent`: its agent ("" when none) and token. */
  backupAgent: string;
  backupAttempt: number;
}

/** A job in `status --json`, `jobs --json`, `submit --json`. Timestamps are ISO-8601 UTC or null. */
export interface JobJson {
  id: string;
  name: string;
  kind: string;
  state: string;
  model: string;
  shardsTotal: number;
  shardsDone: number;
  waitingReason: string;
  error: string;
  createdAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  input: { width: number; height: number };
  output: { width: number; height: number; bytes: number; sha256: string };
  tile: number;
  overlap: number;
  shards: ShardJson[];
  /** Video: frames and frame rate of the clip (0 for images). */
  frames: number;
  fps: number;
  /** Every stored output (video jobs have several formats); the first is the primary one. */
  outputs: { format: string; contentType: string; bytes: number; sha256: string; frames: number }[];
  /** The authenticated user who submitted the job; "" when the farm's API is open. */
  owner: string;
}

/** One agent slot in `agents --json`; `vramGb` is the total, `usableVramGb` total minus the reserve. */
export interface AgentJson {
  id: string;
  name: string;
  hostname: string;
  deviceIndex: number;
  deviceName: string;
  vramGb: number;
  usableVramGb: number;
  vramClass: string;
  state: string;
  executionProvider: string;
  modelsLoaded: string[];
  lastSeen: string | null;
  shardsCompleted: number;
  currentShard: string;
}

/** One line of `watch --json`. `shard` is set for "shard" events only. */
export interface WatchEventJson {
  event: string;
  at: string | null;
  job: JobJson | null;
  shard: ShardJson | null;
}

/** Unix milliseconds → ISO-8601 UTC; 0 (unset) → null. */
export function isoTime(unixMs: number): string | null {
  return unixMs > 0 ? new Date(unixMs).toISOString() : null;
}

/** Maps a proto ShardStatus to its documented JSON. Pure. */
export function shardToJson(s: ShardStatus): ShardJson {
  const r = s.region ?? { x: 0, y: 0, width: 0, height: 0 };
  return {
    index: s.index,
    stage: s.stage,
    state: shardStateName(s.state),
    attempts: s.attempts,
    agent: s.agent,
    agentVramClass: s.agentVramClass,
    requiredVramClass: s.requiredVramClass,
    region: { x: r.x, y: r.y, width: r.width, height: r.height },
    reason: s.reason,
    runSeconds: s.runSeconds,
    firstFrame: s.firstFrame,
    frameCount: s.frameCount,
    dependsOn: s.dependsOn,
    decodeChunk: s.decodeChunk,
    backupAgent: s.backupAgent,
    backupAttempt: s.backupAttempt,
  };
}

/** Maps a proto Job to its documented JSON (exactly these keys, in this order). Pure. */
export function jobToJson(j: Job): JobJson {
  return {
    id: j.id,
    name: j.name,
    kind: jobKindName(j.kind),
    state: jobStateName(j.state),
    model: j.model,
    shardsTotal: j.shardsTotal,
    shardsDone: j.shardsDone,
    waitingReason: j.waitingReason,
    error: j.error,
    createdAt: isoTime(j.createdUnixMs),
    startedAt: isoTime(j.startedUnixMs),
    finishedAt: isoTime(j.finishedUnixMs),
    input: { width: j.inputWidth, height: j.inputHeight },
    output: { width: j.outputWidth, height: j.outputHeight, bytes: j.outputBytes, sha256: j.outputSha256 },
    tile: j.tile,
    overlap: j.overlap,
    shards: j.shards.map(shardToJson),
    frames: j.frames,
    fps: j.fps,
    outputs: j.outputs.map((o) => ({
      format: o.format,
      contentType: o.contentType,
      bytes: o.bytes,
      sha256: o.sha256,
      frames: o.frames,
    })),
    owner: j.owner,
  };
}

/** Maps a proto AgentInfo to its documented JSON. Pure. */
export function agentToJson(a: AgentInfo): AgentJson {
  return {
    id: a.id,
    name: a.name,
    hostname: a.hostname,
    deviceIndex: a.deviceIndex,
    deviceName: a.deviceName,
    vramGb: a.vramTotalGb,
    usableVramGb: a.vramUsableGb,
    vramClass: a.vramClass,
    state: agentStateName(a.state),
    executionProvider: a.executionProvider,
    modelsLoaded: [...a.modelsLoaded],
    lastSeen: isoTime(a.lastSeenUnixMs),
    shardsCompleted: a.shardsCompleted,
    currentShard: a.currentShard,
  };
}

/** Maps a WatchJob event to one `watch --json` line's object. Pure. */
export function watchEventToJson(e: WatchJobResponse): WatchEventJson {
  return {
    event: e.event,
    at: isoTime(e.unixMs),
    job: e.job ? jobToJson(e.job) : null,
    shard: e.shard ? shardToJson(e.shard) : null,
  };
}
