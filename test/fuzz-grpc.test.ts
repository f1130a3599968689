/**
 * Issue 6, done-means 4 (gRPC half): ≥ 10,000 malformed JobService/AgentService requests, generated
 * by mutating valid ones (test/helpers/mutate.ts), sent as raw bytes through a grpc-js client with
 * identity serializers so that undecodable protobuf reaches the server. Every answer must be OK (a
 * mutant that is still a valid request; accepted jobs are cancelled at once) or a clear error:
 * INVALID_ARGUMENT naming the field, RESOURCE_EXHAUSTED, NOT_FOUND or FAILED_PRECONDITION, never
 * INTERNAL or UNKNOWN. The coordinator must stay up and run a real job afterwards.
 *
 * Reproducible: the seed is printed; `TESSERA_FUZZ_SEED=<seed>` replays a run, `random` explores
 * new cases, and `TESSERA_FUZZ_GRPC_REQUESTS` changes the count (default 10,500).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import {
  CancelJobRequest,
  GetJobOutputRequest,
  GetJobRequest,
  JobState,
  ListAgentsRequest,
  ListJobsRequest,
  SubmitJobRequest,
  SubmitJobResponse,
  WatchJobRequest,
} from '@tessera/protocol';
import { jobBytes, startFarm, type Farm } from './helpers/farm.js';
import { pushTinyModels } from './helpers/models.js';
import { parseExposition, scrape, sumOf } from './helpers/prometheus.js';
import { baboonCrop, rgbOf } from './helpers/images.js';
import { fuzzSeed, mutant, Rng, type Mutant, type Seed } from './helpers/mutate.js';
import { ALLOWED, FIELD_DETAILS, fuzzCorpus, rawCall, type Answer, type Method } from './helpers/grpc-fuzz.js';

/** The cases CI runs; `TESSERA_FUZZ_SEED=random` explores others. */
const DEFAULT_SEED = 60_001;
const REQUESTS = Number(process.env.TESSERA_FUZZ_GRPC_REQUESTS || 10_500);
const IN_FLIGHT = 32;
/** A healthy server answers every case far sooner; the deadline only keeps a hang from stalling the run. */
const CALL_DEADLINE_MS = 60_000;
/** Stops the loop (and fails the count check) rather than running for ever on a wedged server. */
const LOOP_BUDGET_MS = 300_000;
/** Mutants stay below the server's receive limit (65 MiB) except the deliberate oversize cases. */
const MAX_MUTANT_BYTES = 1024 * 1024;
const MiB = 1024 * 1024;

