import { Metadata, type CallOptions as GrpcCallOptions, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AgentServiceClient,
  JobServiceClient,
  VideoFormat,
  ImageFormat,
  VideoMode,
  type AgentInfo,
  type GetJobOutputResponse,
  type Job,
  type SubmitJobRequest,
  type WatchJobResponse,
} from '@tessera/protocol';
import { writeOutput, type DownloadProgress, type DownloadResult } from './download.js';
import { TesseraRpcError, toRpcError } from './errors.js';
import { compileClientOptions, DEFAULT_SERVER, type TesseraClientOptions } from './options.js';
import { MAX_WATCH_RETRIES, retryDelayMs } from './retry.js';
import { isFinalJobState } from './states.js';
import { readStream } from './stream.js';

/** Per-call options: every call can be cancelled; unary calls also take a deadline. */
export interface CallOptions {
  /** Cancels the call; the promise rejects (or the iteration throws) with the signal's reason. */
  signal?: AbortSignal;
  /** Deadline for this unary call in ms, overriding the client's `deadlineMs` (0 = none). */
  deadlineMs?: number;
}

/** A tiled upscale to submit. Unset numbers let the coordinator choose (0). */
export interface SubmitUpscaleRequest {
  /** Encoded input image (PNG, JPEG, WebP, …). */
  image: Uint8Array;
  /** Upscaler model id, e.g. "esrgan-slim-x4". */
  model: string;
  /** Core tile side in input pixels (default: planner's choice). */
  tile?: number;
  /** Context per tile side in input pixels (default: the model's). */
  overlap?: number;
  /** Job seed (default 0). */
  seed?: number;
  /** Higher runs first (default 0). */
  priority?: number;
  /** Free-form label. */
  name?: string;
  /** Leases a shard may get before the job fails (default: coordinator's). */
  maxAttempts?: number;
  /** Output formats, the first being the primary output (default: PNG only). */
  formats?: ImageFormatName[];
  /** Refine the upscaled image with SD img2img on overlapping tiles (zeros: defaults). */
  refine?: {
    model: string;
    prompt: string;
    negativePrompt?: string;
    strength?: number;
    steps?: number;
    guidanceScale?: number;
    tile?: number;
    overlap?: number;
    scheduler?: string;
  };
}

/** Output formats of upscale jobs: PNG, or a tiled pyramidal TIFF (for gigapixel outputs). */
export type ImageFormatName = 'png' | 'tiff';

const IMAGE_FORMATS: Record<ImageFormatName, ImageFormat> = {
  png: ImageFormat.IMAGE_FORMAT_PNG,
  tiff: ImageFormat.IMAGE_FORMAT_TIFF,
};

/** Output formats of video jobs. */
export type VideoFormatName = 'png-frames' | 'webp' | 'mp4';

const VIDEO_FORMATS: Record<VideoFormatName, VideoFormat> = {
  'png-frames': VideoFormat.VIDEO_FORMAT_PNG_FRAMES,
  webp: VideoFormat.VIDEO_FORMAT_WEBP,
  mp4: VideoFormat.VIDEO_FORMAT_MP4,
};

/** An image-to-video job (SVD / SVD-XT). Unset numbers take the model's defaults. */
export interface SubmitVideoRequest {
  /** Encoded conditioning image (the first keyframe). */
  image: Uint8Array;
  /** More keyframes (keyframed mode): keyframe i conditions batch i. */
  keyframes?: Uint8Array[];
  /** "svd-xt" or "svd". */
  model: string;
  totalFrames: number;
  mode?: 'keyframed' | 'chained';
  fps?: number;
  motionBucketId?: number;
  noiseAugStrength?: number;
  steps?: number;
  minGuidanceScale?: number;
  maxGuidanceScale?: number;
  framesPerBatch?: number;
  overlap?: number;
  formats?: VideoFormatName[];
  width?: number;
  height?: number;
  /** Pin the VAE decode chunk for every batch (0 = per agent class). */
  decodeChunk?: number;
  seed?: number;
  priority?: number;
  name?: string;
  maxAttempts?: number;
}

/** A clip through an upscaler: `clip` (animated WebP/GIF, MP4) or `frames` (encoded images). */
export interface SubmitVideoUpscaleRequest {
  clip?: Uint8Array;
  frames?: Uint8Array[];
  model: string;
  framesPerBatch?: number;
  formats?: VideoFormatName[];
  fps?: number;
  seed?: number;
  priority?: number;
  name?: string;
  maxAttempts?: number;
}

