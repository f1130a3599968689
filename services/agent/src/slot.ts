/**
 * One agent slot (a GPU, or the CPU): asks for work, runs leased shards on its engine host while
 * renewing the lease, uploads outputs with a checksum and reports the result under the lease's
 * fencing token. The work loop is `run(signal)`; aborting the signal drains the slot (the current
 * shard finishes and is reported, no new work is taken).
 */
import { createHash } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ObjectStore } from '@nats-io/obj';
import {
  EngineAbortedError,
  EngineOutOfMemoryError,
  InvalidImageError,
  UnknownModelError,
  type EngineHost,
  type SdRunParams,
} from '@tessera/engine';
import {
  AgentState,
  BLOB_CHUNK_BYTES,
  FailureKind,
  LeaseRenewal,
  LeaseRenewalReply,
  ShardResult,
  ShardResultReply,
  WorkGrant,
  WorkRequest,
  type AgentAdvert,
  type FarmNames,
  type Lease,
  type LeaseRef,
  type ShardTask,
} from '@tessera/protocol';
import { join } from 'node:path';
import { slowDown } from './slowdown.js';
import { concatBytes, type Logger } from '@tessera/runtime';
import { attachmentDirs, splitImageInput } from './image-inputs.js';
import type { AgentMetrics } from './metrics.js';
import { ModelUnavailableError, type AgentModels } from './models.js';
import { SpeedMeter } from './speed-meter.js';

/**
 * What a slot computes with: the engine host in production. Injected, so the load test can run the
 * real slot code with ZeroWorkLoadTestEngine (zero-work-engine.ts) and no inference.
 */
export type SlotEngine = Pick<EngineHost, 'upscale' | 'imageToVideo' | 'generateImage' | 'loadedModels'>;

export interface SlotDeps {
  nc: NatsConnection;
  os: ObjectStore;
  names: FarmNames;
  engine: SlotEngine;
  log: Logger;
  metrics: AgentMetrics;
  /** The slot's static advert; state, models and counters are filled in per message. */
  advert: AgentAdvert;
  /** How long the coordinator may hold a work request. */
  waitMs: number;
  /** Where model directories live (`<modelsDir>/<model id>/`, e.g. svd-xt in the documented layout). */
  modelsDir: string;
  /** Reads a blob (@tessera/runtime's `blobReader`: no consumer per one-chunk read). */
  readBlob: (key: string) => Promise<Uint8Array | null>;
  /** hook(models): the model cache (models.ts); without it, models are read from `<modelsDir>/<id>/`. */
  models?: AgentModels;
  /**
   * Test-only delay: after each engine run the slot waits this many ms (given the task and the run's
   * seconds) before storing the output, as a slower device would take. Benches of mixed-speed fleets
   * (TESSERA_TEST_ENGINE_SLOWDOWN, zero-work agents with a fixed time per work unit). Outputs are unchanged.
   */
  testDelayMs?: (task: ShardTask, engineSeconds: number) => number;
}

/** A lease the slot is working on. */
interface Current {
  lease: Lease;
  abort: AbortController;
  progress: number;
  /** When the engine first reported progress (performance.now()). */
  firstProgressMs?: number;
  /** hook(models): the directory of the shard's model, from the cache. */
  modelDir?: string;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

export class Slot {
  private current: Current | undefined;
  private completed = 0;
  /** Interrupts the current wait for work (set while waiting). */
  private wake: (() => void) | undefined;
  private draining = false;
  /** Measured throughput per model (advertised). */
  readonly speed = new SpeedMeter();

  constructor(private readonly d: SlotDeps) {}

  /** The advert as it stands now. */
  advert(): AgentAdvert {
    return {
      ...this.d.advert,
      state: this.draining
        ? AgentState.AGENT_STATE_DRAINING
        : this.current
          ? AgentState.AGENT_STATE_BUSY
          : AgentState.AGENT_STATE_IDLE,
      modelsLoaded: this.d.engine.loadedModels(),
      shardsCompleted: this.completed,
      ...this.d.models?.advert(), // hook(models): models held, cache room
      modelSpeeds: this.speed.speeds(),
    };
  }

  /** Leases in progress, for heartbeats. */
  leases(): LeaseRef[] {
    return this.current?.lease.ref ? [this.current.lease.ref] : [];
  }

  /** A coordinator announced itself: stop waiting on the old request or backoff and ask again. */
  kick(): void {
    this.wake?.();
  }

