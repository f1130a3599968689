import { Metadata, type CallOptions as GrpcCallOptions, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AgentServiceClient,
  JobServiceClient,
  type AgentInfo,
  type GetJobOutputResponse,
  type Job,
  type WatchJobResponse,
} from '@tessera/protocol';
import { writeOutput, type DownloadProgress, type DownloadResult } from './download.js';
import { TesseraRpcError, toRpcError } from './errors.js';
import { compileClientOptions, DEFAULT_SERVER, type TesseraClientOptions } from './options.js';
import { MAX_WATCH_RETRIES, retryDelayMs } from './retry.js';
import { isFinalJobState } from './states.js';
import {
  imageJobRequest,
  upscaleJobRequest,
  videoJobRequest,
  videoUpscaleJobRequest,
  type OutputSelector,
  type SubmitImageRequest,
  type SubmitUpscaleRequest,
  type SubmitVideoRequest,
  type SubmitVideoUpscaleRequest,
} from './requests.js';
import { readStream } from './stream.js';

/** Per-call options: every call can be cancelled; unary calls also take a deadline. */
export interface CallOptions {
  /** Cancels the call; the promise rejects (or the iteration throws) with the signal's reason. */
  signal?: AbortSignal;
  /** Deadline for this unary call in ms, overriding the client's `deadlineMs` (0 = none). */
  deadlineMs?: number;
}

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
    const request = upscaleJobRequest(req);
    const res = await this.unary('SubmitJob', this.jobs.submitJob.bind(this.jobs), request, call);
    return requireJob(res.job, 'SubmitJob');
  }

  /** Submits an image-to-video job; resolves to the accepted job (batches planned). */
  async submitVideo(req: SubmitVideoRequest, call?: CallOptions): Promise<Job> {
    const request = videoJobRequest(req);
    const res = await this.unary('SubmitJob', this.jobs.submitJob.bind(this.jobs), request, call);
    return requireJob(res.job, 'SubmitJob');
  }

  /** Submits a video upscale; resolves to the accepted job. */
  async submitVideoUpscale(req: SubmitVideoUpscaleRequest, call?: CallOptions): Promise<Job> {
    const request = videoUpscaleJobRequest(req);
    const res = await this.unary('SubmitJob', this.jobs.submitJob.bind(this.jobs), request, call);
    return requireJob(res.job, 'SubmitJob');
  }

  /** Submits an image job; resolves to the accepted job (one shard per pipeline stage). */
  async submitImage(req: SubmitImageRequest, call?: CallOptions): Promise<Job> {
    const request = imageJobRequest(req);
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
