/**
 * Child-process entry of EngineHost (compiled to dist/engine-worker.js). Loads models lazily, keeps
 * them loaded for the life of the process, and runs one upscale at a time; onnxruntime may block
 * this process's event loop freely because the parent's stays responsive.
 */
import { serializeError, type HostMessage, type WorkerConfig, type WorkerMessage } from './engine-protocol.js';
import { classifyEngineError } from './errors.js';
import { Upscaler } from './ort-upscaler.js';
import type { RgbImage } from './rgb-image.js';

const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;
const loaded = new Map<string, Upscaler>();
let queue: Promise<void> = Promise.resolve();

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
    send({ type: 'progress', id, fraction: 0.1 });
    const out = await upscaler.run(image);
    send({ type: 'result', id, image: out, loadedModels: [...loaded.keys()] });
  } catch (err) {
    const error = serializeError(classifyEngineError(err, `engine worker (${modelId})`));
    send({ type: 'error', id, error, loadedModels: [...loaded.keys()] });
  }
}

async function shutdown(): Promise<never> {
  await Promise.allSettled([...loaded.values()].map((u) => u.close()));
  process.exit(0);
}

process.on('message', (msg: HostMessage) => {
  if (msg.type === 'upscale') queue = queue.then(() => upscale(msg.id, msg.modelId, msg.image));
  else if (msg.type === 'shutdown') queue = queue.then(shutdown);
});
// The parent is gone (or closed the channel): nothing can receive our results.
process.on('disconnect', () => process.exit(0));
