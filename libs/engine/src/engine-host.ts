import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  deserializeError,
  type HostMessage,
  type WorkerConfig,
  type WorkerMessage,
  type WorkRequest,
} from './engine-protocol.js';
import { classifyEngineError, EngineAbortedError, EngineClosedError, EngineError } from './errors.js';
import type { ExecutionProviderName } from './ort-upscaler.js';
import { SdParamsError } from './pipelines/sd/errors.js';
import type { SdRunParams, SdRunResult } from './pipelines/sd/sd-params.js';
import { compileSvdParams, type SvdRunParams } from './pipelines/svd/svd-params.js';
import { assertRgbImage, type RgbImage } from './rgb-image.js';

/** Options of EngineHost; all optional with the documented defaults. */
export interface EngineHostOptions {
  /** Default 'cpu'. */
  executionProvider?: ExecutionProviderName;
  /** CUDA device ordinal inside the worker (after `env.CUDA_VISIBLE_DEVICES`). Default 0. */
  deviceId?: number;
  /** onnxruntime intra-op threads in the worker. Default: onnxruntime's choice. */
  threads?: number;
  /** Converted-model cache folder (see ensureUpscalerModel). */
  cacheDir?: string;
  /** Extra environment of the worker (e.g. CUDA_VISIBLE_DEVICES for a GPU slot); merged over process.env. */
  env?: Record<string, string | undefined>;
}

/** Per-call options of EngineHost.upscale. */
export interface UpscaleCallOptions {
  /** Aborting kills the worker if this call is running (onnxruntime cannot interrupt a run). */
  signal?: AbortSignal;
  /** Coarse progress in [0, 1]: 0 when dispatched, 0.1 once the model is loaded, 1 when done. */
  onProgress?: (fraction: number) => void;
}

/** Per-call options of EngineHost.imageToVideo. */
export interface ImageToVideoCallOptions {
  /** Aborting kills the worker if this call is running (onnxruntime cannot interrupt a run). */
  signal?: AbortSignal;
  /**
   * Progress in [0, 1]: 0 when dispatched, 0.05 once the pipeline is loaded and the image encoded, rising
   * with each denoising step to 0.9, then with each decoded chunk to 1.
   */
  onProgress?: (fraction: number) => void;
  /** After each denoising step in the worker: `i` steps of `n` done. */
  onStep?: (i: number, n: number) => void;
}

/** Per-call options of EngineHost.generateImage. */
export interface GenerateImageCallOptions {
  /** Aborting kills the worker if this call is running (onnxruntime cannot interrupt a run). */
  signal?: AbortSignal;
  /** Progress in [0, 1]: 0 when dispatched, rising with each denoising step to 0.95, 1 when the image is decoded. */
  onProgress?: (fraction: number) => void;
  /** After each denoising step in the worker: `i` steps of `n` done. */
  onStep?: (i: number, n: number) => void;
  /** A VAE directory replacing the model's VAE for this call (pipelines/vae-swap/). */
  vaeDir?: string;
}

type CallOptions = UpscaleCallOptions & ImageToVideoCallOptions & GenerateImageCallOptions;
type Outcome = RgbImage | RgbImage[] | SdRunResult;

interface Job {
  id: number;
  request: WorkRequest;
  /** What the call is about, for messages: the model id or directory. */
  label: string;
  opts: CallOptions;
  child?: ChildProcess;
  settled?: boolean;
  resolve: (out: Outcome) => void;
  reject: (err: EngineError) => void;
  onAbort: () => void;
}

const WORKER_ENTRY = new URL('./engine-worker.js', import.meta.url);
const STDERR_TAIL_BYTES = 8192;
const SHUTDOWN_GRACE_MS = 5000;

/**
 * Runs inference in one child process (one per GPU slot), off this process's event loop. Calls are
 * served one at a time in submission order; models load on first use and stay loaded until the worker
 * ends. Aborting the running call kills the worker and rejects with EngineAbortedError; a crashed worker
 * rejects its call with EngineError; either way the next call starts a fresh worker. An idle host does
 * not keep the Node process alive.
 */
export class EngineHost {
  private readonly config: WorkerConfig;
  private readonly env: Record<string, string | undefined>;
  private readonly queue: Job[] = [];
  private current?: Job;
  private child?: ChildProcess;
  private spawning?: Promise<ChildProcess>;
  private childExited: Promise<void> = Promise.resolve();
  private loaded: string[] = [];
  private stderrTail = '';
  private nextId = 1;
  private closed = false;

