/**
 * Wiring of an agent process: GPU detection → slots (one per GPU, or one CPU slot) → each slot's
 * engine host and work loop, heartbeats, metrics. `startAgent(options)` returns a handle whose
 * `drain()` finishes the current shards and stops.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { jetstream } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import { EngineHost, executionProviders, resolveCacheDir } from '@tessera/engine';
import { classLabel, loadHardwareTable, usableVramGb, vramClassOf } from '@tessera/hardware';
import { AgentState, BLOB_CHUNK_BYTES, farmNames, type AgentAdvert } from '@tessera/protocol';
import { blobAccess, connectService, createLogger, startHttp, type Logger } from '@tessera/runtime';
import { detectGpus } from './gpu.js';
import { createAgentMetrics } from './metrics.js';
import { compileAgentOptions, type AgentOptions } from './options.js';
import { runSlots } from './run-slots.js';
import { AGENT_VERSION } from './version.js';
import { Slot, type SlotDeps } from './slot.js';
import { createAgentModels } from './models.js';

export { AGENT_VERSION };

export interface AgentHandle {
  metricsPort: number;
  adverts(): AgentAdvert[];
  /** Stops taking work, finishes and reports current shards, disconnects. */
  drain(): Promise<void>;
}

export async function startAgent(raw: AgentOptions, log: Logger = createLogger('agent')): Promise<AgentHandle> {
  const o = compileAgentOptions(
    raw,
    hostname()
      .replace(/[^A-Za-z0-9_.-]/g, '-')
      .slice(0, 64) || 'agent',
  );
  const table = loadHardwareTable(o.hardwareTable);
  const names = farmNames(o.farm);
  // The metrics port is taken before joining the farm: a second agent on a box whose default port is
  // in use fails at once, naming the flag, instead of after it has advertised itself.
  let ready = (): boolean => false;
  let slots: Slot[] = [];
  const metrics = createAgentMetrics(() =>
    slots.map((s) => {
      const a = s.advert();
      return {
        slot: a.name,
        vramClass: a.vramClass,
        vramBytes: Math.round(a.vramUsableGb * 1024 ** 3),
        busy: a.state === AgentState.AGENT_STATE_BUSY,
        speeds: a.modelSpeeds,
      };
    }),
  );
  const http = o.metricsAddr ? await listenMetrics(o.metricsAddr, metrics.registry, () => ready()) : undefined;
  if (process.env.TESSERA_TEST_FAULT_OOM_ONCE === '1')
    log.warn(
      'TESSERA_TEST_FAULT_OOM_ONCE is set: each engine worker fails its first run as out of memory (a test hook)',
    );
  const detection = await detectGpus();
  if (!detection.ok) log.info({ reason: detection.reason }, 'no NVIDIA GPU detected; running on the CPU');
  const cudaInstalled = executionProviders().some((p) => p.name === 'cuda' && p.available);
  const useCuda = (gpu: boolean) =>
    o.executionProvider === 'cuda' || (o.executionProvider === 'auto' && gpu && cudaInstalled);
  if (o.executionProvider === 'auto' && detection.gpus.length > 0 && !cudaInstalled) {
    log.warn(
      'GPUs found but the CUDA execution provider is not installed (reinstall with ONNXRUNTIME_NODE_INSTALL=cuda12); using the CPU',
    );
  }
  // One slot per device; --vram-gb overrides the advertised VRAM (one slot when no GPU is found).
  const devices = detection.gpus.length ? detection.gpus : [undefined];
  const incarnation = randomBytes(3).toString('hex');
  const slotSpecs = devices.map((gpu, i) => {
    const totalGb = o.vramGb ?? gpu?.memoryGb ?? 0;
    const usable = usableVramGb(table, totalGb);
    const cuda = useCuda(!!gpu);
    const provider = o.executionProvider === 'webgpu' ? 'webgpu' : cuda ? 'cuda' : 'cpu';
    const name = devices.length > 1 ? `${o.name}-gpu${gpu?.index ?? i}` : o.name;
    const advert: AgentAdvert = {
      agentId: `${name}-${incarnation}`,
      name,
      hostname: hostname(),
      deviceIndex: gpu?.index ?? -1,
      deviceName: gpu?.name ?? 'cpu',
      vramTotalGb: totalGb,
      vramUsableGb: usable,
      vramClass: classLabel(vramClassOf(table, usable)),
      executionProvider: provider,
      modelsLoaded: [],
      modelsHeld: [],
      modelCacheFreeBytes: 0,
      modelCacheCapacityBytes: 0,
      version: AGENT_VERSION,
      state: AgentState.AGENT_STATE_IDLE,
      shardsCompleted: 0,
      modelSpeeds: [],
    };
    const engine = new EngineHost({
      executionProvider: provider,
      deviceId: 0,
      threads: o.threads,
      cacheDir: o.modelsDir,
      env: gpu ? { CUDA_VISIBLE_DEVICES: String(gpu.index) } : undefined,
    });
    return { advert, engine };
  });
  const nc = await connectService({
    servers: o.natsUrl,
    name: `tessera-agent ${o.name}`,
    log,
    onReconnect: () => metrics.natsReconnects.inc(),
  });
  const os = await new Objm(jetstream(nc)).open(names.blobBucket).catch(async () => {
    // The coordinator creates the bucket; wait for it rather than fail when an agent starts first.
    for (;;) {
      await new Promise((r) => setTimeout(r, 1000));
      try {
        return await new Objm(jetstream(nc)).open(names.blobBucket);
      } catch {
        log.info({ bucket: names.blobBucket }, 'waiting for the coordinator to create the blob bucket');
      }
    }
  });
  const blobs = blobAccess(nc, os, names.blobBucket, BLOB_CHUNK_BYTES);
  // hook(models): one model cache for every slot (models.ts).
  const models = await createAgentModels({
    nc,
    farm: o.farm,
    dir: resolveCacheDir({ cacheDir: o.modelsDir }),
    capacityBytes: Math.round(o.modelCacheGb * 1024 ** 3),
    metrics,
    log: log.child({ component: 'models' }),
  });
  slots = slotSpecs.map(
    (s) =>
      new Slot({
        nc,
        blobs,
        names,
        engine: s.engine,
        log: log.child({ slot: s.advert.name }),
        metrics,
        advert: s.advert,
        waitMs: o.waitMs,
        modelsDir: resolveCacheDir({ cacheDir: o.modelsDir }),
        models, // hook(models)
        testDelayMs: slowdownDelay(testSlowdown(process.env.TESSERA_TEST_ENGINE_SLOWDOWN)),
      }),
  );
  const running = runSlots(nc, names, slots, o.heartbeatMs, (m) => void models.prefetch(m));
  ready = () => !nc.isClosed() && !running.draining();
  for (const s of slots) {
    const a = s.advert();
    log.info(
      {
        agent: a.name,
        id: a.agentId,
        vramGb: a.vramTotalGb,
        vramClass: a.vramClass,
        ep: a.executionProvider,
        device: a.deviceName,
      },
      'agent slot ready',
    );
  }
  return {
    metricsPort: http?.port ?? 0,
    adverts: () => slots.map((s) => s.advert()),
    async drain() {
      await running.drain();
      await Promise.all(slotSpecs.map((s) => s.engine.close()));
      await http?.close();
      await nc.drain().catch(() => undefined);
    },
  };
}

/** Serves /metrics on `addr`; an address in use is an error naming `--metrics` (several agents on a box). */
async function listenMetrics(
  addr: string,
  registry: Parameters<typeof startHttp>[1],
  ready: () => boolean,
): Promise<Awaited<ReturnType<typeof startHttp>>> {
  try {
    return await startHttp(addr, registry, ready);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw new Error(
        `metrics address ${addr} is in use (another agent on this host?): give each agent its own --metrics HOST:PORT (TESSERA_METRICS_ADDR), or --metrics "" to disable`,
        { cause: e },
      );
    throw e;
  }
}

/** TESSERA_TEST_ENGINE_SLOWDOWN (test-only): a factor ≥ 1; anything else is refused. */
export function testSlowdown(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 1;
  const f = Number(raw);
  if (!Number.isFinite(f) || f < 1) throw new Error(`TESSERA_TEST_ENGINE_SLOWDOWN must be a number ≥ 1, got ${raw}`);
  return f;
}

/** The slot delay of a slowdown factor: (factor − 1) × the engine's time; none at 1. */
function slowdownDelay(factor: number): SlotDeps['testDelayMs'] {
  return factor > 1 ? (_task, engineSeconds) => (factor - 1) * engineSeconds * 1000 : undefined;
}
