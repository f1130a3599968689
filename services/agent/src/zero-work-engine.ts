/**
 * FOR LOAD TESTS ONLY. `ZeroWorkLoadTestEngine` stands in for the engine host and does no inference:
 * it returns correctly shaped outputs (an upscale is the tile enlarged by nearest neighbour, a video
 * batch repeats the conditioning frame, an image stage is flat grey or zero latents), cheap and
 * deterministic. `startZeroWorkLoadTestAgents` runs many lightweight agent slots in one process on
 * one NATS connection, each the real `Slot` code speaking the real protocol (work requests, leases,
 * renewals, object-store blobs, results), so a load test measures the farm rather than the models.
 *
 * Nothing in the product selects it: the agent binary and `startAgent` always build an EngineHost;
 * only bench/load.ts and test/load.test.ts import this module.
 */
import { randomBytes } from 'node:crypto';
import { jetstream } from '@nats-io/jetstream';
import { Objm } from '@nats-io/obj';
import type { RgbImage, SdRunParams, SdRunResult, SvdRunParams } from '@tessera/engine';
import { classLabel, loadHardwareTable, usableVramGb, vramClassOf } from '@tessera/hardware';
import { AgentState, BLOB_CHUNK_BYTES, farmNames, type AgentAdvert, type ShardTask } from '@tessera/protocol';
import { blobAccess, connectService, type Logger } from '@tessera/runtime';
import { createAgentMetrics } from './metrics.js';
import { runSlots } from './run-slots.js';
import { Slot, type SlotEngine } from './slot.js';

/** Nearest-neighbour resize of an RGB8 image. */
function nearest(img: RgbImage, width: number, height: number): RgbImage {
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(img.height - 1, Math.floor((y * img.height) / height));
    for (let x = 0; x < width; x++) {
      const sx = Math.min(img.width - 1, Math.floor((x * img.width) / width));
      const s = (sy * img.width + sx) * 3;
      const d = (y * width + x) * 3;
      out[d] = img.data[s];
      out[d + 1] = img.data[s + 1];
      out[d + 2] = img.data[s + 2];
    }
  }
  return { width, height, data: out };
}

/** An engine that computes nothing: correctly shaped outputs for load tests. Never used in production. */
export class ZeroWorkLoadTestEngine implements SlotEngine {
  /** Shards it has "run" (all kinds). */
  calls = 0;

  /**
   * `scaleOf(model)`: the upscaler's factor (from the hardware table). `workMs`: how long each shard
   * "runs" (a sleep; 0 = none), so a scenario's durations can be replayed on a real farm.
   */
  constructor(
    private readonly scaleOf: (model: string) => number,
    private readonly workMs = 0,
  ) {}

  private async work(): Promise<void> {
    this.calls++;
    if (this.workMs > 0) await new Promise((r) => setTimeout(r, this.workMs));
  }

  async upscale(modelId: string, img: RgbImage, opts: { onProgress?: (f: number) => void } = {}): Promise<RgbImage> {
    await this.work();
    const scale = this.scaleOf(modelId);
    opts.onProgress?.(1);
    return nearest(img, img.width * scale, img.height * scale);
  }

  async imageToVideo(
    _modelDir: string,
    p: SvdRunParams,
    opts: { onProgress?: (f: number) => void } = {},
  ): Promise<RgbImage[]> {
    await this.work();
    const frame = nearest(p.image, p.width ?? p.image.width, p.height ?? p.image.height);
    opts.onProgress?.(1);
    return Array.from({ length: p.numFrames ?? 1 }, () => frame);
  }

  async generateImage(
    _modelDir: string,
    p: SdRunParams,
    opts: { onProgress?: (f: number) => void } = {},
  ): Promise<SdRunResult> {
    await this.work();
    opts.onProgress?.(1);
    const w = p.width ?? 512;
    const h = p.height ?? 512;
    if (p.outputType === 'latent') {
      const [channels, height, width] = [4, Math.ceil(h / 8), Math.ceil(w / 8)];
      return { latents: { channels, height, width, data: new Float32Array(channels * height * width) } };
    }
    return { images: [{ width: w, height: h, data: new Uint8Array(w * h * 3).fill(128) }] };
  }