  /** Aborts the running shard if it belongs to `jobId` (cancel notice). */
  cancelJob(jobId: string): void {
    if (this.current?.lease.ref?.jobId === jobId) this.current.abort.abort(new Error('job cancelled'));
  }

  /** Aborts the running shard if it is exactly attempt `ref` (attempt cancel notice). */
  cancelAttempt(ref: LeaseRef): void {
    const cur = this.current?.lease.ref;
    if (cur && cur.jobId === ref.jobId && cur.shardIndex === ref.shardIndex && cur.fencingToken === ref.fencingToken)
      this.current!.abort.abort(new Error('attempt cancelled'));
  }

  /** Works until `signal` aborts; then finishes (and reports) the current shard and returns. */
  async run(signal: AbortSignal): Promise<void> {
    signal.addEventListener('abort', () => (this.draining = true), { once: true });
    let backoff = 250;
    while (!signal.aborted) {
      let grant: WorkGrant;
      try {
        const req: WorkRequest = { advert: this.advert(), waitMs: this.d.waitMs };
        const pending = this.d.nc.request(this.d.names.workRequest, WorkRequest.encode(req).finish(), {
          timeout: this.d.waitMs + 5000,
        });
        // Draining: the coordinator releases our parked request when it sees the DRAINING heartbeat;
        // if it does not answer within 2 s, stop waiting. A grant that does arrive is worked on below.
        // (The listener is removed after the race: one left per request would pile up on the signal.)
        let onStop = () => {};
        const stopped = new Promise<'stopped'>((resolve) => {
          onStop = () => resolve('stopped');
          signal.addEventListener('abort', onStop, { once: true });
        });
        // A coordinator that (re)started announces itself: a request parked at a dead one would only
        // time out, so ask again at once.
        const kicked = new Promise<'kicked'>((resolve) => (this.wake = () => resolve('kicked')));
        const first = await Promise.race([pending, stopped, kicked]).finally(() =>
          signal.removeEventListener('abort', onStop),
        );
        this.wake = undefined;
        if (first === 'kicked') {
          pending.catch(() => undefined);
          continue;
        }
        const msg =
          first === 'stopped'
            ? await Promise.race([
                pending.catch(() => undefined),
                new Promise<undefined>((r) => setTimeout(() => r(undefined), 2000)),
              ])
            : first;
        if (!msg) break;
        grant = WorkGrant.decode(msg.data);
        backoff = 250;
      } catch (e) {
        this.d.log.debug({ err: (e as Error).message }, 'work request failed; retrying');
        const nap = new AbortController();
        this.wake = () => nap.abort();
        const onStop = () => nap.abort();
        signal.addEventListener('abort', onStop, { once: true });
        await sleep(backoff, nap.signal);
        signal.removeEventListener('abort', onStop);
        this.wake = undefined;
        backoff = Math.min(backoff * 2, 5000);
        continue;
      }
      if (!grant.lease?.ref || !grant.lease.task) continue;
      await this.work(grant.lease);
    }
  }

