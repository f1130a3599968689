/**
 * The coordinator's core: job and shard lifecycle, leases with fencing tokens, dispatch to waiting
 * agents, result commits, requeues, cancellation and the hand-off to assembly.
 *
 * Every transition is persisted with a revision check (StateStore) before it counts; the in-memory
 * maps are a cache of the store, rebuilt by `start()` after a restart. Memory follows the live work,
 * not the history: a finished job keeps its job record (until retention) but its shard records leave
 * memory and are read from the store when asked for (`getJob`, retention).
 *
 * Queued shards sit in an index (queue.ts) that a dispatch pass reads from its heads only.
 */
import { randomBytes } from 'node:crypto';
import type { HardwareTable } from '@tessera/hardware';
import { classLabel, decodeChunkFor, vramClassOf } from '@tessera/hardware';
import {
  AgentState,
  FailureKind,
  type AgentAdvert,
  type Heartbeat,
  type LeaseRenewal,
  type LeaseRenewalReply,
  type ShardResult,
  type ShardResultReply,
  type ShardTask,
  type ImageTask,
  type WorkGrant,
  type WorkRequest,
  blobKeys,
} from '@tessera/protocol';
import type { Logger } from 'pino';
import { concatBytes } from '@tessera/runtime';
import type { BlobStore } from './blobs.js';
import { sha256Hex } from './blobs.js';
import type { Clock } from './clock.js';
import { InvalidArgumentError, LimitExceededError, NotFoundError, StaleRevisionError } from './errors.js';
import type { CoordinatorMetrics } from './metrics.js';
import {
  type ImageFormatName, // hook(scale): upscale output formats
  FINAL_JOB_STATES,
  shardKey,
  type JobRecord,
  type OutputRecord,
  type ShardRecord,
  type VideoFormatName,
} from './model.js';
import { KeyedMutex } from './mutex.js';
import { checkUserShards, type OwnerUsage } from './limits.js';
import type { CompiledCoordinatorOptions } from './options.js';
import { planUpscale, type RefineRequest } from './planner.js';
import { planVideo, planVideoUpscale, resolveVideoParams, type VideoRequest } from './planner-video.js';
import { planImage, resolveImageParams, stageModelDir, type ImageRequest } from './planner-image.js';
import { stageUsesOwnDefaults } from './pipeline-support.js'; // hook(engines-a)
import { imageInputRgb, imageTaskAttachments } from './image-attachments.js';
import { AgentRegistry, type AgentEntry } from './registry.js';
import { ShardQueue, type QueueJobMeta } from './queue.js';
import { waitingReason, type IdleAgent } from './scheduler.js';
import { shardWork } from './placement/cost.js';
import { coordinatorEftNarrow } from './placement/fleet-view.js';
import { tilingAgentsFor } from './placement/speeds.js';
import type { StateStore } from './state/store.js';
import { blocklistedJobError } from './failure-messages.js'; // hook(ops): failed-job messages name the cause
import { modelRank, type ModelCatalog } from './model-routing.js'; // hook(models)

/** A decoded RGB8 image. */
export interface DecodedImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** What the core needs to turn encoded bytes into pixels (sharp in production). */
export interface ImageCodec {
  /** True when ffmpeg is available (MP4 in and out). */
  readonly ffmpeg: boolean;
  /** Header only: dimensions. Throws InvalidArgumentError naming `field` on corrupt bytes. */
  probe(bytes: Uint8Array, maxPixels: number, field: string): Promise<{ width: number; height: number }>;
  decodeRgb(bytes: Uint8Array, maxPixels: number, field: string): Promise<DecodedImage>;
  /** Decodes and resizes (cover, centred) to exactly width×height RGB8. */
  decodeResized(
    bytes: Uint8Array,
    width: number,
    height: number,
    maxPixels: number,
    field: string,
  ): Promise<Uint8Array>;
  /** The frames of an input clip (animated WebP/GIF, MP4 with ffmpeg) or of a list of encoded frames. */
  decodeClip(
    src: { clip: Uint8Array; frames: Uint8Array[] },
    maxPixels: number,
    maxFrames: number,
  ): Promise<{ width: number; height: number; fps: number; frames: Uint8Array[] }>;
}

/** Blends a finished job's shard outputs into the final output(s) and stores them; primary first. */
export type Assemble = (job: JobRecord, shards: ShardRecord[]) => Promise<OutputRecord[]>;

/** Raised by Assemble when a shard output is missing or corrupt: that shard must run again. */
export class ShardOutputCorruptError extends Error {
  override readonly name = 'ShardOutputCorruptError';
  constructor(
    readonly shardIndex: number,
    message: string,
  ) {
    super(message);
  }
}

/** Change notifications (WatchJob, metrics). */
export interface CoordinatorEvents {
  jobChanged(job: JobRecord): void;
  shardChanged(job: JobRecord, shard: ShardRecord): void;
  /** A job was cancelled: agents running its shards should stop now. */
  jobCancelled(jobId: string): void;
}

export interface CoordinatorDeps {
  /** hook(models): the store's models and the fleet's copies, for routing (model-routing.ts). */
  modelCatalog?: ModelCatalog;
  /** hook(models): throws FailedPreconditionError for a valid job whose model is nowhere. */
  modelGate?: (job: JobRecord) => Promise<void>;
  /** hook(models): why a queued job waits for a model ('' when it does not). */
  modelWaitReason?: (job: JobRecord) => string;
  store: StateStore;
  blobs: BlobStore;
  table: HardwareTable;
  codec: ImageCodec;
  assemble: Assemble;
  /** Upscale with refine: blends the upscale tiles and stores each refine tile's input (index → sha256). */
  prepareRefine: (job: JobRecord, shards: ShardRecord[]) => Promise<Map<number, { key: string; sha256: string }>>;
  clock: Clock;
  events: CoordinatorEvents;
  metrics: CoordinatorMetrics;
  log: Logger;
  options: CompiledCoordinatorOptions;
}

interface Held<T> {
  rec: T;
  rev: number;
}

interface Parked extends IdleAgent {
  advert: AgentAdvert;
  resolve: (grant: WorkGrant) => void;
  timer: NodeJS.Timeout;
}

/** Upscale submission, already parsed from the API. */
export interface UpscaleSubmission {
  /** The authenticated user submitting it ('' or unset = anonymous). */
  owner?: string;
  /** Optional SD img2img refine over the upscaled image's tiles. */
  refine?: RefineRequest;
  name: string;
  seed: number;
  priority: number;
  maxAttempts: number;
  image: Uint8Array;
  model: string;
  tile: number;
  overlap: number;
  /** Output formats, the first being the primary output (absent = PNG only). */
  formats?: ImageFormatName[]; // hook(scale): upscale output formats
}

/** An image-to-video submission, already parsed from the API. */
export interface VideoSubmission {
  /** The authenticated user submitting it ('' or absent = anonymous): fair share, per-user limits. */
  owner?: string;
  name: string;
  seed: number;
  priority: number;
  maxAttempts: number;
  image: Uint8Array;
  keyframes: Uint8Array[];
  request: VideoRequest;
}

/** An image submission, already parsed from the API. */
export interface ImageSubmission {
  /** The authenticated user submitting it ('' or absent = anonymous): fair share, per-user limits. */
  owner?: string;
  name: string;
  seed: number;
  priority: number;
  maxAttempts: number;
  initImage: Uint8Array;
  request: Omit<ImageRequest, 'init'>;
  /** Encoded control images, one per request.controlNets entry. */
  controlImages?: Uint8Array[];
}

/** A video-upscale submission, already parsed from the API. */
export interface VideoUpscaleSubmission {
  /** The authenticated user submitting it ('' or absent = anonymous): fair share, per-user limits. */
  owner?: string;
  name: string;
  seed: number;
  priority: number;
  maxAttempts: number;
  clip: Uint8Array;
  frames: Uint8Array[];
  model: string;
  framesPerBatch: number;
  fps: number;
  formats: VideoFormatName[];
}

/** Tries of an assembly that fails for reasons other than a corrupt shard output. */
const ASSEMBLY_ATTEMPTS = 6;

/** A new job id: time-ordered, URL- and subject-safe. */
export function newJobId(nowMs: number): string {
  return `j${nowMs.toString(36)}${randomBytes(5).toString('hex')}`;
}

export class Coordinator {
  private readonly jobs = new Map<string, Held<JobRecord>>();
  /** Shard records of unfinished jobs (a finished job's stay in the store only). */
  private readonly shards = new Map<string, Held<ShardRecord>>();
  /** Queued shards (every unfinished job's), indexed for dispatch. */
  private readonly queue: ShardQueue;
  /** Keys of leased shards (what the sweeper checks). */
  private readonly leased = new Set<string>();
  /** Committed shards per job (derived from the shard records, kept for O(1) progress). */
  private readonly doneCount = new Map<string, number>();
  private parked: Parked[] = [];
  private parkSeq = 0;
  private readonly locks = new KeyedMutex();
  private readonly registry: AgentRegistry;
  private readonly assembling = new Set<string>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private pumping = false;
  private pumpAgain = false;
  private stopped = false;
  private online = true;
  private lastRetentionMs = 0;
  private agentsRefused = 0;
  private lastRefusalLogMs = -Infinity;
  /** When state was last loaded or NATS came back (start timeouts count from no earlier). */
  private resumedMs = 0;
  /** Engine progress per leased shard, from renewals (memory only; restarts begin afresh). */
  private readonly progress = new Map<string, { attempt: number; value: number; sinceMs: number }>();