  constructor(opts: EngineHostOptions = {}) {
    this.config = {
      executionProvider: opts.executionProvider ?? 'cpu',
      deviceId: opts.deviceId,
      threads: opts.threads,
      cacheDir: opts.cacheDir,
    };
    this.env = { ...process.env, ...opts.env };
  }

  /** Upscales `img` with a zoo id or .onnx path. Rejects with EngineAbortedError, EngineOutOfMemoryError, EngineError. */
  upscale(modelId: string, img: RgbImage, opts: UpscaleCallOptions = {}): Promise<RgbImage> {
    return this.submit(modelId, opts, () => {
      assertRgbImage(img, 'upscale input');
      return { type: 'upscale', modelId, image: ownBytes(img) };
    }) as Promise<RgbImage>;
  }

  /**
   * SVD / SVD-XT image-to-video with the model directory `modelDir` (docs/svd-models.md), in the worker; the
   * pipeline stays loaded for later calls with the same directory. Returns `numFrames` RGB8 frames, the same
   * bytes as SvdPipeline.run in-process with the same params and threads. Rejects with
   * InvalidVideoParamsError / InvalidImageError (checked here, before any worker is involved),
   * EngineAbortedError, EngineOutOfMemoryError, UnknownModelError, UnsupportedModelError, EngineError.
   */
  imageToVideo(modelDir: string, params: SvdRunParams, opts: ImageToVideoCallOptions = {}): Promise<RgbImage[]> {
    return this.submit(modelDir, opts, () => {
      compileSvdParams(params); // fail fast; the worker compiles again with the model's defaults
      return { type: 'image-to-video', modelDir, params: { ...params, image: ownBytes(params.image) } };
    }) as Promise<RgbImage[]>;
  }

  /**
   * Stable Diffusion txt2img / img2img (SD 1.x/2.x, SDXL base and refiner, SD3) with the Optimum ONNX model
   * directory `modelDir`, in the worker; the pipeline stays loaded for later calls with the same directory.
   * Resolves to `{ images }` (one RGB8 image) or `{ latents }` (`outputType: 'latent'`), the same bytes as the
   * pipeline in-process with the same params and threads. Rejects with SdParamsError / InvalidImageError for a
   * malformed request (checked here, before any worker is involved), SdModelLayoutError, EngineAbortedError,
   * EngineOutOfMemoryError, EngineError.
   */
  generateImage(modelDir: string, params: SdRunParams, opts: GenerateImageCallOptions = {}): Promise<SdRunResult> {
    return this.submit(modelDir, opts, () => {
      if (typeof params?.prompt !== 'string') throw new SdParamsError('prompt', 'must be a string');
      if (params.image) assertRgbImage(params.image, 'generateImage input');
      const image = params.image ? { image: ownBytes(params.image) } : {};
      const vae = opts.vaeDir ? { vaeDir: opts.vaeDir } : {};
      return { type: 'generate-image', modelDir, params: { ...params, ...image }, ...vae };
    }) as Promise<SdRunResult>;
  }

  private submit(label: string, opts: CallOptions, request: () => WorkRequest): Promise<Outcome> {
    return new Promise<Outcome>((resolve, reject) => {
      if (this.closed) return reject(new EngineClosedError('engine host is closed'));
      if (opts.signal?.aborted) return reject(new EngineAbortedError('engine call aborted before it started'));
      const job: Job = {
        id: this.nextId++,
        request: request(),
        label,
        opts,
        resolve,
        reject,
        onAbort: () => this.abort(job),
      };
      opts.signal?.addEventListener('abort', job.onAbort, { once: true });
      this.queue.push(job);
      void this.pump();
    });
  }

  /** Models the current worker holds loaded (empty when no worker runs). */
  loadedModels(): string[] {
    return [...this.loaded];
  }

  /** Rejects pending calls with EngineClosedError and stops the worker (gracefully, then SIGKILL). */
  async close(): Promise<void> {
    if (this.closed) return this.childExited;
    this.closed = true;
    const pending = [...(this.current ? [this.current] : []), ...this.queue.splice(0)];
    for (const job of pending) this.settle(job, new EngineClosedError('engine host closed'));
    await this.spawning?.catch(() => undefined);
    const child = this.child;
    if (child) {
      this.setActive(child, true);
      if (child.connected) child.send({ type: 'shutdown' } satisfies HostMessage);
      const timer = setTimeout(() => child.kill('SIGKILL'), SHUTDOWN_GRACE_MS);
      await this.childExited;
      clearTimeout(timer);
    }
  }