/** A txt2img / img2img job; each pipeline stage is a shard on an agent of its own class. */
export interface SubmitImageRequest {
  /** Hardware-table model id: sd15, sd21, sdxl, sd35m, cascade, … */
  model: string;
  prompt: string;
  negativePrompt?: string;
  width?: number;
  height?: number;
  steps?: number;
  guidanceScale?: number;
  /** img2img: the encoded input image and the fraction of the schedule to run. */
  initImage?: Uint8Array;
  strength?: number;
  scheduler?: string;
  /** SDXL: add the refiner stage. */
  refine?: boolean;
  highNoiseFrac?: number;
  /** SD 1.5 / SDXL: ControlNets (table rows of kind controlnet) with their encoded control images. */
  controlNets?: {
    model: string;
    image: Uint8Array;
    /** 'none' (default: the image is already a control map), 'canny' or 'blur'. */
    preprocess?: string;
    /** Conditioning scale (default 1). */
    scale?: number;
    guidanceStart?: number;
    guidanceEnd?: number;
  }[];
  /** A VAE (table row of kind vae) replacing the model's, e.g. kl-f8-anime2. */
  vae?: string;
  seed?: number;
  priority?: number;
  name?: string;
  maxAttempts?: number;
}

/** Which output of a job to fetch: "" (primary), "png", "webp", "mp4", or "png-frames" with a frame. */
export interface OutputSelector {
  format?: string;
  frame?: number;
}

const buf = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

/** Called for every WatchJob event that `waitForJob` sees. */
export type WatchListener = (event: WatchJobResponse) => void;

type UnaryFn<Req, Res> = (
  req: Req,
  md: Metadata,
  opts: Partial<GrpcCallOptions>,
  cb: (err: ServiceError | null, res: Res) => void,
) => ClientUnaryCall;

/**
 * Typed client of a Tessera farm's JobService and AgentService over one gRPC channel.
 * Promise methods for unary calls, async iterables for streams; every failure from the server is a
 * TesseraRpcError. Call `close()` when done (the channel keeps the process alive).
 */
export class TesseraClient {
  /** The HOST:PORT this client talks to. */
  readonly address: string;
  private readonly jobs: JobServiceClient;
  private readonly agents: AgentServiceClient;
  private readonly token: string | undefined;
  private readonly deadlineMs: number;

  constructor(address: string = process.env.TESSERA_SERVER ?? DEFAULT_SERVER, options: TesseraClientOptions = {}) {
    const opts = compileClientOptions(address, options);
    this.address = opts.address;
    this.token = opts.token;
    this.deadlineMs = opts.deadlineMs;
    this.jobs = new JobServiceClient(opts.address, opts.credentials, opts.channelOptions);
    this.agents = new AgentServiceClient(opts.address, opts.credentials, {
      ...opts.channelOptions,
      channelOverride: this.jobs.getChannel(),
    });
  }

  /** Submits a tiled upscale; resolves to the accepted job (state QUEUED, shards planned). */
  async submitUpscale(req: SubmitUpscaleRequest, call?: CallOptions): Promise<Job> {
    const image = Buffer.from(req.image.buffer, req.image.byteOffset, req.image.byteLength);
    const request: SubmitJobRequest = {
      name: req.name ?? '',
      seed: req.seed ?? 0,
      priority: req.priority ?? 0,
      maxAttempts: req.maxAttempts ?? 0,
      spec: {
        $case: 'upscale',
        value: {
          image,
          model: req.model,
          tile: req.tile ?? 0,
          overlap: req.overlap ?? 0,
          formats: (req.formats ?? []).map((f) => IMAGE_FORMATS[f]),
          refine: req.refine && {
            model: req.refine.model,
            prompt: req.refine.prompt,
            negativePrompt: req.refine.negativePrompt ?? '',
            strength: req.refine.strength ?? 0,
            steps: req.refine.steps ?? 0,
            guidanceScale: req.refine.guidanceScale ?? 0,
            tile: req.refine.tile ?? 0,
            overlap: req.refine.overlap ?? 0,
            scheduler: req.refine.scheduler ?? '',
          },
        },
      },
    };
    const res = await this.unary('SubmitJob', this.jobs.submitJob.bind(this.jobs), request, call);
    return requireJob(res.job, 'SubmitJob');
  }