describe('hostile gRPC input (issue 6)', () => {
  const seed = fuzzSeed(DEFAULT_SEED);
  let farm: Farm;
  let raw: grpc.Client;
  let png: Buffer;
  let doneJobId: string;

  /** One raw call: the first answer (a unary reply, a stream's first message) or the error status. */
  const call = (method: Method, bytes: Uint8Array): Promise<Answer> => rawCall(raw, method, bytes, CALL_DEADLINE_MS);

  beforeAll(async () => {
    console.log(`fuzz-grpc seed ${seed} (replay with TESSERA_FUZZ_SEED=${seed})`);
    farm = await startFarm({ agents: [{ name: 'only', vramGb: 8 }] });
    // The corpus's image and video seeds must be accepted: their models are in the farm's store.
    await pushTinyModels(farm.grpcAddr, ['sd15', 'sdxl', 'sdxl-refiner', 'svd-xt']);
    raw = new grpc.Client(farm.grpcAddr, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 64 * MiB,
    });
    png = await baboonCrop(40, 40, 32, 32);
    const job = await farm.client.submitUpscale({ image: png, model: 'esrgan-slim-x4' });
    const done = await farm.client.waitForJob(job.id);
    expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
    doneJobId = job.id;
  });
  afterAll(async () => {
    raw?.close();
    await farm?.close();
  });

  it('answers ≥ 10,000 malformed requests with clear errors, stays up, and still runs a job', async () => {
    const rng = new Rng(seed);
    const { pools, submitSeeds, header } = await fuzzCorpus(png, MAX_MUTANT_BYTES);

    // The corpus is valid: each seed is accepted as it stands (and cancelled at once).
    const cancelledIds: string[] = [];
    for (const s of submitSeeds) {
      const a = await call('SubmitJob', SubmitJobRequest.encode(s.message).finish());
      expect(a.code, `${s.label} seed: ${a.details}`).toBe(grpc.status.OK);
      cancelledIds.push((await farm.client.cancelJob(SubmitJobResponse.decode(a.body!).job!.id)).id);
    }

    const otherSeeds: { method: Method; seed: Seed<unknown>; weight: number }[] = [
      { method: 'GetJob', weight: 8, seed: { label: 'get', message: { jobId: doneJobId }, codec: GetJobRequest } },
      {
        method: 'WatchJob',
        weight: 8,
        seed: { label: 'watch', message: { jobId: doneJobId }, codec: WatchJobRequest },
      },
      {
        method: 'CancelJob',
        weight: 8,
        seed: { label: 'cancel', message: { jobId: doneJobId }, codec: CancelJobRequest },
      },
      {
        method: 'GetJobOutput',
        weight: 8,
        seed: { label: 'output', message: { jobId: doneJobId, format: 'png', frame: 0 }, codec: GetJobOutputRequest },
      },
      {
        method: 'GetJobOutput',
        weight: 3,
        seed: {
          label: 'output',
          message: { jobId: cancelledIds[0], format: '', frame: 0 },
          codec: GetJobOutputRequest,
        },
      },
      {
        method: 'ListJobs',
        weight: 6,
        seed: { label: 'list', message: { limit: 5, includeShards: true }, codec: ListJobsRequest },
      },
      {
        method: 'ListAgents',
        weight: 2,
        seed: { label: 'agents', message: { includeLost: true }, codec: ListAgentsRequest },
      },
    ] as { method: Method; seed: Seed<unknown>; weight: number }[];
    const donors = [...submitSeeds.map((s) => SubmitJobRequest.encode(s.message).finish())];

    /** The i-th case: 60 % SubmitJob, the rest spread over the other methods. */
    const next = (): { method: Method; m: Mutant & { label: string } } => {
      if (rng.chance(0.6)) {
        const s = rng.pick(submitSeeds);
        return { method: 'SubmitJob', m: mutant(rng, s, pools, { maxBytes: MAX_MUTANT_BYTES, donors }) };
      }
      let w = rng.below(otherSeeds.reduce((n, o) => n + o.weight, 0));
      const o = otherSeeds.find((x) => (w -= x.weight) < 0)!;
      return { method: o.method, m: mutant(rng, o.seed, pools, { maxBytes: 256 * 1024, donors }) };
    };

    // Fixed edge cases: just under and over the size limits, undecodable bytes, a huge echoed value.
    const edge: { method: Method; m: Mutant & { label: string } }[] = [
      {
        method: 'SubmitJob',
        m: {
          label: 'upscale',
          how: 'image of 64 MiB + 1 byte (under the gRPC limit, over max_input_bytes)',
          bytes: SubmitJobRequest.encode(
            SubmitJobRequest.fromPartial({
              ...header,
              spec: { $case: 'upscale', value: { image: Buffer.alloc(64 * MiB + 1), model: 'esrgan-slim-x4' } },
            }),
          ).finish(),
        },
      },
      {
        method: 'SubmitJob',
        m: {
          label: 'upscale',
          how: '66 MiB message (over the gRPC limit)',
          bytes: new Uint8Array(66 * MiB).fill(0x0a),
        },
      },
      {
        method: 'SubmitJob',
        m: {
          label: 'upscale',
          how: 'seed 2^64-1',
          bytes: Uint8Array.of(0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
        },
      },
      { method: 'GetJob', m: { label: 'get', how: 'wire type 7', bytes: Uint8Array.of(0x0f, 0x01) } },
      { method: 'WatchJob', m: { label: 'watch', how: 'truncated string', bytes: Uint8Array.of(0x0a, 0x10, 0x41) } },
      {
        method: 'GetJobOutput',
        m: { label: 'output', how: 'unterminated varint', bytes: Uint8Array.of(0x18, 0xff, 0xff) },
      },
      {
        method: 'SubmitJob',
        m: {
          label: 'upscale',
          how: 'unknown model named by a 1 MB string',
          bytes: SubmitJobRequest.encode(
            SubmitJobRequest.fromPartial({
              ...header,
              spec: { $case: 'upscale', value: { image: png, model: 'm'.repeat(1_000_000) } },
            }),
          ).finish(),
        },
      },
    ];

    const codes = new Map<string, number>();
    const byMethod = new Map<string, Map<string, number>>();
    const failures: string[] = [];
    const accepted = new Map<string, number>();
    const examples = new Map<string, string>();
    let sent = 0;
    let bytesSent = 0;
    const coordinatorCpu = async () =>
      sumOf(parseExposition(await scrape(farm.metricsUrl)), 'tessera_coordinator_process_cpu_seconds_total');
    const cpuBefore = await coordinatorCpu();
    const clientCpuBefore = process.cpuUsage();
    const started = Date.now();

    const one = async (c: { method: Method; m: Mutant & { label: string } }, i: number) => {
      const a = await call(c.method, c.m.bytes);
      const name = grpc.status[a.code];
      codes.set(name, (codes.get(name) ?? 0) + 1);
      if (a.code !== grpc.status.OK && !examples.has(name)) examples.set(name, a.details.slice(0, 160));
      const per = byMethod.get(c.method) ?? new Map<string, number>();
      per.set(name, (per.get(name) ?? 0) + 1);
      byMethod.set(c.method, per);
      const where = `#${i} ${c.method} (${c.m.label}; ${c.m.how.slice(0, 200)})`;
      if (a.code === grpc.status.OK) {
        if (c.method === 'SubmitJob') {
          const id = SubmitJobResponse.decode(a.body!).job?.id;
          if (!id) failures.push(`${where}: OK without a job`);
          else {
            accepted.set(c.m.label, (accepted.get(c.m.label) ?? 0) + 1);
            await farm.client.cancelJob(id);
          }
        }
        return;
      }
      if (!ALLOWED.has(a.code)) failures.push(`${where}: ${name} ${JSON.stringify(a.details.slice(0, 300))}`);
      else if (!a.details) failures.push(`${where}: ${name} with empty details`);
      else if (a.code === grpc.status.INVALID_ARGUMENT && !FIELD_DETAILS.test(a.details))
        failures.push(`${where}: INVALID_ARGUMENT without a field: ${JSON.stringify(a.details.slice(0, 300))}`);
      else if (a.details.length > 4096) failures.push(`${where}: ${name} details of ${a.details.length} characters`);
    };

    // The edge cases one at a time on a quiet server: under the storm below, a 64 MiB upload through
    // HTTP/2's 64 KiB flow-control windows crawls as fast as two busy event loops trade window updates.
    for (const [i, c] of edge.entries()) {
      sent++;
      bytesSent += c.m.bytes.length;
      await one(c, i);
    }
    let cursor = 0;
    const alive = () => farm.coordinator.child.exitCode === null && farm.coordinator.child.signalCode === null;
    const worker = async () => {
      while (cursor < REQUESTS && alive() && Date.now() - started < LOOP_BUDGET_MS) {
        const i = cursor++;
        // Cases are drawn in index order from one RNG, so the same seed gives the same cases.
        const c = next();
        sent++;
        bytesSent += c.m.bytes.length;
        await one(c, edge.length + i);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    const seconds = (Date.now() - started) / 1000;
    const clientCpu = ((u) => (u.user + u.system) / 1e6)(process.cpuUsage(clientCpuBefore));

    const coordinatorUp = alive();
    const summary = {
      test: 'fuzz-grpc',
      seed,
      requests: sent,
      megabytes: Math.round(bytesSent / MiB),
      seconds: Math.round(seconds * 10) / 10,
      cpuSeconds: { coordinator: Math.round((await coordinatorCpu()) - cpuBefore), client: Math.round(clientCpu) },
      codes: Object.fromEntries([...codes].sort((a, b) => b[1] - a[1])),
      byMethod: Object.fromEntries([...byMethod].map(([m, c]) => [m, Object.fromEntries(c)])),
      accepted: Object.fromEntries(accepted),
      examples: Object.fromEntries(examples),
      failures: failures.length,
      coordinatorUp,
    };
    console.log(JSON.stringify(summary));

    expect(coordinatorUp, farm.coordinator.output().slice(-3000)).toBe(true);
    expect(failures.slice(0, 25), `seed ${seed}`).toEqual([]);
    expect(sent).toBeGreaterThanOrEqual(10_000 + edge.length);

    // Still serving: a real upscale runs to the end with the right output size.
    const job = await farm.client.submitUpscale({ image: png, model: 'esrgan-slim-x4' });
    const done = await farm.client.waitForJob(job.id);
    expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
    const out = await rgbOf(await jobBytes(farm.client, job.id));
    expect([out.width, out.height]).toEqual([128, 128]);
  }, 420_000);
});