  loadedModels(): string[] {
    return [];
  }
}

export interface ZeroWorkAgentsOptions {
  natsUrl: string;
  farm: string;
  /** Slots to run. */
  count: number;
  /** Slot names are `<prefix>-<n>`. */
  namePrefix: string;
  /** Advertised VRAM per slot. Default 8 GB. */
  vramGb?: number;
  /** How long the coordinator may hold a work request. Default 10 s. */
  waitMs?: number;
  /** Heartbeat interval. Default 2 s. */
  heartbeatMs?: number;
  /** How long each shard takes (a sleep). Default 0. */
  workMs?: number;
  hardwareTable?: string;
  /**
   * Seconds each slot takes per work unit of a task (the coordinator's cost model), by slot number:
   * slot i waits `secondsPerUnit[i % length]` × units before reporting. Default none (zero work).
   * What `bench/plan-vs-farm.ts` compares with `tessera plan`.
   */
  secondsPerUnit?: readonly number[];
  log: Logger;
}

export interface ZeroWorkAgents {
  /** Shards the slots have computed (before the commit, so a refused result counts too). */
  computed(): number;
  /** Stops taking work, reports the current shards, disconnects. */
  drain(): Promise<void>;
}

/** Runs `count` zero-work agent slots in this process on one NATS connection. Load tests only. */
export async function startZeroWorkLoadTestAgents(o: ZeroWorkAgentsOptions): Promise<ZeroWorkAgents> {
  const table = loadHardwareTable(o.hardwareTable);
  const names = farmNames(o.farm);
  const engine = new ZeroWorkLoadTestEngine((model) => table.models.get(model)?.upscaler?.scale ?? 1, o.workMs);
  const nc = await connectService({ servers: o.natsUrl, name: `tessera-load-agents ${o.namePrefix}`, log: o.log });
  const os = await new Objm(jetstream(nc)).open(names.blobBucket);
  const vramGb = o.vramGb ?? 8;
  const usable = usableVramGb(table, vramGb);
  const incarnation = randomBytes(3).toString('hex');
  const metrics = createAgentMetrics(() => []);
  const blobs = blobAccess(nc, os, names.blobBucket, BLOB_CHUNK_BYTES);
  const slots = Array.from({ length: o.count }, (_, i) => {
    const name = `${o.namePrefix}-${i}`;
    const advert: AgentAdvert = {
      agentId: `${name}-${incarnation}`,
      name,
      hostname: 'load-test',
      deviceIndex: -1,
      deviceName: 'zero-work load-test engine',
      vramTotalGb: vramGb,
      vramUsableGb: usable,
      vramClass: classLabel(vramClassOf(table, usable)),
      executionProvider: 'none',
      modelsLoaded: [],
      modelsHeld: [],
      modelCacheFreeBytes: 0,
      modelCacheCapacityBytes: 0,
      version: 'load-test',
      state: AgentState.AGENT_STATE_IDLE,
      shardsCompleted: 0,
      modelSpeeds: [],
    };
    return new Slot({
      nc,
      blobs,
      names,
      engine,
      log: o.log.child({ slot: name }),
      metrics,
      advert,
      waitMs: o.waitMs ?? 10_000,
      modelsDir: '/nonexistent',
      testDelayMs: o.secondsPerUnit?.length
        ? (task: ShardTask) => task.workUnits * o.secondsPerUnit![i % o.secondsPerUnit!.length] * 1000
        : undefined,
    });
  });
  const running = runSlots(nc, names, slots, o.heartbeatMs ?? 2000);
  return {
    computed: () => engine.calls,
    async drain() {
      await running.drain();
      await nc.drain().catch(() => undefined);
    },
  };
}