  /** Submits an image-to-video job; resolves to the accepted job (batches planned). */
  async submitVideo(req: SubmitVideoRequest, call?: CallOptions): Promise<Job> {
    const request: SubmitJobRequest = {
      name: req.name ?? '',
      seed: req.seed ?? 0,
      priority: req.priority ?? 0,
      maxAttempts: req.maxAttempts ?? 0,
      spec: {
        $case: 'video',
        value: {
          image: buf(req.image),
          keyframes: (req.keyframes ?? []).map(buf),
          model: req.model,
          totalFrames: req.totalFrames,
          fps: req.fps ?? 0,
          motionBucketId: req.motionBucketId ?? 0,
          noiseAugStrength: req.noiseAugStrength ?? 0,
          steps: req.steps ?? 0,
          minGuidanceScale: req.minGuidanceScale ?? 0,
          maxGuidanceScale: req.maxGuidanceScale ?? 0,
          framesPerBatch: req.framesPerBatch ?? 0,
          overlap: req.overlap ?? 0,
          mode: req.mode === 'chained' ? VideoMode.VIDEO_MODE_CHAINED : VideoMode.VIDEO_MODE_KEYFRAMED,
          formats: (req.formats ?? []).map((f) => VIDEO_FORMATS[f]),
          width: req.width ?? 0,
          height: req.height ?? 0,
          decodeChunk: req.decodeChunk ?? 0,
        },
      },
    };
    const res = await this.unary('SubmitJob', this.jobs.submitJob.bind(this.jobs), request, call);
    return requireJob(res.job, 'SubmitJob');
  }

  /** Submits a video upscale; resolves to the accepted job. */
  async submitVideoUpscale(req: SubmitVideoUpscaleRequest, call?: CallOptions): Promise<Job> {
    const request: SubmitJobRequest = {
      name: req.name ?? '',
      seed: req.seed ?? 0,
      priority: req.priority ?? 0,
      maxAttempts: req.maxAttempts ?? 0,
      spec: {
        $case: 'videoUpscale',
        value: {
          clip: buf(req.clip ?? new Uint8Array()),
          frames: (req.frames ?? []).map(buf),
          model: req.model,
          framesPerBatch: req.framesPerBatch ?? 0,
          formats: (req.formats ?? []).map((f) => VIDEO_FORMATS[f]),
          fps: req.fps ?? 0,
        },
      },
    };
    const res = await this.unary('SubmitJob', this.jobs.submitJob.bind(this.jobs), request, call);
    return requireJob(res.job, 'SubmitJob');
  }

  /** Submits an image job; resolves to the accepted job (one shard per pipeline stage). */
  async submitImage(req: SubmitImageRequest, call?: CallOptions): Promise<Job> {
    const request: SubmitJobRequest = {
      name: req.name ?? '',
      seed: req.seed ?? 0,
      priority: req.priority ?? 0,
      maxAttempts: req.maxAttempts ?? 0,
      spec: {
        $case: 'image',
        value: {
          model: req.model,
          prompt: req.prompt,
          negativePrompt: req.negativePrompt ?? '',
          width: req.width ?? 0,
          height: req.height ?? 0,
          steps: req.steps ?? 0,
          guidanceScale: req.guidanceScale ?? 0,
          initImage: buf(req.initImage ?? new Uint8Array()),
          strength: req.strength ?? 0,
          scheduler: req.scheduler ?? '',
          refine: req.refine ?? false,
          highNoiseFrac: req.highNoiseFrac ?? 0,
          controlnets: (req.controlNets ?? []).map((c) => ({
            model: c.model,
            image: buf(c.image),
            preprocess: c.preprocess ?? '',
            scale: c.scale,
            guidanceStart: c.guidanceStart ?? 0,
            guidanceEnd: c.guidanceEnd,
          })),
          vae: req.vae ?? '',
        },
      },
    };
    const res = await this.unary('SubmitJob', this.jobs.submitJob.bind(this.jobs), request, call);
    return requireJob(res.job, 'SubmitJob');
  }

  /** Current state of one job, with its shards. NOT_FOUND for an unknown id. */
  async getJob(id: string, call?: CallOptions): Promise<Job> {
    const res = await this.unary('GetJob', this.jobs.getJob.bind(this.jobs), { jobId: id }, call);
    return requireJob(res.job, 'GetJob');
  }

  /** Cancels a job (a no-op for a finished one); resolves to its state afterwards. */
  async cancelJob(id: string, call?: CallOptions): Promise<Job> {
    const res = await this.unary('CancelJob', this.jobs.cancelJob.bind(this.jobs), { jobId: id }, call);
    return requireJob(res.job, 'CancelJob');
  }

  /** Jobs, newest first; `limit` 0 means the server's default (100). */
  async listJobs(opts: { limit?: number; includeShards?: boolean } = {}, call?: CallOptions): Promise<Job[]> {
    const req = { limit: opts.limit ?? 0, includeShards: opts.includeShards ?? false };
    const res = await this.unary('ListJobs', this.jobs.listJobs.bind(this.jobs), req, call);
    return res.jobs;
  }