  constructor(private readonly d: CoordinatorDeps) {
    this.registry = new AgentRegistry((a) => vramClassOf(d.table, a.vramUsableGb), d.options.maxAgents);
    this.queue = new ShardQueue((owner) => d.options.userWeights.get(owner) ?? 1);
  }

  // ───────────────────────────── lifecycle ─────────────────────────────

  /** Loads persisted state, resumes jobs, starts the sweeper. */
  async start(): Promise<void> {
    const { jobs, shards } = await this.d.store.loadAll();
    const now = this.d.clock.now();
    this.resumedMs = now;
    for (const j of jobs) {
      // Records written before these fields existed.
      j.value.owner ??= '';
      j.value.agentFailures ??= {};
      j.value.blockedAgents ??= [];
      this.jobs.set(j.value.id, { rec: j.value, rev: j.revision });
      if (!FINAL_JOB_STATES.has(j.value.state)) this.queue.setJob(queueMeta(j.value));
    }
    const queuedKeys: string[] = [];
    for (const s of shards) {
      const job = this.jobs.get(s.value.jobId)?.rec;
      if (!job) continue;
      if (s.value.state === 'done') this.doneCount.set(job.id, (this.doneCount.get(job.id) ?? 0) + 1);
      // A finished job's shards stay in the store.
      if (FINAL_JOB_STATES.has(job.state)) continue;
      const held = { rec: s.value, rev: s.revision };
      held.rec.notBeforeMs ??= 0;
      const k = shardKey(s.value.jobId, s.value.index);
      // Leases survive a restart, with a fresh deadline: their agents renew or are found silent.
      if (held.rec.state === 'leased') {
        held.rec.leaseExpiresMs = now + this.d.options.leaseMs;
        this.leased.add(k);
        this.queue.runningStarted(job.owner);
      }
      this.shards.set(k, held);
      if (held.rec.state === 'queued') queuedKeys.push(k);
    }
    // Once every shard is loaded: whether a queued shard waits for another depends on that one.
    for (const k of queuedKeys) {
      const rec = this.shards.get(k)!.rec;
      this.enqueue(k, rec, this.jobs.get(rec.jobId)!.rec);
    }
    let resumed = 0;
    for (const { rec } of this.jobs.values()) {
      if (FINAL_JOB_STATES.has(rec.state)) continue;
      resumed++;
      // Also a job whose last shard committed just before the previous coordinator died, before it
      // recorded 'assembling': no commit is left to start its assembly.
      if (rec.state === 'assembling' || this.shardsDone(rec.id) === rec.shardsTotal) this.startAssembly(rec.id);
      else if (rec.refine && !rec.refine.ready && this.upscaleStageDone(rec)) this.startRefinePrep(rec.id);
    }
    this.d.log.info({ jobs: this.jobs.size, shards: this.shards.size, resumed }, 'state loaded');
    this.sweepTimer = setInterval(() => this.background(this.sweep(), 'sweep'), this.d.options.sweepEveryMs);
    this.sweepTimer.unref();
  }