  private async work(lease: Lease): Promise<void> {
    const ref = lease.ref!;
    const task = lease.task!;
    const log = this.d.log.child({ job: ref.jobId, shard: ref.shardIndex, token: ref.fencingToken });
    const cur: Current = { lease, abort: new AbortController(), progress: 0 };
    this.current = cur;
    const renewer = this.startRenewing(cur, log);
    const t0 = performance.now();
    let result: ShardResult;
    try {
      log.debug({ model: task.model, size: `${task.inputWidth}x${task.inputHeight}` }, 'shard started');
      // Some tasks have no input (txt2img's first stage).
      const input = task.inputKey ? await this.d.readBlob(task.inputKey) : new Uint8Array();
      if (!input) throw new InvalidImageError(`input ${task.inputKey} is missing from the object store`);
      if (task.inputKey && sha256(input) !== task.inputSha256)
        throw new Error(`input ${task.inputKey} failed its checksum`);
      const tEngine = performance.now();
      const modelId = task.image?.modelDir ?? task.model;
      const cold = !this.d.engine.loadedModels().some((m) => m === modelId || m.endsWith(`/${modelId}`));
      // hook(models): hold the shard's model directory (fetched into the cache if needed) while it runs.
      const dirModel = task.kind === 'svd_batch' ? task.model : task.kind === 'sd_stage' ? task.image?.modelDir : '';
      // Its ControlNets and VAE too: a model pushed to the store is fetched like the stage's own.
      const dirs = [dirModel ?? '', ...(task.kind === 'sd_stage' ? attachmentDirs(task.image) : [])].filter(Boolean);
      const held = dirs.length && this.d.models ? await this.d.models.holdAll(dirs, cur.abort.signal) : undefined;
      cur.modelDir = dirModel ? held?.dirOf(dirModel) : undefined;
      const out = await this.compute(task, input, cur).finally(() => held?.release());
      const engineMs = performance.now() - tEngine;
      const delayMs = this.d.testDelayMs?.(task, engineMs / 1000) ?? 0;
      if (delayMs > 0) await slowDown(engineMs, delayMs, (p) => (cur.progress = p), cur.abort.signal);
      // The catch below treats an aborted signal as an abandoned shard.
      if (cur.abort.signal.aborted) throw new Error('aborted during the test slowdown');
      // A model that was not loaded yet: its load time is what passed before the engine first reported progress.
      if (cold && cur.firstProgressMs !== undefined)
        this.d.metrics.modelLoad.observe({ model: task.model }, (cur.firstProgressMs - tEngine) / 1000);
      const tPut = performance.now();
      const runSeconds = (tPut - tEngine) / 1000;
      const digest = sha256(out.data);
      await this.d.os.putBlob({ name: task.outputKey, options: { max_chunk_size: BLOB_CHUNK_BYTES } }, out.data);
      log.debug(
        {
          fetchMs: Math.round(tEngine - t0),
          engineMs: Math.round(tPut - tEngine),
          putMs: Math.round(performance.now() - tPut),
          bytes: out.data.length,
        },
        'shard computed',
      );
      result = {
        ref,
        agentId: this.d.advert.agentId,
        ok: true,
        outputKey: task.outputKey,
        outputWidth: out.width,
        outputHeight: out.height,
        outputSha256: digest,
        outputBytes: out.data.length,
        outputFrames: out.frames,
        outputChannels: out.channels ?? 0,
        decodeChunk: task.video?.decodeChunk ?? 0,
        runSeconds,
        failure: FailureKind.FAILURE_KIND_UNSPECIFIED,
        error: '',
      };
      this.d.metrics.shardSeconds.observe({ model: task.model }, runSeconds);
      // A cold run's model load is not throughput: time it from the engine's first progress.
      const measured = cold && cur.firstProgressMs !== undefined ? (tPut - cur.firstProgressMs) / 1000 : runSeconds;
      this.speed.record(task.model, task.workUnits, measured);
    } catch (e) {
      if (e instanceof EngineAbortedError || cur.abort.signal.aborted) {
        log.warn({ reason: String(cur.abort.signal.reason ?? e) }, 'shard abandoned');
        this.d.metrics.shards.inc({ model: task.model, outcome: 'abandoned' });
        clearInterval(renewer);
        this.current = undefined;
        return;
      }
      const failure =
        e instanceof ModelUnavailableError // hook(models): not the shard's fault
          ? FailureKind.FAILURE_KIND_MODEL_UNAVAILABLE
          : e instanceof EngineOutOfMemoryError
            ? FailureKind.FAILURE_KIND_OUT_OF_MEMORY
            : e instanceof UnknownModelError || e instanceof InvalidImageError
              ? FailureKind.FAILURE_KIND_FATAL
              : FailureKind.FAILURE_KIND_ERROR;
      log.error({ err: e }, 'shard failed');
      result = {
        ref,
        agentId: this.d.advert.agentId,
        ok: false,
        outputKey: '',
        outputWidth: 0,
        outputHeight: 0,
        outputSha256: '',
        outputBytes: 0,
        outputFrames: 0,
        outputChannels: 0,
        decodeChunk: 0,
        runSeconds: (performance.now() - t0) / 1000,
        failure,
        error: e instanceof Error ? e.message : String(e),
      };
    }
    clearInterval(renewer);
    const reply = await this.report(result, log);
    this.current = undefined;
    if (result.ok && reply?.accepted) this.completed++;
    this.d.metrics.shards.inc({
      model: task.model,
      outcome: !result.ok ? 'failed' : reply?.accepted ? 'committed' : `refused_${reply?.reason || 'unknown'}`,
    });
  }

  private progressed(cur: Current, fraction: number): void {
    if (cur.firstProgressMs === undefined && fraction > 0) cur.firstProgressMs = performance.now();
    cur.progress = fraction;
  }

