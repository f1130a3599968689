/**
 * The console's pure view logic: the API's messages as the browser receives them (plain JSON of
 * the proto messages: camelCase fields, enums as numbers), labels, filters and layout math.
 * No DOM here, so it is unit-tested under Node.
 */

/** tessera.v1.JobState, by proto number. */
export const JOB_STATES = [
  'unspecified',
  'queued',
  'running',
  'assembling',
  'succeeded',
  'failed',
  'cancelled',
] as const;
export type JobStateName = (typeof JOB_STATES)[number];
/** tessera.v1.ShardState, by proto number. */
export const SHARD_STATES = ['unspecified', 'queued', 'leased', 'done', 'failed', 'cancelled'] as const;
export type ShardStateName = (typeof SHARD_STATES)[number];
/** tessera.v1.JobKind, by proto number. */
export const JOB_KINDS = ['unspecified', 'upscale', 'video', 'video upscale', 'image'] as const;
/** tessera.v1.AgentState, by proto number. */
export const AGENT_STATES = ['unspecified', 'idle', 'busy', 'draining', 'lost'] as const;

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface Shard {
  index: number;
  stage: string;
  state: number;
  attempts: number;
  agent: string;
  agentVramClass: string;
  requiredVramClass: string;
  region?: Rect;
  reason: string;
  runSeconds: number;
  firstFrame: number;
  frameCount: number;
  dependsOn: number;
  /** A straggler's speculative backup running beside `agent` ("" when none). */
  backupAgent?: string;
}

export interface JobOutput {
  format: string;
  contentType: string;
  bytes: number;
  frames: number;
}

export interface Job {
  id: string;
  name: string;
  kind: number;
  state: number;
  model: string;
  priority: number;
  createdUnixMs: number;
  startedUnixMs: number;
  finishedUnixMs: number;
  shardsTotal: number;
  shardsDone: number;
  waitingReason: string;
  error: string;
  inputWidth: number;
  inputHeight: number;
  outputWidth: number;
  outputHeight: number;
  tile: number;
  overlap: number;
  shards: Shard[];
  outputs: JobOutput[];
  frames: number;
  fps: number;
  owner: string;
}

export interface Agent {
  id: string;
  name: string;
  hostname: string;
  deviceIndex: number;
  deviceName: string;
  vramTotalGb: number;
  vramUsableGb: number;
  vramClass: string;
  state: number;
  executionProvider: string;
  modelsLoaded: string[];
  lastSeenUnixMs: number;
  shardsCompleted: number;
  currentShard: string;
  version: string;
}

export const jobState = (j: Pick<Job, 'state'>): JobStateName => JOB_STATES[j.state] ?? 'unspecified';
export const shardState = (s: Pick<Shard, 'state'>): ShardStateName => SHARD_STATES[s.state] ?? 'unspecified';
export const jobKind = (j: Pick<Job, 'kind'>): string => JOB_KINDS[j.kind] ?? 'unspecified';
export const agentState = (a: Pick<Agent, 'state'>): string => AGENT_STATES[a.state] ?? 'unspecified';

/** Whether a job is finished (nothing more will happen to it). */
export function isFinished(j: Pick<Job, 'state'>): boolean {
  const s = jobState(j);
  return s === 'succeeded' || s === 'failed' || s === 'cancelled';
}

/** Percent of shards done, 0..100 (100 once succeeded). */
export function progressPercent(j: Pick<Job, 'state' | 'shardsDone' | 'shardsTotal'>): number {
  if (jobState(j) === 'succeeded') return 100;
  if (!j.shardsTotal) return 0;
  return Math.min(100, Math.floor((100 * j.shardsDone) / j.shardsTotal));
}

