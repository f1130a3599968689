/**
 * `tessera plan`'s engine: the production farm core (core/: the queue index with fair share and chain
 * ranks, the VRAM-fit and affinity rules, placement by expected finish time, speculative backups,
 * fencing) driven under virtual time through the simulator's shell (sim-shell.ts). Jobs arrive at
 * their submit times, agents ask for work whenever they are free, report engine progress with their
 * renewals and run each attempt for its work ÷ their speed on the model (× seeded noise when asked);
 * the first attempt of a shard to commit wins and the other stops then.
 *
 * The same inputs and result as `simulate` (simulate.ts), which remains the FIFO any-fit baseline.
 * No failures, no lost agents: a plan answers capacity questions, the chaos suites cover the rest.
 */
import type { HardwareTable } from '@tessera/hardware';
import type { AgentAdvert, ModelSpeed } from '@tessera/protocol';
import TinyQueue from 'tinyqueue';
import { FarmCore, type CoreOptions } from '../core/core.js';
import { FarmState, type Narrow } from '../core/farm.js';
import { newJob, newShard, shardKey, type ShardKind } from '../model.js';
import { speculationView } from '../placement/backups.js';
import { coordinatorEftNarrow, type WorkOf } from '../placement/fleet-view.js';
import { SPECULATION_DEFAULTS } from '../placement/speculate.js';
import { speedOf, type SimAgent, type SimJob, type SimShard } from './expand.js';
import { simAdvert, SimShell, type SimIdle } from './sim-shell.js';
import { normals, type SimAttempt, type SimOptions, type SimResult } from './simulate.js';

/** Virtual ms the core sees per simulated second. */
const MS = 1000;
/** Longer than any plan: leases, silence and timeouts never fire (no agent is lost here). */
const FOREVER_MS = 1e12;
/** The sweeper's period: renewals carry progress, and parked agents are matched again. */
const SWEEP_S = 0.25;
/** How fast an agent's own meter follows its measurements (learnSpeeds). */
const EWMA = 0.3;
const KINDS: ShardKind[] = ['upscale_tile', 'upscale_frames', 'svd_batch', 'sd_stage'];

interface Agent {
  sim: SimAgent;
  advert: AgentAdvert;
  /** Its meter: units per second per model, as it advertises them. */
  speeds: Map<string, ModelSpeed>;
  running?: { key: string; token: number; attempt: SimAttempt };
}

/** A parked agent as dispatch sees it: with its advert (its speeds), as the coordinator's parked requests. */
type PlanIdle = SimIdle & { advert: AgentAdvert };

type Event =
  | { at: number; seq: number; kind: 'submit'; job: SimJob }
  | { at: number; seq: number; kind: 'done'; agent: Agent; token: number }
  | { at: number; seq: number; kind: 'tick' };