  /**
   * Runs the engine on a task. Outputs are raw RGB8: one image (upscale_tile) or `frames` images of
   * width × height back to back (upscale_frames, svd_batch).
   */
  private async compute(
    task: ShardTask,
    input: Uint8Array,
    cur: Current,
  ): Promise<{ data: Uint8Array; width: number; height: number; frames: number; channels?: number }> {
    const { inputWidth: w, inputHeight: h } = task;
    const frameBytes = w * h * 3;
    const signal = cur.abort.signal;
    switch (task.kind) {
      case 'upscale_tile': {
        const out = await this.d.engine.upscale(
          task.model,
          { width: w, height: h, data: input },
          { signal, onProgress: (f) => this.progressed(cur, f) },
        );
        return { data: out.data, width: out.width, height: out.height, frames: 1 };
      }
      case 'upscale_frames': {
        const n = task.inputFrames;
        if (input.length !== n * frameBytes)
          throw new InvalidImageError(`input has ${input.length} bytes, expected ${n} frames of ${w}×${h}`);
        const outs: Uint8Array[] = [];
        let size = { width: 0, height: 0 };
        for (let i = 0; i < n; i++) {
          const out = await this.d.engine.upscale(
            task.model,
            { width: w, height: h, data: input.subarray(i * frameBytes, (i + 1) * frameBytes) },
            { signal },
          );
          outs.push(out.data);
          size = { width: out.width, height: out.height };
          this.progressed(cur, (i + 1) / n);
        }
        return { data: concatBytes(outs), ...size, frames: n };
      }
      case 'svd_batch': {
        const v = task.video;
        if (!v) throw new InvalidImageError('svd_batch task without video parameters');
        const f = v.conditioningFrame;
        if (input.length < (f + 1) * frameBytes)
          throw new InvalidImageError(`input has no frame ${f} (${input.length} bytes of ${w}×${h} frames)`);
        const modelDir = cur.modelDir ?? join(this.d.modelsDir, task.model);
        const frames = await this.d.engine.imageToVideo(
          modelDir,
          {
            image: { width: w, height: h, data: input.slice(f * frameBytes, (f + 1) * frameBytes) },
            numFrames: v.numFrames,
            width: v.width,
            height: v.height,
            fps: v.fps,
            motionBucketId: v.motionBucketId,
            noiseAugStrength: v.noiseAugStrength,
            steps: v.steps,
            minGuidanceScale: v.minGuidanceScale,
            maxGuidanceScale: v.maxGuidanceScale,
            seed: task.seed,
            decodeChunkSize: v.decodeChunk,
          },
          { signal, onProgress: (p) => this.progressed(cur, p) },
        );
        return {
          data: concatBytes(frames.map((x) => x.data)),
          width: v.width,
          height: v.height,
          frames: frames.length,
        };
      }
      case 'sd_stage': {
        const t = task.image;
        if (!t) throw new InvalidImageError('sd_stage task without image parameters');
        const params: SdRunParams = {
          prompt: t.prompt,
          // The wire cannot tell "no negative prompt" from "empty": '' means diffusers' None.
          negativePrompt: t.negativePrompt || undefined,
          width: t.width,
          height: t.height,
          steps: t.steps || undefined,
          guidanceScale: t.guidanceScale || undefined,
          seed: task.seed,
          scheduler: t.scheduler || undefined,
          strength: t.strength || undefined,
          denoisingStart: t.denoisingStart || undefined,
          denoisingEnd: t.denoisingEnd || undefined,
          outputType: t.outputLatents ? 'latent' : 'image',
        };
        let crop: { width: number; height: number } | undefined;
        // hook(engines-b): control images follow the init image in the input blob (image-inputs.ts).
        const split = splitImageInput(t, input, this.d.modelsDir);
        if (split.controlNets.length) params.controlNets = split.controlNets;
        input = split.init;
        if (t.inputKind === 'image') {
          if (input.length !== t.width * t.height * 3)
            throw new InvalidImageError(`input image has ${input.length} bytes, expected ${t.width}×${t.height} RGB8`);
          // SD works on multiples of 8 pixels: pad an odd-sized tile by repeating its edge, crop after.
          const padded = padToMultiple({ width: t.width, height: t.height, data: input }, 8);
          if (padded.width !== t.width || padded.height !== t.height) crop = { width: t.width, height: t.height };
          params.image = padded;
          params.width = padded.width;
          params.height = padded.height;
        } else if (t.inputKind === 'latents') {
          const n = t.latentChannels * t.latentHeight * t.latentWidth;
          if (input.length !== n * 4)
            throw new InvalidImageError(`input latents have ${input.length} bytes, expected ${n} float32`);
          const data = new Float32Array(n);
          new Uint8Array(data.buffer).set(input);
          params.latents = { channels: t.latentChannels, height: t.latentHeight, width: t.latentWidth, data };
        }
        const r = await this.d.engine.generateImage(cur.modelDir ?? join(this.d.modelsDir, t.modelDir), params, {
          ...(t.vaeDir ? { vaeDir: join(this.d.modelsDir, t.vaeDir) } : {}),
          signal,
          onProgress: (p) => this.progressed(cur, p),
        });
        if ('latents' in r) {
          const l = r.latents;
          return {
            data: new Uint8Array(l.data.buffer, l.data.byteOffset, l.data.byteLength),
            width: l.width,
            height: l.height,
            frames: 1,
            channels: l.channels,
          };
        }
        const img = crop ? cropTopLeft(r.images[0], crop.width, crop.height) : r.images[0];
        return { data: img.data, width: img.width, height: img.height, frames: 1 };
      }
      default:
        throw new UnknownModelError(`this agent cannot run shards of kind ${JSON.stringify(task.kind)}`);
    }
  }