  /** Stops the sweeper and answers parked work requests with "no work". */
  stop(): void {
    this.stopped = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const p of this.parked) {
      clearTimeout(p.timer);
      p.resolve({ lease: undefined });
    }
    this.parked = [];
  }

  // ───────────────────────────── public API ─────────────────────────────

  /** Validates, plans and persists an upscale job. */
  async submitUpscale(sub: UpscaleSubmission): Promise<JobRecord> {
    const o = this.d.options;
    this.checkQueueRoom(1, sub.owner);
    const now = this.d.clock.now();
    const probe = await this.d.codec.probe(sub.image, o.maxInputPixels, 'upscale.image');
    const plan = planUpscale(
      {
        jobId: newJobId(now),
        name: sub.name,
        model: sub.model,
        seed: sub.seed,
        priority: sub.priority,
        maxAttempts: sub.maxAttempts,
        owner: sub.owner,
        width: probe.width,
        height: probe.height,
        tile: sub.tile,
        overlap: sub.overlap,
        // hook(speed): tile count from the fleet's speed mix (equal agents: their number, as before)
        agents: tilingAgentsFor(this.d.table, this.registry.live(), sub.model),
        nowMs: now,
        refine: sub.refine,
        formats: sub.formats, // hook(scale): requested output formats
        fleetClassesGb: this.registry.live().map((a) => a.classGb), // hook(scale): tile blocks for big classes
      },
      this.d.table,
      o,
    );
    this.checkQueueRoom(plan.shards.length, sub.owner);
    const img = await this.d.codec.decodeRgb(sub.image, o.maxInputPixels, 'upscale.image');
    const { job, shards } = plan;
    // Refine tiles get their inputs once the upscaled image exists.
    await mapLimit(
      shards.filter((s) => s.kind === 'upscale_tile'),
      8,
      async (s) => {
        const crop = cropRgb(img, s.input);
        s.inputKey = blobKeys.shardInput(job.id, s.index);
        s.inputSha256 = sha256Hex(crop);
        await this.d.blobs.put(s.inputKey, crop);
      },
    );
    return this.accept(job, shards, {
      tile: job.tile,
      overlap: job.overlap,
      input: `${job.inputWidth}x${job.inputHeight}`,
    });
  }

  /** Validates, plans and persists an image-to-video job (keyframes stored once for all batches). */
  async submitVideo(sub: VideoSubmission): Promise<JobRecord> {
    const o = this.d.options;
    this.checkQueueRoom(1, sub.owner);
    const images = [sub.image, ...sub.keyframes];
    if (images.length > 1000)
      throw new InvalidArgumentError('video.keyframes', `${images.length - 1} keyframes is above the limit of 999`);
    const { row, params } = resolveVideoParams(sub.request, images.length, this.d.table, o, this.d.codec.ffmpeg);
    // Keyframe i conditions batch i: more keyframes than batches could never be used. And the decoded
    // keyframes are held and stored at the output size: bound them before decoding anything.
    const batches =
      params.totalFrames <= params.framesPerBatch
        ? 1
        : Math.ceil((params.totalFrames - params.overlap) / (params.framesPerBatch - params.overlap));
    if (params.mode === 'chained' && images.length > 1) {
      throw new InvalidArgumentError(
        'video.keyframes',
        'only keyframed jobs take keyframes: a chained job starts from its image',
      );
    }
    if (params.mode === 'keyframed' && images.length > batches) {
      throw new InvalidArgumentError(
        'video.keyframes',
        `${images.length} keyframes (with image) but the clip has only ${batches} batches`,
      );
    }
    const decodedBytes = images.length * params.width * params.height * 3;
    if (decodedBytes > o.maxInputBytes * 4) {
      throw new InvalidArgumentError(
        'video.keyframes',
        `${images.length} keyframes at ${params.width}×${params.height} decode to ${decodedBytes} bytes, above the limit of ${o.maxInputBytes * 4}`,
      );
    }
    const now = this.d.clock.now();
    const jobId = newJobId(now);
    const frames: Uint8Array[] = [];
    for (let i = 0; i < images.length; i++) {
      const field = i === 0 ? 'video.image' : `video.keyframes[${i - 1}]`;
      await this.d.codec.probe(images[i], o.maxInputPixels, field);
      frames.push(await this.d.codec.decodeResized(images[i], params.width, params.height, o.maxInputPixels, field));
    }
    const input = concatBytes(frames);
    const inputKey = blobKeys.jobInput(jobId);
    const plan = planVideo(this.jobHeader(sub, jobId, now), row, params, this.d.table, inputKey);
    this.checkQueueRoom(plan.shards.length, sub.owner);
    const inputSha256 = sha256Hex(input);
    await this.d.blobs.put(inputKey, input);
    for (const s of plan.shards) if (s.inputKey) s.inputSha256 = inputSha256;
    return this.accept(plan.job, plan.shards, {
      frames: params.totalFrames,
      mode: params.mode,
      batches: plan.shards.length,
    });
  }

  /** Validates, plans and persists a video upscale (each shard's frames stored as its input). */
  async submitVideoUpscale(sub: VideoUpscaleSubmission): Promise<JobRecord> {
    const o = this.d.options;
    this.checkQueueRoom(1, sub.owner);
    const clip = await this.d.codec.decodeClip(sub, o.maxInputPixels, o.maxFrames);
    const now = this.d.clock.now();
    const plan = planVideoUpscale(
      this.jobHeader(sub, newJobId(now), now),
      {
        model: sub.model,
        totalFrames: clip.frames.length,
        width: clip.width,
        height: clip.height,
        // Animated images can imply a fractional rate (70 ms delays → 14.29 fps); the API carries whole fps.
        fps: Math.min(120, Math.max(1, Math.round(sub.fps || clip.fps || 8))),
        framesPerBatch: sub.framesPerBatch,
        formats: sub.formats,
        agents: this.registry.live().length,
      },
      this.d.table,
      o,
      this.d.codec.ffmpeg,
    );
    this.checkQueueRoom(plan.shards.length, sub.owner);
    const { job, shards } = plan;
    await mapLimit(shards, 8, async (s) => {
      const bytes = concatBytes(clip.frames.slice(s.firstFrame, s.firstFrame + s.frameCount));
      s.inputKey = blobKeys.shardInput(job.id, s.index);
      s.inputSha256 = sha256Hex(bytes);
      await this.d.blobs.put(s.inputKey, bytes);
    });
    return this.accept(job, shards, { frames: clip.frames.length, input: `${clip.width}x${clip.height}` });
  }

  /** Validates, plans and persists an image job (one shard per pipeline stage). */
  async submitImage(sub: ImageSubmission): Promise<JobRecord> {
    const o = this.d.options;
    this.checkQueueRoom(1, sub.owner);
    const now = this.d.clock.now();
    const jobId = newJobId(now);
    let init: { width: number; height: number } | undefined;
    if (sub.initImage.length) init = await this.d.codec.probe(sub.initImage, o.maxInputPixels, 'image.init_image');
    const { row, params } = resolveImageParams({ ...sub.request, init }, this.d.table);
    const inputKey = blobKeys.jobInput(jobId);
    const plan = planImage(this.jobHeader(sub, jobId, now), row, params, this.d.table, inputKey);
    this.checkQueueRoom(plan.shards.length, sub.owner);
    // hook(engines-b): the input blob holds the init image, then the control images (image-attachments.ts).
    const rgb = await imageInputRgb(this.d.codec, sub.initImage, sub.controlImages ?? [], params, o.maxInputPixels);
    if (rgb) {
      const info = await this.d.blobs.put(inputKey, rgb);
      plan.shards[0].inputSha256 = info.sha256;
    }
    return this.accept(plan.job, plan.shards, {
      stages: params.stages.join('→'),
      size: `${params.width}x${params.height}`,
    });
  }

  /** The fields every planner takes from a submission. */
  private jobHeader(
    sub: { name: string; seed: number; priority: number; maxAttempts: number; owner?: string },
    jobId: string,
    nowMs: number,
  ) {
    return {
      jobId,
      owner: sub.owner ?? '',
      name: sub.name,
      seed: sub.seed,
      priority: sub.priority,
      maxAttempts: sub.maxAttempts || this.d.options.maxAttempts,
      nowMs,
    };
  }

  private checkQueueRoom(more: number, owner = ''): void {
    const o = this.d.options;
    if (this.queue.size + more > o.maxQueuedShards) {
      throw new LimitExceededError(
        'job',
        `the farm has ${this.queue.size} shards queued; ${more} more would exceed the limit of ${o.maxQueuedShards}; try again later`,
      );
    }
    if (o.maxQueuedShardsPerUser) checkUserShards(o, owner, this.ownerUsage(owner), more);
  }

  /** What `owner` holds now (for the per-user limits); one pass over the jobs. */
  ownerUsage(owner: string): OwnerUsage {
    let unfinishedJobs = 0;
    let queuedShards = 0;
    for (const { rec } of this.jobs.values()) {
      if ((rec.owner ?? '') !== owner || FINAL_JOB_STATES.has(rec.state)) continue;
      unfinishedJobs++;
      queuedShards += this.queue.jobQueued(rec.id).count;
    }
    return { unfinishedJobs, queuedShards };
  }

  /** Persists a planned job: shard records, then the job record (a job record that exists is complete). */
  private async accept(job: JobRecord, shards: ShardRecord[], logFields: Record<string, unknown>): Promise<JobRecord> {
    await this.d.modelGate?.(job); // hook(models): validated; refused when its model is nowhere
    const revs = await mapLimit(shards, 64, (s) => this.d.store.createShard(s));
    const jobRev = await this.d.store.createJob(job);
    this.jobs.set(job.id, { rec: job, rev: jobRev });
    this.queue.setJob(queueMeta(job));
    shards.forEach((s, i) => this.shards.set(shardKey(job.id, s.index), { rec: s, rev: revs[i] }));
    for (const s of shards) this.enqueue(shardKey(job.id, s.index), s, job);
    this.d.metrics.jobsSubmitted.inc({ kind: job.kind });
    this.d.log.info(
      { job: job.id, kind: job.kind, model: job.model, shards: shards.length, ...logFields },
      'job accepted',
    );
    this.d.events.jobChanged(job);
    this.pump();
    return job;
  }

  /** A job record; throws NotFoundError. */
  jobRecord(id: string): JobRecord {
    const held = this.jobs.get(id);
    if (!held) throw new NotFoundError(`job ${JSON.stringify(id)} not found`);
    return held.rec;
  }

  /**
   * A job with its shard records (read from the store for a finished job: memory holds only the
   * live ones) and why it waits. `withShards: false` skips the shards.
   */
  async getJob(
    id: string,
    o: { withShards?: boolean } = {},
  ): Promise<{ job: JobRecord; shards: ShardRecord[]; waitingReason: string }> {
    const job = this.jobRecord(id);
    const shards = o.withShards === false ? [] : await this.shardsOf(job);
    return { job, shards, waitingReason: this.jobWaitingReason(job) };
  }

  /** A job's shard records: from memory while it runs, from the store once it has finished. */
  private async shardsOf(job: JobRecord): Promise<ShardRecord[]> {
    if (job.shardsTotal > 0 && !this.shards.has(shardKey(job.id, 0)) && FINAL_JOB_STATES.has(job.state))
      return this.d.store.loadShards(job.id, job.shardsTotal);
    return this.jobShards(job.id);
  }

  listJobs(limit: number): JobRecord[] {
    return [...this.jobs.values()]
      .map((h) => h.rec)
      .sort((a, b) => b.createdMs - a.createdMs || (a.id < b.id ? 1 : -1))
      .slice(0, limit);
  }

  /** Cancels a job; leased shards learn it at their next renewal (and from the cancel notice). */
  async cancelJob(id: string): Promise<JobRecord> {
    const held = this.jobs.get(id);
    if (!held) throw new NotFoundError(`job ${JSON.stringify(id)} not found`);
    if (FINAL_JOB_STATES.has(held.rec.state)) return held.rec;
    await this.finishJob(id, 'cancelled', 'cancelled by request');
    return this.jobs.get(id)!.rec;
  }

  agents(includeLost: boolean): { entry: AgentEntry; state: AgentState }[] {
    return this.registry
      .all()
      .filter((a) => includeLost || a.liveness === 'live')
      .map((entry) => ({
        entry,
        state:
          entry.liveness === 'lost'
            ? AgentState.AGENT_STATE_LOST
            : entry.advert.state === AgentState.AGENT_STATE_DRAINING
              ? AgentState.AGENT_STATE_DRAINING
              : entry.leases.size > 0
                ? AgentState.AGENT_STATE_BUSY
                : AgentState.AGENT_STATE_IDLE,
      }));
  }

  /** Number of shards waiting for an agent. */
  queuedCount(): number {
    return this.queue.size;
  }

  /** Queued shards grouped by required class (for metrics). */
  queuedByClass(): Map<number, number> {
    return this.queue.byClass();
  }

  /** Shard records held in memory (the live work; for the load benchmark and tests). */
  heldShardCount(): number {
    return this.shards.size;
  }

  // ───────────────────────────── agent protocol ─────────────────────────────

  /** Heartbeat: liveness, and confirmation of the leases the agent is working on. */
  heartbeat(hb: Heartbeat): void {
    if (!hb.advert?.agentId) return;
    if (!this.admitAgent(hb.advert)) return;
    const now = this.d.clock.now();
    const revived = this.registry.seen(hb.advert, now);
    const agent = this.registry.get(hb.advert.agentId)!;
    // A draining agent takes no new work: release its parked request so it can exit at once.
    if (hb.advert.state === AgentState.AGENT_STATE_DRAINING) this.unpark(agent.advert.agentId, { lease: undefined });
    if (revived) {
      this.d.log.info({ agent: hb.advert.name, class: classLabel(agent.classGb) }, 'agent joined');
      this.pump();
    }
    const held = new Set<string>();
    for (const l of hb.leases) {
      const k = shardKey(l.jobId, l.shardIndex);
      const s = this.shards.get(k);
      if (s && s.rec.state === 'leased' && s.rec.attempt === l.fencingToken && s.rec.agentId === agent.advert.agentId) {
        s.rec.leaseConfirmed = true;
        held.add(k);
        // After a coordinator restart the registry learns who holds which lease from here.
        agent.leases.add(k);
      }
    }
    // A lease granted to this agent that it does not know of (the grant was lost) goes back to the queue.
    for (const k of agent.leases) {
      const s = this.shards.get(k);
      if (!s || held.has(k)) continue;
      if (s.rec.state === 'leased' && !s.rec.leaseConfirmed && now - s.rec.leasedMs > this.d.options.agentSilenceMs) {
        this.background(
          this.requeue(k, s.rec.attempt, `lease not picked up by ${agent.advert.name}`, 'lease_lost'),
          'requeue',
        );
      }
    }
  }

  /** False (and a warning, at most once a minute) when the registry is full of live agents. */
  private admitAgent(advert: AgentAdvert): boolean {
    if (this.registry.hasRoomFor(advert.agentId)) return true;
    const now = this.d.clock.now();
    this.agentsRefused++;
    if (now - this.lastRefusalLogMs > 60_000) {
      this.lastRefusalLogMs = now;
      this.d.log.warn(
        { agent: advert.name, limit: this.d.options.maxAgents, refusedSoFar: this.agentsRefused },
        'agent registry full (--max-agents): adverts of new agents are ignored',
      );
    }
    return false;
  }

  /** A work request: answered at once with a lease, or parked until work arrives or wait_ms passes. */
  requestWork(req: WorkRequest): Promise<WorkGrant> {
    const advert = req.advert;
    if (!advert?.agentId) return Promise.resolve({ lease: undefined });
    if (!this.admitAgent(advert)) {
      // No answer before its wait is over, so a refused agent does not ask again at once.
      const waitMs = Math.min(Math.max(req.waitMs, 0), 30_000);
      return new Promise((resolve) => setTimeout(() => resolve({ lease: undefined }), waitMs).unref());
    }
    const now = this.d.clock.now();
    if (this.registry.seen(advert, now)) this.d.log.info({ agent: advert.name }, 'agent joined');
    const entry = this.registry.get(advert.agentId)!;
    if (this.stopped || advert.state === AgentState.AGENT_STATE_DRAINING) return Promise.resolve({ lease: undefined });
    // One outstanding request per agent slot: a newer one replaces the older.
    this.unpark(advert.agentId, { lease: undefined });
    const waitMs = Math.min(Math.max(req.waitMs, 0), 30_000);
    return new Promise<WorkGrant>((resolve) => {
      const parked: Parked = {
        agentId: advert.agentId,
        classGb: entry.classGb,
        waitingSince: ++this.parkSeq,
        modelsLoaded: advert.modelsLoaded,
        name: advert.name,
        modelRank: (m) => modelRank(advert, m, this.d.modelCatalog), // hook(models): route by model held
        advert,
        resolve,
        timer: setTimeout(() => this.unpark(advert.agentId, { lease: undefined }, parked), waitMs),
      };
      this.parked.push(parked);
      this.pump();
    });
  }

  /** Lease renewal; refuses superseded or cancelled leases so the agent stops. */
  async renewLease(r: LeaseRenewal): Promise<LeaseRenewalReply> {
    const ref = r.ref;
    if (!ref) return { ok: false, expiresUnixMs: 0, reason: 'unknown' };
    const k = shardKey(ref.jobId, ref.shardIndex);
    const s = this.shards.get(k);
    const job = this.jobs.get(ref.jobId)?.rec;
    if (job?.state === 'cancelled') return { ok: false, expiresUnixMs: 0, reason: 'cancelled' };
    // A finished job's shards are no longer held: no lease of it is current.
    if (!s) return { ok: false, expiresUnixMs: 0, reason: job ? 'superseded' : 'unknown' };
    if (s.rec.state === 'cancelled') return { ok: false, expiresUnixMs: 0, reason: 'cancelled' };
    if (s.rec.state !== 'leased' || s.rec.attempt !== ref.fencingToken || s.rec.agentId !== r.agentId) {
      return { ok: false, expiresUnixMs: 0, reason: 'superseded' };
    }
    const now = this.d.clock.now();
    s.rec.leaseExpiresMs = now + this.d.options.leaseMs;
    s.rec.leaseConfirmed = true;
    const seen = this.progress.get(k);
    if (!seen || seen.attempt !== ref.fencingToken || r.progress > seen.value) {
      this.progress.set(k, { attempt: ref.fencingToken, value: r.progress, sinceMs: now });
    }
    const agent = this.registry.get(r.agentId);
    if (agent) agent.lastSeenMs = now;
    return { ok: true, expiresUnixMs: s.rec.leaseExpiresMs, reason: '' };
  }

  /** A shard's outcome. Only the current lease (fencing token) may commit; the first valid result wins. */
  async reportResult(r: ShardResult): Promise<ShardResultReply> {
    const ref = r.ref;
    if (!ref) return { accepted: false, reason: 'unknown' };
    const k = shardKey(ref.jobId, ref.shardIndex);
    return this.locks.run(k, async () => {
      const s = this.shards.get(k);
      const job = this.jobs.get(ref.jobId)?.rec;
      if (!job) return { accepted: false, reason: 'unknown' };
      if (!s) {
        // The job has finished and its shards left memory: a repeated report of the committed
        // result is still a duplicate; anything else is late.
        const stored = FINAL_JOB_STATES.has(job.state) ? await this.d.store.getShard(job.id, ref.shardIndex) : null;
        if (!stored) return { accepted: false, reason: 'unknown' };
        const old = stored.value;
        if (old.state === 'done' && old.attempt === ref.fencingToken && old.agentId === r.agentId)
          return { accepted: true, reason: 'duplicate' };
        return this.refuse(job.state === 'cancelled' ? 'cancelled' : 'superseded', old, r);
      }
      const rec = s.rec;
      if (rec.state === 'done' && rec.attempt === ref.fencingToken && rec.agentId === r.agentId) {
        return { accepted: true, reason: 'duplicate' };
      }
      if (rec.state === 'cancelled' || job.state === 'cancelled') return this.refuse('cancelled', rec, r);
      if (rec.state !== 'leased' || rec.attempt !== ref.fencingToken || rec.agentId !== r.agentId) {
        return this.refuse('superseded', rec, r);
      }
      const agent = this.registry.get(r.agentId);
      if (!r.ok) {
        await this.failAttempt(k, rec, r, agent);
        return { accepted: true, reason: 'failure recorded' };
      }
      const info = await this.d.blobs.info(r.outputKey);
      if (
        !info ||
        info.sha256 !== r.outputSha256 ||
        info.size !== r.outputBytes ||
        r.outputKey !== blobKeys.shardOutput(rec.jobId, rec.index, rec.attempt)
      ) {
        this.d.metrics.resultsRefused.inc({ reason: 'checksum' });
        await this.requeueLocked(k, rec.attempt, `output of attempt ${rec.attempt} failed its checksum`, 'checksum');
        return { accepted: false, reason: 'checksum' };
      }
      const now = this.d.clock.now();
      const next: ShardRecord = {
        ...rec,
        state: 'done',
        reason: '',
        outputKey: r.outputKey,
        outputSha256: r.outputSha256,
        outputBytes: r.outputBytes,
        outputWidth: r.outputWidth,
        outputHeight: r.outputHeight,
        outputFrames: r.outputFrames,
        outputChannels: r.outputChannels,
        runSeconds: r.runSeconds,
      };
      if (!(await this.writeShard(k, next))) {
        // The record was reloaded: this very commit may have landed already (its acknowledgement lost).
        const cur = this.shards.get(k)?.rec;
        const ours = cur?.state === 'done' && cur.attempt === rec.attempt && cur.agentId === r.agentId;
        return ours ? { accepted: true, reason: 'duplicate' } : { accepted: false, reason: 'superseded' };
      }
      agent?.leases.delete(k);
      this.d.metrics.shardRunSeconds.observe(
        { model: job.model, vram_class: classLabel(rec.agentClassGb) },
        r.runSeconds,
      );
      this.d.metrics.shardsCompleted.inc({ stage: rec.stage });
      this.d.log.debug(
        { job: job.id, shard: rec.index, agent: rec.agentName, attempt: rec.attempt, ms: now - rec.leasedMs },
        'shard done',
      );
      this.d.events.shardChanged(job, next);
      this.afterCommit(job, rec.index);
      return { accepted: true, reason: '' };
    });
  }

  /** What a committed shard lets happen next: assembly, or the shards that waited for it. */
  private afterCommit(job: JobRecord, index: number): void {
    if (this.shardsDone(job.id) === job.shardsTotal) this.startAssembly(job.id);
    // A chained batch or the next pipeline stage that waited for this one can run now.
    else if (job.kind === 'video' || job.kind === 'image') this.releaseDependents(job, index);
    else if (job.refine && !job.refine.ready && this.upscaleStageDone(job)) this.startRefinePrep(job.id);
  }

  /** Runs `p` without awaiting it; a failure is logged, never an unhandled rejection. */
  private background(p: Promise<unknown>, what: string): void {
    p.catch((e: unknown) => this.d.log.error({ err: e }, `${what} failed`));
  }

  /**
   * NATS connectivity of this coordinator. While offline nothing is dispatched and no agent or lease
   * is judged by its silence; when the connection comes back every agent and lease gets a fresh
   * deadline, since their heartbeats and renewals could not reach us meanwhile.
   */
  setOnline(online: boolean): void {
    if (online === this.online) return;
    this.online = online;
    if (!online) {
      this.d.log.warn('NATS connection lost: dispatch and silence checks paused');
      return;
    }
    const now = this.d.clock.now();
    this.resumedMs = now;
    for (const a of this.registry.all()) if (a.liveness === 'live') a.lastSeenMs = now;
    for (const k of this.leased) {
      const s = this.shards.get(k);
      if (s?.rec.state === 'leased')
        s.rec.leaseExpiresMs = Math.max(s.rec.leaseExpiresMs, now + this.d.options.leaseMs);
    }
    this.d.log.info('NATS connection back: deadlines refreshed, dispatch resumed');
    this.pump();
  }

  // ───────────────────────────── dispatch ─────────────────────────────

  /** hook(speed): a held shard with its job, for placement's cost estimates. */
  private shardAndJob(k: string): { job: JobRecord; rec: ShardRecord } | undefined {
    const rec = this.shards.get(k)?.rec;
    const job = rec && this.jobs.get(rec.jobId)?.rec;
    return rec && job ? { job, rec } : undefined;
  }

  /**
   * Matches queued shards to parked agents; re-runs itself if work arrived meanwhile. The queue
   * index is read from its heads: a pass costs about (assignments × (owners + agents)), not the
   * length of the queue.
   */
  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        if (!this.online || this.parked.length === 0 || this.queue.size === 0) break;
        this.queue.releaseDue(this.d.clock.now());
        const taken = this.queue.take(
          this.parked,
          (k) => this.shards.get(k)?.rec.failedOn ?? [],
          // hook(speed): a slow agent gets a shard only if it finishes before a faster fitting one could
          coordinatorEftNarrow<Parked>(
            this.d.table,
            this.registry.all(),
            (k) => this.shardAndJob(k),
            this.d.clock.now(),
            this.queue.size,
          ),
        );
        if (taken.length === 0) break;
        const chosen = new Set<Parked>(taken.map((t) => t.agent));
        this.parked = this.parked.filter((p) => !chosen.has(p));
        for (const t of taken) {
          clearTimeout(t.agent.timer);
          void this.grant(t.key, t.agent);
        }
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
  }

  /**
   * Queues a shard in the index: held back while the shard it depends on has not committed or
   * (refine tiles) while the upscaled image is not assembled, and until its retry backoff passes.
   */
  private enqueue(k: string, rec: ShardRecord, job: JobRecord): void {
    if (FINAL_JOB_STATES.has(job.state)) return;
    const depPending = rec.dependsOn >= 0 && this.shards.get(shardKey(job.id, rec.dependsOn))?.rec.state !== 'done';
    const refinePending = rec.stage === 'refine' && !job.refine?.ready;
    this.queue.add(k, job.id, rec.index, rec.requiredClassGb, {
      gated: depPending || refinePending,
      notBeforeMs: rec.notBeforeMs ?? 0,
      nowMs: this.d.clock.now(),
    });
  }

  /** Shard `index` of `job` committed: the queued shards that waited for it may run. */
  private releaseDependents(job: JobRecord, index: number): void {
    const now = this.d.clock.now();
    for (let i = 0; i < job.shardsTotal; i++) {
      const k = shardKey(job.id, i);
      if (this.shards.get(k)?.rec.dependsOn === index) this.queue.release(k, now);
    }
    this.pump();
  }

  private async grant(k: string, p: Parked): Promise<void> {
    let writeFailed = false;
    const lease = await this.locks
      .run(k, async () => {
        const s = this.shards.get(k);
        const job = s && this.jobs.get(s.rec.jobId)?.rec;
        if (!s || !job || s.rec.state !== 'queued' || FINAL_JOB_STATES.has(job.state)) return undefined;
        const now = this.d.clock.now();
        const attempt = s.rec.attempt + 1;
        const agent = this.registry.get(p.agentId);
        const next: ShardRecord = {
          ...s.rec,
          ...this.leaseInputs(job, s.rec, p.classGb),
          state: 'leased',
          attempt,
          agentId: p.agentId,
          agentName: p.advert.name,
          agentClassGb: p.classGb,
          leasedMs: now,
          leaseExpiresMs: now + this.d.options.leaseMs,
          leaseConfirmed: false,
          reason: '',
        };
        const queuedSince = s.rec.leasedMs || job.createdMs;
        if (!(await this.writeShard(k, next))) return undefined;
        agent?.leases.add(k);
        this.d.metrics.dispatchLatency.observe((now - queuedSince) / 1000);
        if (job.state === 'queued') await this.setJob(job.id, { state: 'running', startedMs: now });
        this.d.events.shardChanged(this.jobs.get(job.id)!.rec, next);
        return {
          ref: { jobId: job.id, shardIndex: next.index, fencingToken: attempt },
          expiresUnixMs: next.leaseExpiresMs,
          renewEveryMs: this.d.options.renewEveryMs,
          task: {
            ...taskFor(job, next, attempt, (i) => this.shards.get(shardKey(job.id, i))?.rec),
            // hook(speed): the shard's work units by the cost model, what the agent measures its speed with
            workUnits: shardWork(this.d.table, job, next).units,
          },
        };
      })
      .catch((e) => {
        this.d.log.error({ err: e, shard: k }, 'lease write failed');
        writeFailed = true;
        return undefined;
      });
    if (!lease) {
      // The shard went away (its job ended, or a write failed). Re-queue it only if it can still
      // run, and give the agent another chance on a later turn of the event loop: re-pumping in the
      // same microtask chain could spin without ever letting I/O through.
      const s = this.shards.get(k);
      const job = s && this.jobs.get(s.rec.jobId)?.rec;
      // The dispatch pass counted it as running for its owner.
      this.queue.runningEnded(job?.owner ?? this.ownerOfKey(k));
      if (s?.rec.state === 'queued' && job) this.enqueue(k, s.rec, job);
      this.parked.push({ ...p, timer: setTimeout(() => this.unpark(p.agentId, { lease: undefined }), 1000) });
      // After a failed write (NATS trouble) back off instead of retrying at once.
      if (writeFailed) setTimeout(() => this.pump(), 500);
      else setImmediate(() => this.pump());
      return;
    }
    p.resolve({ lease });
  }

  /**
   * What a lease fixes at grant time: for a chained batch, its input is the committed output of the
   * batch it depends on (conditioned on the frame at its own start); for image-to-video, the VAE
   * decode chunk follows the agent's class unless the job pins it.
   */
  private leaseInputs(job: JobRecord, s: ShardRecord, agentClassGb: number): Partial<ShardRecord> {
    if (s.kind === 'sd_stage' && s.dependsOn >= 0) {
      // A later pipeline stage starts from what the stage before committed (latents or an image).
      const dep = this.shards.get(shardKey(job.id, s.dependsOn))!.rec;
      return { inputKey: dep.outputKey, inputSha256: dep.outputSha256 };
    }
    if (s.kind !== 'svd_batch' || !job.video) return {};
    const patch: Partial<ShardRecord> = {};
    if (s.dependsOn >= 0) {
      const dep = this.shards.get(shardKey(job.id, s.dependsOn))!.rec;
      patch.inputKey = dep.outputKey;
      patch.inputSha256 = dep.outputSha256;
      patch.inputFrames = dep.outputFrames;
      patch.conditioningFrame = s.firstFrame - dep.firstFrame;
    }
    const row = this.d.table.models.get(job.model);
    patch.decodeChunk = job.video.decodeChunk || (row && decodeChunkFor(row, agentClassGb)) || s.frameCount;
    return patch;
  }

  private unpark(agentId: string, grant: WorkGrant, only?: Parked): void {
    const idx = this.parked.findIndex((p) => p.agentId === agentId && (!only || p === only));
    if (idx < 0) return;
    const [p] = this.parked.splice(idx, 1);
    clearTimeout(p.timer);
    p.resolve(grant);
  }

  // ───────────────────────────── failure handling ─────────────────────────────

  private refuse(reason: string, rec: ShardRecord, r: ShardResult): ShardResultReply {
    this.d.metrics.resultsRefused.inc({ reason });
    this.d.log.warn(
      { job: rec.jobId, shard: rec.index, token: r.ref?.fencingToken, current: rec.attempt, agent: r.agentId, reason },
      'result refused',
    );
    return { accepted: false, reason };
  }

  private async failAttempt(k: string, rec: ShardRecord, r: ShardResult, agent: AgentEntry | undefined): Promise<void> {
    const agentName = agent?.advert.name ?? r.agentId;
    agent?.leases.delete(k);
    if (r.failure === FailureKind.FAILURE_KIND_FATAL) {
      this.d.metrics.retries.inc({ reason: 'fatal' });
      await this.writeShard(k, { ...rec, state: 'failed', reason: `${agentName}: ${r.error}` });
      await this.finishJob(rec.jobId, 'failed', `shard ${rec.index}: ${r.error}`, true);
      return;
    }
    // hook(models): a model the agent could not get is not the shard's failure: requeued without
    // counting against the agent (no blocklist), preferring other agents, after a short pause.
    if (r.failure === FailureKind.FAILURE_KIND_MODEL_UNAVAILABLE) {
      const failedOn = rec.failedOn.includes(r.agentId) ? rec.failedOn : [...rec.failedOn, r.agentId];
      const notBeforeMs = this.d.clock.now() + 1000;
      await this.requeueLocked(k, rec.attempt, `${agentName}: ${r.error}`, 'model_unavailable', {
        failedOn,
        notBeforeMs,
      });
      return;
    }
    let requiredClassGb = rec.requiredClassGb;
    let why = 'error';
    let notBeforeMs = 0;
    if (r.failure === FailureKind.FAILURE_KIND_ERROR || r.failure === FailureKind.FAILURE_KIND_UNSPECIFIED) {
      if (await this.countAgentFailure(k, rec, agentName, r.error)) return; // hook(ops): r.error names the cause
      // Exponential backoff: a failure that repeats at once (a missing file, a flaky GPU) does not spin.
      const o = this.d.options;
      const delayMs =
        o.retryBackoffMs > 0 ? Math.min(o.retryBackoffMaxMs, o.retryBackoffMs * 2 ** (rec.attempt - 1)) : 0;
      if (delayMs > 0) notBeforeMs = this.d.clock.now() + delayMs;
    }
    if (r.failure === FailureKind.FAILURE_KIND_OUT_OF_MEMORY) {
      why = 'out_of_memory';
      const up = this.d.table.classesGb.find((c) => c > rec.agentClassGb);
      if (up === undefined) {
        await this.writeShard(k, {
          ...rec,
          state: 'failed',
          reason: `out of memory on the largest class (${agentName})`,
        });
        await this.finishJob(
          rec.jobId,
          'failed',
          `shard ${rec.index} ran out of memory on class ${classLabel(rec.agentClassGb)}, the largest`,
          true,
        );
        return;
      }
      requiredClassGb = Math.max(requiredClassGb, up);
    }
    const failedOn = rec.failedOn.includes(r.agentId) ? rec.failedOn : [...rec.failedOn, r.agentId];
    await this.requeueLocked(k, rec.attempt, `attempt ${rec.attempt} failed on ${agentName}: ${r.error}`, why, {
      requiredClassGb,
      failedOn,
      notBeforeMs,
    });
  }

  /**
   * Counts a failed attempt against its agent on the job; at `blocklistAfter` failures the agent is
   * blocklisted for the job (no more of its shards). When that leaves no live agent that can run the
   * shard, the job fails rather than wait forever. Returns true when it failed the job.
   * Runs under the shard's lock.
   */
  private async countAgentFailure(k: string, rec: ShardRecord, agentName: string, lastError = ''): Promise<boolean> {
    const limit = this.d.options.blocklistAfter;
    let blockedNow = false;
    await this.setJob(rec.jobId, (cur) => {
      const failures = (cur.agentFailures?.[agentName] ?? 0) + 1;
      const blocked = cur.blockedAgents ?? [];
      blockedNow = limit > 0 && failures >= limit && !blocked.includes(agentName);
      return {
        agentFailures: { ...cur.agentFailures, [agentName]: failures },
        blockedAgents: blockedNow ? [...blocked, agentName] : blocked,
      };
    });
    const job = this.jobs.get(rec.jobId)?.rec;
    if (!blockedNow || !job || FINAL_JOB_STATES.has(job.state)) return false;
    this.queue.setJob(queueMeta(job));
    this.d.log.warn(
      { job: job.id, agent: agentName, failures: limit, blocked: job.blockedAgents },
      'agent blocklisted for this job',
    );
    const others = this.registry
      .live()
      .filter((a) => !job.blockedAgents.includes(a.advert.name) && a.classGb >= rec.requiredClassGb);
    if (others.length > 0) return false;
    const error = blocklistedJobError(rec.index, limit, job.blockedAgents, lastError); // hook(ops): names the cause
    this.registry.get(rec.agentId)?.leases.delete(k);
    await this.writeShard(k, { ...rec, state: 'failed', reason: error });
    await this.finishJob(rec.jobId, 'failed', error, true);
    return true;
  }

  /** Puts a leased shard back in the queue (lease lost, agent lost, failure), under the shard lock. */
  private requeue(k: string, attempt: number, reason: string, metricReason: string): Promise<void> {
    return this.locks.run(k, () => this.requeueLocked(k, attempt, reason, metricReason));
  }

  private async requeueLocked(
    k: string,
    attempt: number,
    reason: string,
    metricReason: string,
    patch: Partial<ShardRecord> = {},
  ): Promise<void> {
    const s = this.shards.get(k);
    if (!s || s.rec.state !== 'leased' || s.rec.attempt !== attempt) return;
    const job = this.jobs.get(s.rec.jobId)?.rec;
    this.registry.get(s.rec.agentId)?.leases.delete(k);
    if (!job || FINAL_JOB_STATES.has(job.state)) return;
    this.d.metrics.retries.inc({ reason: metricReason });
    if (s.rec.attempt >= job.maxAttempts) {
      await this.writeShard(k, { ...s.rec, ...patch, state: 'failed', reason });
      await this.finishJob(
        job.id,
        'failed',
        `shard ${s.rec.index} failed after ${s.rec.attempt} attempts: ${reason}`,
        true,
      );
      return;
    }
    const next: ShardRecord = {
      ...s.rec,
      notBeforeMs: 0,
      ...patch,
      state: 'queued',
      reason,
      leasedMs: this.d.clock.now(),
      leaseConfirmed: false,
    };
    if (!(await this.writeShard(k, next))) return;
    this.enqueue(k, next, job);
    const backoffMs = next.notBeforeMs > 0 ? next.notBeforeMs - this.d.clock.now() : undefined;
    this.d.log.warn({ job: job.id, shard: next.index, attempt, reason, backoffMs }, 'shard requeued');
    this.d.events.shardChanged(job, next);
    this.pump();
  }

  /** Expires leases and finds silent agents. */
  private async sweep(): Promise<void> {
    // While this coordinator is cut off from NATS, silence says nothing about the agents.
    if (!this.online) return;
    const now = this.d.clock.now();
    // Shards whose retry backoff has passed can be dispatched.
    if (this.queue.releaseDue(now) > 0) this.pump();
    if (this.d.options.retentionMs > 0 && now - this.lastRetentionMs > Math.min(60_000, this.d.options.retentionMs)) {
      this.lastRetentionMs = now;
      this.background(this.expireJobs(now), 'retention');
    }
    for (const a of this.registry.sweep(now, this.d.options.agentSilenceMs)) {
      this.d.log.warn({ agent: a.advert.name, leases: a.leases.size, silentMs: now - a.lastSeenMs }, 'agent lost');
      this.unpark(a.advert.agentId, { lease: undefined });
      for (const k of [...a.leases]) {
        const s = this.shards.get(k);
        if (s?.rec.state === 'leased' && s.rec.agentId === a.advert.agentId) {
          this.background(
            this.requeue(
              k,
              s.rec.attempt,
              `agent ${a.advert.name} lost (no heartbeat for ${Math.round((now - a.lastSeenMs) / 100) / 10} s)`,
              'agent_lost',
            ),
            'requeue',
          );
        }
      }
    }
    for (const k of this.leased) {
      const s = this.shards.get(k);
      if (!s || s.rec.state !== 'leased') continue;
      // The three timeouts of the shard's kind (options: global values, per-kind overrides).
      const t = this.d.options.timeouts[s.rec.kind];
      const p = this.progress.get(k);
      const stalledSince = p && p.attempt === s.rec.attempt ? p.sinceMs : s.rec.leasedMs;
      // Leases granted before a restart or a NATS outage are judged from then: their confirmations could not arrive.
      if (!s.rec.leaseConfirmed && now - Math.max(s.rec.leasedMs, this.resumedMs) > t.startMs) {
        this.background(
          this.requeue(
            k,
            s.rec.attempt,
            `attempt ${s.rec.attempt} was not started by ${s.rec.agentName} within ${t.startMs / 1000} s`,
            'timeout_start',
          ),
          'requeue',
        );
        continue;
      }
      if (now - s.rec.leasedMs > t.runtimeMs) {
        this.background(
          this.requeue(
            k,
            s.rec.attempt,
            `attempt ${s.rec.attempt} ran longer than the maximum of ${t.runtimeMs / 1000} s`,
            'timeout_runtime',
          ),
          'requeue',
        );
        continue;
      }
      if (now - stalledSince > t.stallMs) {
        this.background(
          this.requeue(
            k,
            s.rec.attempt,
            `attempt ${s.rec.attempt} made no progress for ${t.stallMs / 1000} s`,
            'timeout_no_progress',
          ),
          'requeue',
        );
        continue;
      }
      if (s.rec.state === 'leased' && s.rec.leaseExpiresMs < now) {
        this.background(
          this.requeue(k, s.rec.attempt, `lease of attempt ${s.rec.attempt} expired`, 'lease_expired'),
          'requeue',
        );
      }
    }
  }

  // ───────────────────────────── retention ─────────────────────────────

  /** Deletes finished jobs older than the retention period: blobs first, then records. */
  private async expireJobs(now: number): Promise<void> {
    const expired = [...this.jobs.values()]
      .map((h) => h.rec)
      .filter(
        (j) => FINAL_JOB_STATES.has(j.state) && j.finishedMs > 0 && now - j.finishedMs > this.d.options.retentionMs,
      );
    for (const job of expired) {
      const shards = await this.shardsOf(job);
      const keys = new Set<string>();
      if (job.inputKey) keys.add(job.inputKey);
      for (const s of shards) {
        if (s.inputKey) keys.add(s.inputKey);
        for (let a = 1; a <= s.attempt; a++) keys.add(blobKeys.shardOutput(job.id, s.index, a));
      }
      for (const o of job.outputs ?? []) {
        if (o.format === 'png-frames') for (let f = 0; f < o.frames; f++) keys.add(`${o.key}/${f}`);
        else keys.add(o.key);
      }
      await mapLimit([...keys], 16, (k) => this.d.blobs.delete(k));
      await this.d.store.deleteJob(job.id, job.shardsTotal);
      this.dropShards(job);
      this.jobs.delete(job.id);
      this.doneCount.delete(job.id);
      this.d.log.info({ job: job.id, blobs: keys.size }, 'job expired (retention)');
    }
  }

  // ───────────────────────────── upscale → refine ─────────────────────────────

  private upscaleStageDone(job: JobRecord): boolean {
    const first = job.refine?.firstShard ?? job.shardsTotal;
    for (let i = 0; i < first; i++) if (this.shards.get(shardKey(job.id, i))?.rec.state !== 'done') return false;
    return true;
  }

  private startRefinePrep(jobId: string): void {
    if (this.assembling.has(jobId)) return;
    this.assembling.add(jobId);
    this.background(
      this.prepareRefine(jobId).finally(() => this.assembling.delete(jobId)),
      'refine preparation',
    );
  }

  /** Blends the upscale tiles, gives each refine tile its input, then lets the refine tiles run. */
  private async prepareRefine(jobId: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const job = this.jobs.get(jobId)?.rec;
      if (!job?.refine || job.refine.ready || FINAL_JOB_STATES.has(job.state)) return;
      try {
        const inputs = await this.d.prepareRefine(job, this.jobShards(jobId));
        for (const [index, inp] of inputs) {
          const k = shardKey(jobId, index);
          await this.locks.run(k, async () => {
            const s = this.shards.get(k);
            if (s && s.rec.state === 'queued')
              await this.writeShard(k, { ...s.rec, inputKey: inp.key, inputSha256: inp.sha256 });
          });
        }
        await this.setJob(jobId, { refine: { ...job.refine, ready: true } });
        this.d.log.info({ job: jobId, tiles: inputs.size }, 'upscale assembled; refine tiles ready');
        const now = this.d.clock.now();
        for (let i = job.refine.firstShard; i < job.shardsTotal; i++) this.queue.release(shardKey(jobId, i), now);
        this.pump();
        return;
      } catch (e) {
        if (e instanceof ShardOutputCorruptError) {
          await this.rerunCorruptShard(jobId, e);
          return;
        }
        if (attempt >= ASSEMBLY_ATTEMPTS) {
          await this.finishJob(jobId, 'failed', `refine preparation failed: ${(e as Error).message}`);
          return;
        }
        await new Promise((r) => setTimeout(r, Math.min(8000, 250 * 2 ** attempt)));
      }
    }
  }

  // ───────────────────────────── assembly and job ends ─────────────────────────────

  private startAssembly(jobId: string): void {
    if (this.assembling.has(jobId)) return;
    this.assembling.add(jobId);
    this.background(
      this.runAssembly(jobId).finally(() => this.assembling.delete(jobId)),
      'assembly',
    );
  }

  /**
   * Assembles a finished job. A corrupt or missing shard output sends that shard back to the queue;
   * any other error (NATS trouble) is retried with backoff before the job fails.
   */
  private async runAssembly(jobId: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const held = this.jobs.get(jobId);
      if (!held || FINAL_JOB_STATES.has(held.rec.state)) return;
      try {
        if (held.rec.state !== 'assembling') await this.setJob(jobId, { state: 'assembling' });
        const t0 = performance.now();
        const outputs = await this.d.assemble(this.jobs.get(jobId)!.rec, this.jobShards(jobId));
        this.d.metrics.reassemblySeconds.observe((performance.now() - t0) / 1000);
        for (const out of outputs) this.d.metrics.outputBytes.inc(out.bytes);
        const primary = outputs[0];
        await this.setJob(jobId, {
          outputs,
          outputKey: primary.key,
          outputBytes: primary.bytes,
          outputSha256: primary.sha256,
          outputContentType: primary.contentType,
        });
        await this.finishJob(jobId, 'succeeded', '');
        return;
      } catch (e) {
        if (e instanceof ShardOutputCorruptError) {
          await this.rerunCorruptShard(jobId, e);
          return;
        }
        if (attempt < ASSEMBLY_ATTEMPTS) {
          const delayMs = Math.min(8000, 250 * 2 ** attempt);
          this.d.log.warn({ job: jobId, attempt, delayMs, err: (e as Error).message }, 'assembly failed; retrying');
          await new Promise((r) => setTimeout(r, delayMs));
          continue;
        }
        this.d.log.error({ job: jobId, err: e }, 'assembly failed');
        await this.finishJob(jobId, 'failed', `assembly failed: ${e instanceof Error ? e.message : String(e)}`);
        return;
      }
    }
  }

  private async rerunCorruptShard(jobId: string, e: ShardOutputCorruptError): Promise<void> {
    const k = shardKey(jobId, e.shardIndex);
    this.d.log.warn({ job: jobId, shard: e.shardIndex, err: e.message }, 'shard output corrupt; running it again');
    await this.locks.run(k, async () => {
      const s = this.shards.get(k);
      if (!s || s.rec.state !== 'done') return;
      const next: ShardRecord = { ...s.rec, state: 'queued', reason: e.message, outputKey: '', notBeforeMs: 0 };
      const job = this.jobs.get(jobId)?.rec;
      if ((await this.writeShard(k, next)) && job) this.enqueue(k, next, job);
    });
    await this.setJob(jobId, { state: 'running' });
    this.pump();
  }

  /**
   * Moves a job to a final state and cancels its unfinished shards. `insideShardLock` is true when
   * the caller holds a shard lock: the shard updates are then queued behind it, not awaited.
   */
  private async finishJob(
    jobId: string,
    state: 'succeeded' | 'failed' | 'cancelled',
    error: string,
    insideShardLock = false,
  ): Promise<void> {
    const held = this.jobs.get(jobId);
    if (!held || FINAL_JOB_STATES.has(held.rec.state)) return;
    const now = this.d.clock.now();
    // No shard of an ending job may be dispatched from here on.
    this.queue.removeJob(jobId, held.rec.shardsTotal, (i) => shardKey(jobId, i));
    await this.setJob(jobId, { state, error, finishedMs: now });
    const job = this.jobs.get(jobId)!.rec;
    if (state === 'cancelled') this.d.events.jobCancelled(jobId);
    if (state !== 'succeeded') {
      const reason = state === 'cancelled' ? 'job cancelled' : 'job failed';
      const pending: Promise<unknown>[] = [];
      for (const s of this.jobShards(jobId)) {
        if (s.state !== 'queued' && s.state !== 'leased') continue;
        const k = shardKey(jobId, s.index);
        const done = this.locks.run(k, async () => {
          const cur = this.shards.get(k);
          if (cur && (cur.rec.state === 'queued' || cur.rec.state === 'leased')) {
            this.registry.get(cur.rec.agentId)?.leases.delete(k);
            await this.writeShard(k, { ...cur.rec, state: 'cancelled', reason });
          }
        });
        pending.push(done.catch((e: unknown) => this.d.log.error({ err: e, shard: k }, 'could not cancel shard')));
      }
      // Its shard records leave memory once written (they stay in the store).
      const settled = Promise.all(pending).then(() => this.dropShards(job));
      if (!insideShardLock) await settled;
    } else {
      this.dropShards(job);
    }
    this.d.metrics.jobsCompleted.inc({ kind: job.kind, outcome: state });
    this.d.metrics.jobDuration.observe({ kind: job.kind, outcome: state }, (now - job.createdMs) / 1000);
    this.d.log.info(
      { job: jobId, state, error: error || undefined, seconds: (now - job.createdMs) / 1000 },
      'job finished',
    );
  }

  // ───────────────────────────── persistence helpers ─────────────────────────────

  /**
   * CAS-writes a shard; false when the stored revision is not the cached one. The stored record is
   * then reloaded into the cache: an earlier write of ours whose acknowledgement was lost (NATS
   * dropped the connection after the server applied it) leaves the cache one revision behind, and
   * without the reload every later transition of that shard would be refused for good.
   */
  private async writeShard(k: string, next: ShardRecord): Promise<boolean> {
    const held = this.shards.get(k);
    if (!held) return false;
    try {
      const rev = await this.d.store.updateShard(next, held.rev);
      this.cacheShard(k, { rec: next, rev });
      return true;
    } catch (e) {
      if (e instanceof StaleRevisionError) {
        this.d.log.error({ shard: k }, 'shard record changed under us; refusing the transition');
        await this.reloadShard(k).catch((err: unknown) => this.d.log.warn({ err, shard: k }, 'shard reload failed'));
        return false;
      }
      throw e;
    }
  }

  /** Drops a finished job's shard records from memory (they stay in the store). */
  private dropShards(job: JobRecord): void {
    for (let i = 0; i < job.shardsTotal; i++) {
      const k = shardKey(job.id, i);
      this.shards.delete(k);
      this.progress.delete(k);
      if (this.leased.delete(k)) this.queue.runningEnded(job.owner);
    }
  }

  /** The owner of the job a shard key belongs to. */
  private ownerOfKey(k: string): string {
    const s = this.shards.get(k);
    return (s && this.jobs.get(s.rec.jobId)?.rec.owner) ?? '';
  }

  /** Replaces a cached shard record, keeping the counts derived from it in step. */
  private cacheShard(k: string, held: Held<ShardRecord>): void {
    const prev = this.shards.get(k)?.rec;
    this.shards.set(k, held);
    const next = held.rec;
    if (next.state !== 'queued') this.queue.remove(k);
    if (next.state === 'leased') this.leased.add(k);
    else if (prev?.state === 'leased') {
      this.leased.delete(k);
      this.queue.runningEnded(this.ownerOfKey(k));
    }
    const delta = (held.rec.state === 'done' ? 1 : 0) - (prev?.state === 'done' ? 1 : 0);
    if (delta) this.doneCount.set(held.rec.jobId, (this.doneCount.get(held.rec.jobId) ?? 0) + delta);
  }

  /** Adopts the stored version of a shard record (see writeShard), with what follows from it. */
  private async reloadShard(k: string): Promise<void> {
    const prev = this.shards.get(k)?.rec;
    if (!prev) return;
    const stored = await this.d.store.getShard(prev.jobId, prev.index);
    if (!stored || this.shards.get(k)?.rec !== prev) return;
    const rec = stored.value;
    this.cacheShard(k, { rec, rev: stored.revision });
    const owner = this.jobs.get(rec.jobId)?.rec;
    if (rec.state === 'queued' && owner) this.enqueue(k, rec, owner);
    if (rec.state !== 'leased' || rec.agentId !== prev.agentId) this.registry.get(prev.agentId)?.leases.delete(k);
    if (rec.state === 'leased') this.registry.get(rec.agentId)?.leases.add(k);
    this.d.log.warn(
      { shard: k, cached: `${prev.state}/${prev.attempt}`, stored: `${rec.state}/${rec.attempt}` },
      'shard record reloaded from the store',
    );
    const job = this.jobs.get(rec.jobId)?.rec;
    if (!job) return;
    this.d.events.shardChanged(job, rec);
    if (rec.state === 'done' && prev.state !== 'done') this.afterCommit(job, rec.index);
  }

  /**
   * Updates a job record under its lock; `patch` may be computed from the current record. Only the
   * leader writes job records (FencedStateStore): a stale revision is an earlier write of ours whose
   * acknowledgement was lost, so the patch is applied again to what is stored.
   */
  private async setJob(
    jobId: string,
    patch: Partial<JobRecord> | ((cur: JobRecord) => Partial<JobRecord>),
  ): Promise<void> {
    await this.locks.run(`job:${jobId}`, async () => {
      const held = this.jobs.get(jobId);
      if (!held) return;
      const apply = (cur: JobRecord) => ({ ...cur, ...(typeof patch === 'function' ? patch(cur) : patch) });
      let next = apply(held.rec);
      let rev: number;
      try {
        rev = await this.d.store.updateJob(next, held.rev);
      } catch (e) {
        const stored = e instanceof StaleRevisionError ? await this.d.store.getJob(jobId) : undefined;
        if (!stored) throw e;
        this.d.log.warn({ job: jobId }, 'job record reloaded from the store');
        next = apply(stored.value);
        rev = await this.d.store.updateJob(next, stored.revision);
      }
      this.jobs.set(jobId, { rec: next, rev });
      this.d.events.jobChanged(next);
    });
  }

  /** Committed shards of a job. */
  shardsDone(jobId: string): number {
    return this.doneCount.get(jobId) ?? 0;
  }

  /** The shard records of a job held in memory (an unfinished job's), in index order. */
  jobShards(jobId: string): ShardRecord[] {
    const job = this.jobs.get(jobId)?.rec;
    if (!job) return [];
    const out: ShardRecord[] = [];
    for (let i = 0; i < job.shardsTotal; i++) {
      const s = this.shards.get(shardKey(jobId, i));
      if (s) out.push(s.rec);
    }
    return out;
  }

  /** Why a job's queued shards are not running, or ''. */
  jobWaitingReason(job: JobRecord): string {
    if (FINAL_JOB_STATES.has(job.state) || job.state === 'assembling') return '';
    const waiting = this.queue.jobQueued(job.id);
    if (waiting.count === 0) return '';
    const modelWait = this.d.modelWaitReason?.(job) ?? ''; // hook(models): its model is nowhere yet
    const blocked = job.blockedAgents ?? [];
    const reason = waitingReason(
      waiting.maxClassGb,
      this.registry
        .live()
        .filter((a) => !blocked.includes(a.advert.name))
        .map((a) => a.classGb),
      classLabel,
    );
    const why = reason && blocked.length ? `${reason}; blocklisted for this job: ${blocked.join(', ')}` : reason;
    return [why, modelWait].filter(Boolean).join('; '); // hook(models)
  }
}