/** Runs `jobs` on `agents` with the farm core. Throws when a shard fits no agent (it would wait forever). */
export function simulateOnCore(
  table: HardwareTable,
  agents: readonly SimAgent[],
  jobs: readonly SimJob[],
  o: SimOptions = {},
): SimResult {
  const shards = new Map<string, { job: SimJob; s: SimShard }>();
  for (const job of jobs)
    for (const s of job.shards) {
      if (!agents.some((a) => a.classGb >= s.requiredGb))
        throw new Error(`${job.id} shard ${s.index} (${s.model}) needs VRAM class ${s.requiredGb} GB; no agent has it`);
      if (s.dependsOn.length > 1) throw new Error(`${job.id} shard ${s.index}: the farm runs one dependency per shard`);
      shards.set(shardKey(job.id, s.index), { job, s });
    }
  const spu = (model: string) => table.models.get(model)?.secondsPerUnit ?? 1;
  const work: WorkOf = (job, rec) => {
    const s = shards.get(shardKey(job.id, rec.index))?.s;
    return { model: s?.model ?? job.model, workS: s?.workS ?? 0 };
  };
  const spec = o.speculation === false ? undefined : (o.speculation ?? SPECULATION_DEFAULTS);
  const options: CoreOptions = {
    leaseMs: FOREVER_MS,
    agentSilenceMs: FOREVER_MS,
    retentionMs: 0,
    timeouts: Object.fromEntries(
      KINDS.map((k) => [k, { startMs: FOREVER_MS, runtimeMs: FOREVER_MS, stallMs: FOREVER_MS }]),
    ) as CoreOptions['timeouts'],
    speculation: spec ? { ...spec } : undefined,
  };
  const farm = new FarmState(
    (a) => a.vramUsableGb,
    agents.length + 1,
    () => 1,
    (job, rec) => work(job, rec).workS,
  );
  const placement = (nowMs: number): Narrow =>
    coordinatorEftNarrow(table, farm.registry.all(), (k) => farm.shardAndJob(k), nowMs, work) as unknown as Narrow;
  const src = {
    agent: (id: string) => farm.registry.get(id),
    agents: () => farm.registry.all(),
    progressOf: (k: string, token: number) => farm.progressOf(k, token),
    jobShards: (jobId: string) => farm.jobShards(jobId),
  };
  const core = new FarmCore(
    farm,
    options,
    placement,
    spec ? (nowMs) => speculationView(table, src, nowMs, work) : undefined,
  );

  const noise = o.jitter ? normals(o.jitter.seed) : null;
  const events = new TinyQueue<Event>([], (a, b) => a.at - b.at || a.seq - b.seq);
  let seq = 0;
  let waitSeq = 0;
  let t = 0;
  type Unseq<E> = E extends Event ? Omit<E, 'seq'> : never;
  const push = (e: Unseq<Event>) => events.push({ ...e, seq: ++seq } as Event);
  const byId = new Map<string, Agent>();
  const attempts: SimAttempt[] = [];
  const committedS = new Map<string, number>();
  const jobDoneS = new Map<string, number>();
  const speculative = { won: 0, lost: 0 };
  let unfinished = jobs.length;

  const stop = (a: Agent, cancelled: boolean) => {
    const r = a.running!;
    if (cancelled) {
      r.attempt.cancelled = true;
      r.attempt.endS = t;
    }
    a.running = undefined;
  };
  const shell = new SimShell<PlanIdle>(
    core,
    {
      blocklistAfter: 3,
      failure: { retryBackoffMs: 1000, retryBackoffMaxMs: 30_000, classesGb: table.classesGb, classLabel: String },
    },
    {
      granted(idle, rec, token, backup) {
        const a = byId.get(idle.agentId)!;
        const key = shardKey(rec.jobId, rec.index);
        const { job, s } = shards.get(key)!;
        const trueS = (s.workS / speedOf(a.sim, s.model)) * (noise ? Math.exp(o.jitter!.sigma * noise()) : 1);
        const attempt: SimAttempt = {
          job: job.id,
          shard: s.index,
          model: s.model,
          agent: a.sim.name,
          startS: t,
          endS: t + trueS,
          workS: s.workS,
          requiredGb: s.requiredGb,
          dependsOn: s.dependsOn.map((d) => `${job.id}/${d}`),
          submitAtS: job.submitAtS,
          backup,
          cancelled: false,
          readyS: Math.max(job.submitAtS, ...s.dependsOn.map((d) => committedS.get(shardKey(job.id, d)) ?? 0)),
          agentClassGb: a.sim.classGb,
        };
        attempts.push(attempt);
        a.running = { key, token, attempt };
        push({ at: attempt.endS, kind: 'done', agent: a, token });
      },
      cancelled(agentId, token) {
        const a = byId.get(agentId);
        if (a?.running?.token !== token) return;
        stop(a, true);
        ask(a);
      },
      unparked: () => undefined,
      finished(job) {
        unfinished--;
        jobDoneS.set(job.id, t);
      },
    },
  );
  const ask = (a: Agent) => {
    a.advert.modelSpeeds = [...a.speeds.values()];
    farm.registry.seen(a.advert, t * MS);
    const idle = { agentId: a.advert.agentId, classGb: a.sim.classGb, name: a.sim.name, waitingSince: ++waitSeq };
    shell.request({ ...idle, advert: a.advert }, t * MS);
  };

  const models = [...new Set(jobs.flatMap((j) => j.shards.map((s) => s.model)))];
  for (const sim of agents) {
    const speeds = new Map<string, ModelSpeed>();
    // Known speeds: agents that have measured every model of the workload (learnSpeeds: none yet).
    if (!o.learnSpeeds)
      for (const m of models) speeds.set(m, { model: m, unitsPerSecond: speedOf(sim, m) / spu(m), samples: 1 });
    const advert = simAdvert(sim.name, sim.name, sim.classGb, sim.vramGb);
    byId.set(sim.name, { sim, advert, speeds });
  }
  for (const job of jobs) push({ at: job.submitAtS, kind: 'submit', job });
  push({ at: 0, kind: 'tick' });
  for (const a of byId.values()) ask(a);

  while (events.length > 0 && unfinished > 0) {
    const e = events.pop()!;
    t = e.at;
    const nowMs = t * MS;
    switch (e.kind) {
      case 'submit': {
        const j = e.job;
        const chained = j.shards.some((s) => s.dependsOn.length > 0);
        const job = newJob({
          id: j.id,
          name: j.id,
          kind: chained ? 'image' : 'upscale',
          model: j.shards[0]?.model ?? '',
          seed: 0,
          priority: j.priority ?? 0,
          owner: j.owner ?? '',
          maxAttempts: 10,
          createdMs: nowMs,
          shardsTotal: j.shards.length,
        });
        const recs = j.shards.map((s) =>
          newShard({
            jobId: j.id,
            index: s.index,
            stage: chained ? 'base' : 'upscale',
            kind: chained ? 'sd_stage' : 'upscale_tile',
            requiredClassGb: s.requiredGb,
            seed: s.index,
            dependsOn: s.dependsOn[0] ?? -1,
          }),
        );
        shell.submit(job, recs, nowMs);
        shell.pump(nowMs);
        break;
      }
      case 'done': {
        const a = e.agent;
        const r = a.running;
        if (r?.token !== e.token) break;
        const ranS = t - r.attempt.startS;
        if (o.learnSpeeds) {
          const sample = r.attempt.workS / Math.max(1e-9, ranS) / spu(r.attempt.model);
          const cur = a.speeds.get(r.attempt.model);
          const ups = cur ? cur.unitsPerSecond + EWMA * (sample - cur.unitsPerSecond) : sample;
          a.speeds.set(r.attempt.model, {
            model: r.attempt.model,
            unitsPerSecond: ups,
            samples: (cur?.samples ?? 0) + 1,
          });
        }
        stop(a, false);
        const rec = farm.shard(r.key);
        const raced = rec?.backup !== undefined;
        const verdict = shell.report(r.key, r.token, a.advert.agentId, { ok: true, runSeconds: ranS }, nowMs);
        if (verdict === 'accepted') {
          committedS.set(r.key, t);
          if (raced) speculative[r.attempt.backup ? 'won' : 'lost']++;
        }
        ask(a);
        break;
      }
      case 'tick':
        // Running attempts report their engine progress (what LATE's estimate reads).
        for (const a of byId.values()) {
          const r = a.running;
          if (!r) continue;
          const span = r.attempt.endS - r.attempt.startS;
          const progress = span > 0 ? Math.min(1, (t - r.attempt.startS) / span) : 1;
          const ref = { jobId: r.attempt.job, shardIndex: r.attempt.shard, fencingToken: r.token };
          core.handle({ type: 'renewal', ref, agentId: a.advert.agentId, progress }, nowMs);
        }
        shell.perform(core.handle({ type: 'tick' }, nowMs), nowMs);
        push({ at: t + SWEEP_S, kind: 'tick' });
        break;
    }
  }
  if (unfinished > 0) throw new Error(`plan: ${unfinished} job(s) never finished (no agent could take their shards)`);
  return { makespanS: Math.max(0, ...jobDoneS.values()), attempts, jobDoneS, speculative };
}
