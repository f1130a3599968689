/**
 * The engine-worker side of `EngineHost.generateImage`: keeps SD pipelines loaded per model directory for the life
 * of the worker process and runs one generation at a time (the worker already serialises its messages).
 * Kept apart from engine-worker.ts so the worker only needs to route a message here; the request and result are
 * structured-clone friendly (typed arrays, bigint seeds) for the IPC channel with `serialization: 'advanced'`.
 */
import type { ExecutionProviderName } from '../../ort-upscaler.js';
import { loadSdPipeline, type LoadSdPipelineOptions, type SdPipeline } from './load-sd-pipeline.js';
import type { SdRunParams, SdRunResult } from './sd-params.js';

/** Host → worker payload of one generation. */
export interface GenerateImageRequest {
  /** Optimum ONNX model directory, as the agent sees it. */
  modelDir: string;
  params: SdRunParams;
  /** A VAE directory replacing the model's VAE (pipelines/vae-swap/); the pair is loaded and cached together. */
  vaeDir?: string;
}

/** Runtime settings of the worker (the EngineHost's WorkerConfig fields it needs). */
export interface SdWorkerConfig {
  executionProvider: ExecutionProviderName;
  deviceId?: number;
  threads?: number;
}

/** Loaded pipelines by model directory; `generate` loads on first use. */
export class SdWorkerHandler {
  private readonly pipelines = new Map<string, Promise<SdPipeline>>();

  constructor(
    private readonly config: SdWorkerConfig,
    private readonly load: (dir: string, opts: LoadSdPipelineOptions) => Promise<SdPipeline> = loadSdPipeline,
  ) {}

  /**
   * Runs one generation; `onStep(i, n)` / `onProgress(i / n)` report denoising progress. A failed load is not cached
   * (the next call retries). Errors are the pipeline's (SdParamsError, SdModelLayoutError, EngineAbortedError, …).
   */
  async generate(
    req: GenerateImageRequest,
    opts: {
      signal?: AbortSignal;
      onProgress?: (fraction: number) => void;
      onStep?: (step: number, total: number) => void;
    } = {},
  ): Promise<SdRunResult> {
    const pipeline = await this.pipeline(req.modelDir, req.vaeDir);
    return pipeline.run(req.params, {
      signal: opts.signal,
      onStep: (i, n) => {
        opts.onStep?.(i, n);
        opts.onProgress?.(i / n);
      },
    });
  }

  /** Model directories with a loaded pipeline (`<model dir>+vae:<vae dir>` for a swapped VAE). */
  loadedModels(): string[] {
    return [...this.pipelines.keys()];
  }

  /** Closes every pipeline. */
  async close(): Promise<void> {
    const all = [...this.pipelines.values()];
    this.pipelines.clear();
    await Promise.allSettled(all.map(async (p) => (await p).close()));
  }

  private pipeline(dir: string, vaeDir?: string): Promise<SdPipeline> {
    const key = vaeDir ? `${dir}+vae:${vaeDir}` : dir;
    let p = this.pipelines.get(key);
    if (!p) {
      p = this.load(dir, {
        executionProvider: this.config.executionProvider,
        deviceId: this.config.deviceId,
        intraOpThreads: this.config.threads,
        ...(vaeDir ? { vaeDir } : {}),
      });
      this.pipelines.set(key, p);
      p.catch(() => this.pipelines.delete(key));
    }
    return p;
  }
}