/** What the queue index needs of a job. */
function queueMeta(job: JobRecord): QueueJobMeta {
  return {
    id: job.id,
    priority: job.priority,
    createdMs: job.createdMs,
    owner: job.owner ?? '',
    model: job.model,
    blocked: job.blockedAgents ?? [],
  };
}

/** Crops a rectangle out of an RGB8 image. */
export function cropRgb(img: DecodedImage, r: { x: number; y: number; width: number; height: number }): Uint8Array {
  const out = new Uint8Array(r.width * r.height * 3);
  const rowBytes = r.width * 3;
  for (let y = 0; y < r.height; y++) {
    const src = ((r.y + y) * img.width + r.x) * 3;
    out.set(img.data.subarray(src, src + rowBytes), y * rowBytes);
  }
  return out;
}

/** Maps with at most `limit` promises in flight; results in input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** The engine task of a lease. */
export function taskFor(
  job: JobRecord,
  s: ShardRecord,
  attempt: number,
  deps: (index: number) => ShardRecord | undefined,
): ShardTask {
  const base: ShardTask = {
    kind: s.kind,
    model: job.model,
    inputKey: s.inputKey,
    inputWidth: s.input.width,
    inputHeight: s.input.height,
    seed: s.seed,
    outputKey: blobKeys.shardOutput(job.id, s.index, attempt),
    inputSha256: s.inputSha256,
    inputFrames: s.kind === 'upscale_tile' ? 1 : s.inputFrames,
    video: undefined,
    image: undefined,
    workUnits: 0,
  };
  if (s.kind === 'sd_stage' && job.image) {
    base.image = imageTask(job, s, deps);
  }
  if (s.kind === 'sd_stage' && job.refine) {
    const r = job.refine;
    base.image = {
      modelDir: r.model,
      stage: 'refine',
      prompt: r.prompt,
      negativePrompt: r.negativePrompt,
      width: s.input.width,
      height: s.input.height,
      steps: r.steps,
      guidanceScale: r.guidanceScale,
      strength: r.strength,
      scheduler: r.scheduler,
      denoisingStart: 0,
      denoisingEnd: 0,
      inputKind: 'image',
      latentChannels: 0,
      latentHeight: 0,
      latentWidth: 0,
      outputLatents: false,
      ...imageTaskAttachments(undefined, 0), // hook(engines-b): none for refine tiles
    };
  }
  if (s.kind === 'svd_batch' && job.video) {
    const v = job.video;
    base.video = {
      numFrames: s.frameCount,
      width: v.width,
      height: v.height,
      fps: v.fps,
      motionBucketId: v.motionBucketId,
      noiseAugStrength: v.noiseAugStrength,
      steps: v.steps,
      minGuidanceScale: v.minGuidanceScale,
      maxGuidanceScale: v.maxGuidanceScale,
      decodeChunk: s.decodeChunk,
      conditioningFrame: s.conditioningFrame,
    };
  }
  return base;
}