  /** Renews the lease every renewEveryMs; a refusal (superseded, cancelled) aborts the engine. */
  private startRenewing(cur: Current, log: Logger): NodeJS.Timeout {
    const ref = cur.lease.ref!;
    const every = Math.max(50, cur.lease.renewEveryMs || 5000);
    return setInterval(() => {
      const body: LeaseRenewal = { ref, agentId: this.d.advert.agentId, progress: cur.progress };
      this.d.nc
        .request(this.d.names.workRenew, LeaseRenewal.encode(body).finish(), { timeout: every })
        .then((m) => {
          const r = LeaseRenewalReply.decode(m.data);
          if (!r.ok && (r.reason === 'superseded' || r.reason === 'cancelled' || r.reason === 'unknown')) {
            log.warn({ reason: r.reason }, 'lease lost; stopping the shard');
            cur.abort.abort(new Error(`lease ${r.reason}`));
          }
        })
        .catch((e: unknown) => log.debug({ err: (e as Error).message }, 'lease renewal got no answer'));
    }, every);
  }

  /** Reports a result until the coordinator answers (it may be restarting). */
  private async report(result: ShardResult, log: Logger): Promise<ShardResultReply | undefined> {
    const body = ShardResult.encode(result).finish();
    let backoff = 250;
    for (let attempt = 1; attempt <= 120; attempt++) {
      try {
        const m = await this.d.nc.request(this.d.names.workResult, body, { timeout: 10_000 });
        const reply = ShardResultReply.decode(m.data);
        if (reply.accepted) log.debug({ reason: reply.reason || undefined }, 'result committed');
        else log.warn({ reason: reply.reason }, 'result refused by the coordinator');
        return reply;
      } catch (e) {
        log.warn({ err: (e as Error).message, attempt }, 'result not acknowledged; retrying');
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
    log.error('giving up reporting the result; the lease will expire and the shard will run again');
    return undefined;
  }
}

type Rgb = { width: number; height: number; data: Uint8Array };

/** Pads an RGB8 image right and bottom to multiples of `m` by repeating the last column and row. */
function padToMultiple(img: Rgb, m: number): Rgb {
  const width = Math.ceil(img.width / m) * m;
  const height = Math.ceil(img.height / m) * m;
  if (width === img.width && height === img.height) return img;
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(y, img.height - 1);
    const row = img.data.subarray(sy * img.width * 3, (sy + 1) * img.width * 3);
    out.set(row, y * width * 3);
    const last = row.subarray(row.length - 3);
    for (let x = img.width; x < width; x++) out.set(last, (y * width + x) * 3);
  }
  return { width, height, data: out };
}

/** The top-left width × height of an RGB8 image. */
function cropTopLeft(img: Rgb, width: number, height: number): Rgb {
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    out.set(img.data.subarray(y * img.width * 3, y * img.width * 3 + width * 3), y * width * 3);
  }
  return { width, height, data: out };
}

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}