  private async pump(): Promise<void> {
    if (this.current || this.closed) return;
    const job = this.queue.shift();
    if (!job) return;
    this.current = job;
    try {
      const child = await this.ensureChild();
      if (this.current !== job) {
        // aborted or closed while the worker started
        if (!this.current && !this.closed) this.setActive(child, false);
        return;
      }
      job.child = child;
      this.setActive(child, true);
      job.opts.onProgress?.(0);
      child.send({ ...job.request, id: job.id } satisfies HostMessage);
    } catch (err) {
      this.settle(job, classifyEngineError(err, 'starting engine worker'));
    }
  }

  private ensureChild(): Promise<ChildProcess> {
    if (this.child) return Promise.resolve(this.child);
    this.spawning ??= this.spawn().finally(() => (this.spawning = undefined));
    return this.spawning;
  }

  private async spawn(): Promise<ChildProcess> {
    await this.childExited; // never run two workers on one GPU slot, even briefly
    const entry = fileURLToPath(WORKER_ENTRY);
    if (!existsSync(entry))
      throw new EngineError(`engine worker entry ${entry} not found; build with tsc -b libs/engine`);
    const child = fork(entry, [JSON.stringify(this.config)], {
      serialization: 'advanced',
      env: this.env,
      execArgv: [],
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    this.child = child;
    this.stderrTail = '';
    this.childExited = new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => {
        if (child.pid === undefined) resolve(); // never spawned: no 'exit' will follow
      });
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      this.stderrTail = (this.stderrTail + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    });
    child.on('message', (msg: WorkerMessage) => this.onMessage(child, msg));
    child.once('exit', (code, signal) => this.onExit(child, code, signal));
    child.once('error', (err) => {
      if (this.child === child && child.pid === undefined) this.child = undefined;
      const job = this.current;
      if (job?.child === child) this.settle(job, classifyEngineError(err, 'engine worker'));
    });
    return child;
  }

  private onMessage(child: ChildProcess, msg: WorkerMessage): void {
    const job = this.current;
    if (!job || job.child !== child || job.id !== msg.id) return; // late reply of an abandoned call
    if (msg.type === 'progress') {
      job.opts.onProgress?.(msg.fraction);
      if (msg.step) job.opts.onStep?.(msg.step.i, msg.step.n);
    } else {
      this.loaded = msg.loadedModels;
      if (msg.type === 'result' || msg.type === 'frames' || msg.type === 'generated') {
        job.opts.onProgress?.(1);
        this.settle(job, msg.type === 'result' ? msg.image : msg.type === 'frames' ? msg.frames : msg.result);
      } else this.settle(job, deserializeError(msg.error));
    }
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child === child) {
      this.child = undefined;
      this.loaded = [];
    }
    const job = this.current;
    if (job?.child === child) {
      const tail = this.stderrTail.trim().split('\n').slice(-5).join('\n');
      const reason = `engine worker exited (code ${code}, signal ${signal}) during the call${tail ? `; stderr: ${tail}` : ''}`;
      this.settle(job, classifyEngineError(new Error(reason), 'engine worker crashed'));
    }
  }

  private abort(job: Job): void {
    const queued = this.queue.indexOf(job);
    if (queued >= 0) this.queue.splice(queued, 1);
    else if (this.current !== job) return;
    else if (job.child) {
      // An onnxruntime run cannot be interrupted: kill the worker; the next call starts a fresh one
      // (after this one has exited, see spawn).
      job.child.kill('SIGKILL');
      if (this.child === job.child) {
        this.child = undefined;
        this.loaded = [];
      }
    }
    this.settle(job, new EngineAbortedError(`engine call ${job.id} (${job.label}) aborted`));
  }

  private settle(job: Job, outcome: Outcome | EngineError): void {
    if (job.settled) return;
    job.settled = true;
    job.opts.signal?.removeEventListener('abort', job.onAbort);
    if (this.current === job) {
      this.current = undefined;
      if (this.queue.length === 0 && this.child) this.setActive(this.child, false);
      queueMicrotask(() => void this.pump());
    }
    if (outcome instanceof Error) job.reject(outcome);
    else job.resolve(outcome);
  }

  /** An idle worker (no call running) must not keep the Node process alive. */
  private setActive(child: ChildProcess, active: boolean): void {
    const handles = [child, child.channel, child.stderr] as (
      { ref?: () => void; unref?: () => void } | null | undefined
    )[];
    for (const h of handles) (active ? h?.ref : h?.unref)?.call(h);
  }
}

/** A view into a larger buffer (a tile of a frame) would ship the whole buffer over IPC: send only its bytes. */
function ownBytes(img: RgbImage): RgbImage {
  const { width, height, data } = img;
  return { width, height, data: data.byteLength === data.buffer.byteLength ? data : data.slice() };
}
