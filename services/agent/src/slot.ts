/**
 * One agent slot (a GPU, or the CPU): asks for work, runs leased shards on its engine host while
 * renewing the lease, uploads outputs with a checksum and reports the result under the lease's
 * fencing token. The work loop is `run(signal)`; aborting the signal drains the slot (the current
 * shard finishes and is reported, no new work is taken).
 */
import type { NatsConnection } from '@nats-io/transport-node';
import {
  EngineAbortedError,
  EngineOutOfMemoryError,
  InvalidImageError,
  UnknownModelError,
  type EngineHost,
} from '@tessera/engine';
import {
  AgentState,
  FailureKind,
  ShardResult,
  WorkGrant,
  WorkRequest,
  type AgentAdvert,
  type FarmNames,
  type Lease,
  type LeaseRef,
  type ShardTask,
} from '@tessera/protocol';
import type { BlobAccess, Logger } from '@tessera/runtime';
import { attachmentDirs } from './image-inputs.js';
import { reportResult, sleep, startRenewing, type LeaseMessaging } from './lease-messages.js';
import { slowDown } from './slowdown.js';
import type { AgentMetrics } from './metrics.js';
import { ModelUnavailableError, type AgentModels } from './models.js';
import { computeShard } from './shard-compute.js';
import { SpeedMeter } from './speed-meter.js';

/**
 * What a slot computes with: the engine host in production. Injected, so the load test can run the
 * real slot code with ZeroWorkLoadTestEngine (zero-work-engine.ts) and no inference.
 */
export type SlotEngine = Pick<EngineHost, 'upscale' | 'imageToVideo' | 'generateImage' | 'loadedModels'>;

export interface SlotDeps {
  nc: NatsConnection;
  /** Shard inputs and outputs (@tessera/runtime's `blobAccess`: one-chunk blobs without the stream API). */
  blobs: Pick<BlobAccess, 'read' | 'put'>;
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

export class Slot {
  private current: Current | undefined;
  private completed = 0;
  /** Interrupts the current wait for work (set while waiting). */
  private wake: (() => void) | undefined;
  private draining = false;
  /** Measured throughput per model (advertised). */
  readonly speed = new SpeedMeter();

  /** Where this slot's renewals and results go. */
  private readonly messaging: LeaseMessaging;

  constructor(private readonly d: SlotDeps) {
    this.messaging = { nc: d.nc, names: d.names, agentId: d.advert.agentId };
  }

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
    const renewer = startRenewing(this.messaging, cur, log);
    const t0 = performance.now();
    let result: ShardResult;
    try {
      log.debug({ model: task.model, size: `${task.inputWidth}x${task.inputHeight}` }, 'shard started');
      // Some tasks have no input (txt2img's first stage).
      // Checked against the stored digest and the task's in one hash.
      const input = task.inputKey ? await this.d.blobs.read(task.inputKey, task.inputSha256) : new Uint8Array();
      if (!input) throw new InvalidImageError(`input ${task.inputKey} is missing from the object store`);
      const tEngine = performance.now();
      const modelId = task.image?.modelDir ?? task.model;
      const cold = !this.d.engine.loadedModels().some((m) => m === modelId || m.endsWith(`/${modelId}`));
      // hook(models): hold the shard's model directory (fetched into the cache if needed) while it runs.
      const dirModel = task.kind === 'svd_batch' ? task.model : task.kind === 'sd_stage' ? task.image?.modelDir : '';
      // Its ControlNets and VAE too: a model pushed to the store is fetched like the stage's own.
      const dirs = [dirModel ?? '', ...(task.kind === 'sd_stage' ? attachmentDirs(task.image) : [])].filter(Boolean);
      const held = dirs.length && this.d.models ? await this.d.models.holdAll(dirs, cur.abort.signal) : undefined;
      cur.modelDir = dirModel ? held?.dirOf(dirModel) : undefined;
      const out = await computeShard(task, input, {
        engine: this.d.engine,
        modelsDir: this.d.modelsDir,
        signal: cur.abort.signal,
        modelDir: cur.modelDir,
        onProgress: (f) => this.progressed(cur, f),
      }).finally(() => held?.release());
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
      // The output key names this attempt's fencing token: written once, nothing to replace.
      const { sha256: digest } = await this.d.blobs.put(task.outputKey, out.data, { fresh: true });
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
    const reply = await reportResult(this.messaging, result, log);
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
}