  /** Agent slots the coordinator knows, optionally with the lost ones. */
  async listAgents(opts: { includeLost?: boolean } = {}, call?: CallOptions): Promise<AgentInfo[]> {
    const req = { includeLost: opts.includeLost ?? false };
    const res = await this.unary('ListAgents', this.agents.listAgents.bind(this.agents), req, call);
    return res.agents;
  }

  /** A snapshot event, then one event per change, until the job ends or the loop is left. */
  watchJob(id: string, call?: Pick<CallOptions, 'signal'>): AsyncGenerator<WatchJobResponse, void, undefined> {
    return readStream(this.jobs.watchJob({ jobId: id }, this.metadata()), 'WatchJob', call?.signal);
  }

  /** An output of a SUCCEEDED job, in chunks (FAILED_PRECONDITION before that); primary by default. */
  jobOutput(
    id: string,
    call?: Pick<CallOptions, 'signal'> & OutputSelector,
  ): AsyncGenerator<GetJobOutputResponse, void, undefined> {
    const req = { jobId: id, format: call?.format ?? '', frame: call?.frame ?? 0 };
    return readStream(this.jobs.getJobOutput(req, this.metadata()), 'GetJobOutput', call?.signal);
  }

  /**
   * Streams a job's output into `file` atomically (temporary file, then rename) after checking it
   * against the SHA-256 and size the server announces; throws OutputIntegrityError on a mismatch.
   */
  downloadOutput(
    id: string,
    file: string,
    opts: Pick<CallOptions, 'signal'> & OutputSelector & { onProgress?: DownloadProgress } = {},
  ): Promise<DownloadResult> {
    return writeOutput(this.jobOutput(id, opts), file, id, opts.onProgress);
  }

  /**
   * Watches a job until it is final and resolves to the job of the final event. Survives a
   * coordinator restart: UNAVAILABLE is retried with backoff (up to MAX_WATCH_RETRIES in a row), and a
   * stream that ends early is re-opened.
   */
  async waitForJob(id: string, onEvent?: WatchListener, call?: Pick<CallOptions, 'signal'>): Promise<Job> {
    let failures = 0;
    for (;;) {
      try {
        for await (const event of this.watchJob(id, call)) {
          failures = 0;
          onEvent?.(event);
          if (event.job && isFinalJobState(event.job.state)) return event.job;
        }
        const job = await this.getJob(id, call);
        if (isFinalJobState(job.state)) return job;
        await sleep(retryDelayMs(1), undefined, { signal: call?.signal });
      } catch (err) {
        const retryable = err instanceof TesseraRpcError && err.code === 'UNAVAILABLE';
        if (!retryable || ++failures > MAX_WATCH_RETRIES) throw err;
        await sleep(retryDelayMs(failures), undefined, { signal: call?.signal });
      }
    }
  }

  /** Closes the channel; calls in flight fail with CANCELLED. */
  close(): void {
    this.jobs.close();
  }

  private metadata(): Metadata {
    const md = new Metadata();
    if (this.token !== undefined) md.set('authorization', `Bearer ${this.token}`);
    return md;
  }

  /**
   * One unary call. An answer the coordinator marks retry-safe (it refused before doing anything:
   * no leader during a fail-over) is retried with backoff, submissions included.
   */
  private async unary<Req, Res>(method: string, fn: UnaryFn<Req, Res>, req: Req, call: CallOptions = {}): Promise<Res> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.unaryOnce(method, fn, req, call);
      } catch (e) {
        if (!(e instanceof TesseraRpcError) || !e.retrySafe || attempt > MAX_WATCH_RETRIES) throw e;
        await sleep(retryDelayMs(attempt), undefined, { signal: call.signal });
      }
    }
  }

  private unaryOnce<Req, Res>(method: string, fn: UnaryFn<Req, Res>, req: Req, call: CallOptions): Promise<Res> {
    const { signal } = call;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const deadlineMs = call.deadlineMs ?? this.deadlineMs;
    const options: Partial<GrpcCallOptions> = deadlineMs > 0 ? { deadline: Date.now() + deadlineMs } : {};
    return new Promise<Res>((resolvePromise, reject) => {
      const onAbort = (): void => handle.cancel();
      const handle = fn(req, this.metadata(), options, (err, res) => {
        signal?.removeEventListener('abort', onAbort);
        if (signal?.aborted) reject(signal.reason);
        else if (err) reject(toRpcError(err, method));
        else resolvePromise(res);
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function requireJob(job: Job | undefined, method: string): Job {
  if (!job) throw new TesseraRpcError(13, 'server answered without a job', method);
  return job;
}