/** "5 s", "3 min", "2 h", "4 d": how long ago `ms` was, seen at `now`. */
export function age(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 90) return `${s} s`;
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} d`;
}

/** The jobs list's filters. */
export interface JobFilter {
  /** A state name, or '' for all; 'active' = not finished. */
  state: string;
  /** Matched against id, name, owner and model (case-insensitive). */
  text: string;
  /** Kind name, or '' for all. */
  kind: string;
}

/** The jobs that pass a filter, newest first. Pure. */
export function filterJobs(jobs: readonly Job[], f: JobFilter): Job[] {
  const text = f.text.trim().toLowerCase();
  return jobs
    .filter((j) => {
      if (f.state === 'active' ? isFinished(j) : f.state && jobState(j) !== f.state) return false;
      if (f.kind && jobKind(j) !== f.kind) return false;
      if (!text) return true;
      return [j.id, j.name, j.owner, j.model].some((v) => v.toLowerCase().includes(text));
    })
    .sort((a, b) => b.createdUnixMs - a.createdUnixMs || b.id.localeCompare(a.id));
}

/** Merges a changed job into a list (replacing the one with its id, or adding it). Pure. */
export function upsertJob(jobs: readonly Job[], job: Job): Job[] {
  const i = jobs.findIndex((j) => j.id === job.id);
  if (i < 0) return [job, ...jobs];
  const next = jobs.slice();
  next[i] = { ...job, shards: jobs[i].shards.length && !job.shards.length ? jobs[i].shards : job.shards };
  return next;
}

/** Merges a changed shard into a job (by index). Pure. */
export function upsertShard(job: Job, shard: Shard): Job {
  const shards = job.shards.slice();
  const i = shards.findIndex((s) => s.index === shard.index);
  if (i < 0) shards.push(shard);
  else shards[i] = shard;
  shards.sort((a, b) => a.index - b.index);
  return { ...job, shards };
}

/** Orders VRAM class labels: cpu first, then by size ("6gb" < "24gb"). */
export function classOrder(a: string, b: string): number {
  const n = (c: string) => (c === 'cpu' ? 0 : parseFloat(c) || Number.MAX_SAFE_INTEGER);
  return n(a) - n(b) || a.localeCompare(b);
}

/** Agents grouped by VRAM class, classes ascending, agents by name. Pure. */
export function groupByClass(agents: readonly Agent[]): { vramClass: string; agents: Agent[] }[] {
  const groups = new Map<string, Agent[]>();
  for (const a of agents) {
    const g = groups.get(a.vramClass || '?') ?? [];
    g.push(a);
    groups.set(a.vramClass || '?', g);
  }
  return [...groups]
    .sort(([a], [b]) => classOrder(a, b))
    .map(([vramClass, list]) => ({ vramClass, agents: list.sort((x, y) => x.name.localeCompare(y.name)) }));
}

/** A box as percentages of the whole image (for absolutely placed tiles). */
export interface PercentBox {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Where a shard's region lies on the output, in percent of its size; null without a region. Pure. */
export function tileBox(region: Rect | undefined, outW: number, outH: number): PercentBox | null {
  if (!region || !region.width || !region.height || !outW || !outH) return null;
  return {
    left: (100 * region.x) / outW,
    top: (100 * region.y) / outH,
    width: (100 * region.width) / outW,
    height: (100 * region.height) / outH,
  };
}

/** A video batch on the timeline: its frames and the span it shares with the previous batch. */
export interface TimelineBatch {
  index: number;
  state: ShardStateName;
  /** Percent of the clip's frames. */
  left: number;
  width: number;
  /** Percent of the clip where this batch cross-fades with the one before (0 width: none). */
  fadeLeft: number;
  fadeWidth: number;
  firstFrame: number;
  frameCount: number;
}

/** The batches of a video job laid on a timeline of `totalFrames`. Pure. */
export function timeline(shards: readonly Shard[], totalFrames: number): TimelineBatch[] {
  const batches = shards.filter((s) => s.frameCount > 0).sort((a, b) => a.firstFrame - b.firstFrame);
  const total = Math.max(totalFrames, ...batches.map((s) => s.firstFrame + s.frameCount), 1);
  return batches.map((s, i) => {
    const prev = batches[i - 1];
    const prevEnd = prev ? prev.firstFrame + prev.frameCount : s.firstFrame;
    const fade = Math.max(0, Math.min(prevEnd, s.firstFrame + s.frameCount) - s.firstFrame);
    return {
      index: s.index,
      state: shardState(s),
      left: (100 * s.firstFrame) / total,
      width: (100 * s.frameCount) / total,
      fadeLeft: (100 * s.firstFrame) / total,
      fadeWidth: (100 * fade) / total,
      firstFrame: s.firstFrame,
      frameCount: s.frameCount,
    };
  });
}

/** The URL of a committed tile's thumbnail (versioned by attempt, so the browser caches it). */
export function tileUrl(jobId: string, s: Pick<Shard, 'index' | 'attempts'>): string {
  return `/api/jobs/${encodeURIComponent(jobId)}/tiles/${s.index}?a=${s.attempts}`;
}
