/**
 * Child-process entry of EngineHost (compiled to dist/engine-worker.js). Loads models lazily (upscalers by
 * id or path, SVD and Stable Diffusion pipelines by directory), keeps them loaded for the life of the process, and runs one
 * request at a time; onnxruntime may block this process's event loop freely because the parent's stays
 * responsive.
 */
import { resolve } from 'node:path';
import { serializeError, type HostMessage, type WorkerConfig, type WorkerMessage } from './engine-protocol.js';
import { classifyEngineError } from './errors.js';
import { Upscaler } from './ort-upscaler.js';
import type { SdRunParams } from './pipelines/sd/sd-params.js';
import { SdWorkerHandler } from './pipelines/sd/worker-handler.js';
import { SvdPipeline } from './pipelines/svd/svd-pipeline.js';
import type { SvdRunParams } from './pipelines/svd/svd-params.js';
import type { RgbImage } from './rgb-image.js';

const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
const loaded = new Map<string, Upscaler>();
const videoPipelines = new Map<string, SvdPipeline>();
const imagePipelines = new SdWorkerHandler(config);
let queue: Promise<void> = Promise.resolve();

/** Fractions of EngineHost.imageToVideo progress: loaded and encoded, then steps, then decoding. */
const VIDEO_LOADED = 0.05;
const VIDEO_DENOISED = 0.9;

/**
 * TEST HOOK, never set in production: with TESSERA_TEST_FAULT_OOM_ONCE=1 in its environment, the
 * first run of this worker fails the way onnxruntime fails on an exhausted device ("Failed to
 * allocate memory …"). The failure takes the real path (classified here, sent to the host,
 * reported by the agent as OUT_OF_MEMORY), so the farm's retry one VRAM class up can be tested
 * end to end without a GPU to exhaust (test/oom-retry.test.ts).
 */
let oomFaultArmed = process.env.TESSERA_TEST_FAULT_OOM_ONCE === '1';

function testFault(): void {
  if (!oomFaultArmed) return;
  oomFaultArmed = false;
  throw new Error(
    'Failed to allocate memory for requested buffer of size 1073741824 (injected by TESSERA_TEST_FAULT_OOM_ONCE)',
  );
}

function loadedModels(): string[] {
  return [...loaded.keys(), ...videoPipelines.keys(), ...imagePipelines.loadedModels()];
}

function send(msg: WorkerMessage): void {
  process.send?.(msg);
}

async function model(modelId: string): Promise<Upscaler> {
  const existing = loaded.get(modelId);
  if (existing) return existing;
  const upscaler = await Upscaler.load(modelId, {
    executionProvider: config.executionProvider,
    deviceId: config.deviceId,
    intraOpThreads: config.threads,
    cacheDir: config.cacheDir,
  });
  loaded.set(modelId, upscaler);
  return upscaler;
}

async function upscale(id: number, modelId: string, image: RgbImage): Promise<void> {
  try {
    const upscaler = await model(modelId);
    testFault();
    send({ type: 'progress', id, fraction: 0.1 });
    const out = await upscaler.run(image);
    send({ type: 'result', id, image: out, loadedModels: loadedModels() });
  } catch (err) {
    const error = serializeError(classifyEngineError(err, `engine worker (${modelId})`));
    send({ type: 'error', id, error, loadedModels: loadedModels() });
  }
}

async function videoPipeline(modelDir: string): Promise<SvdPipeline> {
  const key = resolve(modelDir);
  const existing = videoPipelines.get(key);
  if (existing) return existing;
  const pipeline = await SvdPipeline.load(key, {
    executionProvider: config.executionProvider,
    deviceId: config.deviceId,
    intraOpThreads: config.threads,
  });
  videoPipelines.set(key, pipeline);
  return pipeline;
}

async function imageToVideo(id: number, modelDir: string, params: SvdRunParams): Promise<void> {
  try {
    const pipeline = await videoPipeline(modelDir);
    testFault();
    send({ type: 'progress', id, fraction: VIDEO_LOADED });
    const frames = await pipeline.run(params, {
      onStep: (i, n) =>
        send({
          type: 'progress',
          id,
          fraction: VIDEO_LOADED + ((VIDEO_DENOISED - VIDEO_LOADED) * i) / n,
          step: { i, n },
        }),
      onDecode: (done, total) =>
        send({ type: 'progress', id, fraction: VIDEO_DENOISED + ((1 - VIDEO_DENOISED) * done) / total }),
    });
    send({ type: 'frames', id, frames, loadedModels: loadedModels() });
  } catch (err) {
    const error = serializeError(classifyEngineError(err, `engine worker (${modelDir})`));
    send({ type: 'error', id, error, loadedModels: loadedModels() });
  }
}

/** Fraction of EngineHost.generateImage progress reached when denoising ends (the VAE decode follows). */
const IMAGE_DENOISED = 0.95;

async function generateImage(id: number, modelDir: string, params: SdRunParams, vaeDir?: string): Promise<void> {
  try {
    testFault();
    const result = await imagePipelines.generate(
      { modelDir: resolve(modelDir), params, ...(vaeDir ? { vaeDir: resolve(vaeDir) } : {}) },
      {
        onStep: (i, n) => send({ type: 'progress', id, fraction: (IMAGE_DENOISED * i) / n, step: { i, n } }),
      },
    );
    send({ type: 'generated', id, result, loadedModels: loadedModels() });
  } catch (err) {
    const error = serializeError(classifyEngineError(err, `engine worker (${modelDir})`));
    send({ type: 'error', id, error, loadedModels: loadedModels() });
  }
}

async function shutdown(): Promise<never> {
  await Promise.allSettled([
    ...[...loaded.values(), ...videoPipelines.values()].map((m) => m.close()),
    imagePipelines.close(),
  ]);
  process.exit(0);
}

process.on('message', (msg: HostMessage) => {
  if (msg.type === 'upscale') queue = queue.then(() => upscale(msg.id, msg.modelId, msg.image));
  else if (msg.type === 'image-to-video') queue = queue.then(() => imageToVideo(msg.id, msg.modelDir, msg.params));
  else if (msg.type === 'generate-image')
    queue = queue.then(() => generateImage(msg.id, msg.modelDir, msg.params, msg.vaeDir));
  else if (msg.type === 'shutdown') queue = queue.then(shutdown);
});
// The parent is gone (or closed the channel): nothing can receive our results.
process.on('disconnect', () => process.exit(0));