/** The parameters of one pipeline stage of an image job. */
function imageTask(job: JobRecord, s: ShardRecord, deps: (index: number) => ShardRecord | undefined): ImageTask {
  const p = job.image!;
  const dep = s.dependsOn >= 0 ? deps(s.dependsOn) : undefined;
  const last = s.index === p.stages.length - 1;
  // SDXL ensemble of experts: the base stops at high_noise_frac and hands its latents to the refiner.
  const sdxlTwoStage = job.model === 'sdxl' && p.stages.length === 2;
  return {
    modelDir: stageModelDir(job.model, p.stages, s.stage),
    stage: s.stage,
    prompt: p.prompt,
    negativePrompt: p.negativePrompt,
    width: p.width,
    height: p.height,
    // hook(engines-a): Stable Cascade's decoder and VQGAN stages run with their own defaults (0 = the stage's)
    steps: stageUsesOwnDefaults(p.stages, s.index) ? 0 : p.steps,
    guidanceScale: stageUsesOwnDefaults(p.stages, s.index) ? 0 : p.guidanceScale,
    strength: s.index === 0 ? p.strength : 0,
    scheduler: p.scheduler,
    denoisingStart: sdxlTwoStage && s.stage === 'refiner' ? p.highNoiseFrac : 0,
    denoisingEnd: sdxlTwoStage && s.stage === 'base' ? p.highNoiseFrac : 0,
    inputKind: dep ? (dep.outputChannels ? 'latents' : 'image') : p.img2img ? 'image' : 'none',
    latentChannels: dep?.outputChannels ?? 0,
    latentHeight: dep?.outputChannels ? dep.outputHeight : 0,
    latentWidth: dep?.outputChannels ? dep.outputWidth : 0,
    outputLatents: !last,
    ...imageTaskAttachments(p, s.index), // hook(engines-b): ControlNets and VAE swap of the stage
  };
}
