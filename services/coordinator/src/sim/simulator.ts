/**
 * A discrete-event simulator of the farm: the production core (core/) under virtual time, with
 * simulated agents that join, ask for work, heartbeat and renew, run each shard for a given
 * duration, fail now and then, and get lost. Deterministic for a scenario and seed: the trace
 * digest (every grant and commit with its virtual time) is the same run after run.
 *
 * Simplifications, on purpose: writes always land (no store); a lost agent's parked request is
 * withdrawn at once; assembly takes no time.
 */
import TinyQueue from 'tinyqueue';
import type { AgentAdvert, LeaseRef } from '@tessera/protocol';
import { FarmCore, type CoreOptions } from '../core/core.js';
import { FarmState } from '../core/farm.js';
import type { FailureClass } from '../core/policy.js';
import { newJob, newShard, shardKey, type JobRecord, type ShardKind, type ShardRecord } from '../model.js';
import { simAdvert, SimShell, type SimIdle } from './sim-shell.js';

/** A simulated agent slot. */
export interface SimAgentSpec {
  name: string;
  classGb: number;
  /** When it joins (virtual ms). Default 0. */
  joinMs?: number;
  /** When it dies silently (virtual ms); never when absent. */
  loseMs?: number;
}

/** A job of the scenario. */
export interface SimJobSpec {
  id: string;
  shards: number;
  owner?: string;
  priority?: number;
  createdMs?: number;
  /** Required VRAM class of shard i. Default 8. */
  classOf?: (index: number) => number;
  /** Its shards form one chain (a chained video: batch i waits for batch i − 1). */
  chained?: boolean;
}

export interface SimScenario {
  seed: number;
  jobs: SimJobSpec[];
  agents: SimAgentSpec[];
  /** Virtual duration of one attempt of `shard` on `agent` (`rand` is the seeded generator). */
  durationMs: (shard: ShardRecord, agent: SimAgentSpec, rand: () => number) => number;
  /** Chance that an attempt fails with a retryable error. Default 0. */
  failureRate?: number;
  sweepEveryMs?: number;
  heartbeatMs?: number;
  retryBackoffMs?: number;
  blocklistAfter?: number;
  maxAttempts?: number;
  /** Keep the list of placements (shard key → agent name, in grant order). */
  recordPlacements?: boolean;
  /** Rank jobs with chains by remaining critical path (1 s per shard). Default true; false: age order. */
  chainRanks?: boolean;
}

export interface SimResult {
  /** FNV-1a over every grant and commit with its virtual time. */
  digest: string;
  /** Virtual time at which the last job finished. */
  makespanMs: number;
  /** Shards that went queued → … → done. */
  lifecycles: number;
  /** Leases granted (attempts). */
  attempts: number;
  jobsSucceeded: number;
  jobsFailed: number;
  placements: { key: string; agent: string }[];
}

/** A seeded 32-bit generator (mulberry32). */
export function seededRandom(seed: number): () => number {
  // The state is kept as a signed 32-bit value (`| 0`): the same bits as the usual `>>> 0`, but a
  // small integer to V8 rather than a heap number allocated at every draw.
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type SimEvent =
  | { at: number; seq: number; kind: 'join' | 'lose' | 'beat'; agent: AgentState }
  | { at: number; seq: number; kind: 'done'; agent: AgentState; key: string; token: number }
  | { at: number; seq: number; kind: 'tick' };

interface AgentState {
  spec: SimAgentSpec;
  advert: AgentAdvert;
  alive: boolean;
  /** The attempt it runs: the shard key, the fencing token, and the lease as the agent names it. */
  lease: { key: string; token: number; ref: LeaseRef } | undefined;
}

const KIND: ShardKind = 'upscale_tile';

/** Runs a scenario to its end. */
export function simulate(sc: SimScenario): SimResult {
  const rand = seededRandom(sc.seed);
  const options: CoreOptions = {
    leaseMs: 20_000,
    agentSilenceMs: 10_000,
    retentionMs: 0,
    timeouts: Object.fromEntries(
      (['upscale_tile', 'upscale_frames', 'svd_batch', 'sd_stage'] as const).map((k) => [
        k,
        { startMs: 30_000, runtimeMs: 3_600_000, stallMs: 600_000 },
      ]),
    ) as CoreOptions['timeouts'],
  };
  const farm = new FarmState(
    (a) => a.vramUsableGb,
    100_000,
    () => 1,
    sc.chainRanks === false ? () => 0 : () => 1,
  );
  const core = new FarmCore(farm, options);
  const events = new TinyQueue<SimEvent>([], (a, b) => a.at - b.at || a.seq - b.seq);
  let seq = 0;
  let waitSeq = 0;
  let now = 0;
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  const mix = (s: string) => {
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x85ebca6b) ^ (h2 >>> 13);
    }
  };
  const res: SimResult = {
    digest: '',
    makespanMs: 0,
    lifecycles: 0,
    attempts: 0,
    jobsSucceeded: 0,
    jobsFailed: 0,
    placements: [],
  };
  const agents = new Map<string, AgentState>();
  let unfinished = sc.jobs.length;
  type Unseq<E> = E extends SimEvent ? Omit<E, 'seq'> : never;
  const push = (e: Unseq<SimEvent>) => {
    (e as SimEvent).seq = ++seq;
    events.push(e as SimEvent);
  };
  const idleOf = (a: AgentState): SimIdle => ({
    agentId: a.advert.agentId,
    classGb: a.spec.classGb,
    name: a.spec.name,
    waitingSince: ++waitSeq,
  });
  const shell: SimShell<SimIdle> = new SimShell(
    core,
    {
      blocklistAfter: sc.blocklistAfter ?? 3,
      failure: {
        retryBackoffMs: sc.retryBackoffMs ?? 1000,
        retryBackoffMaxMs: 30_000,
        classesGb: [8, 12, 16, 24, 40, 80],
        classLabel: (gb) => `${gb}gb`,
      },
    },
    {
      granted(idle, s, token) {
        const a = agents.get(idle.agentId)!;
        const ref = { jobId: s.jobId, shardIndex: s.index, fencingToken: token };
        a.lease = { key: shardKey(s.jobId, s.index), token, ref };
        res.attempts++;
        mix(`g${now}|${a.lease.key}|${a.spec.name}|${s.attempt};`);
        if (sc.recordPlacements) res.placements.push({ key: a.lease.key, agent: a.spec.name });
        const at = now + Math.max(1, Math.round(sc.durationMs(s, a.spec, rand)));
        push({ at, kind: 'done', agent: a, key: a.lease.key, token: a.lease.token });
      },
      unparked: () => undefined,
      finished(job: JobRecord) {
        unfinished--;
        if (job.state === 'succeeded') res.jobsSucceeded++;
        else res.jobsFailed++;
        res.makespanMs = Math.max(res.makespanMs, now);
        mix(`f${now}|${job.id}|${job.state};`);
      },
    },
  );
  const ask = (a: AgentState) => {
    if (!a.alive || a.lease || !core.admits(a.advert.agentId)) return;
    farm.registry.seen(a.advert, now);
    shell.request(idleOf(a), now);
  };

  for (const j of sc.jobs) {
    const job = newJob({
      id: j.id,
      name: j.id,
      kind: j.chained ? 'video' : 'upscale',
      model: 'sim',
      seed: sc.seed,
      priority: j.priority ?? 0,
      maxAttempts: sc.maxAttempts ?? 10,
      createdMs: j.createdMs ?? 0,
      owner: j.owner ?? '',
      shardsTotal: j.shards,
    });
    const shards = Array.from({ length: j.shards }, (_, i) =>
      newShard({
        jobId: j.id,
        index: i,
        ...(j.chained ? { stage: 'video', kind: 'svd_batch', dependsOn: i - 1 } : { stage: 'upscale', kind: KIND }),
        requiredClassGb: j.classOf?.(i) ?? 8,
        seed: i,
      }),
    );
    shell.submit(job, shards, 0);
  }
  for (const spec of sc.agents) {
    const a: AgentState = {
      spec,
      alive: false,
      lease: undefined,
      advert: simAdvert(`${spec.name}-id`, spec.name, spec.classGb),
    };
    agents.set(a.advert.agentId, a);
    push({ at: spec.joinMs ?? 0, kind: 'join', agent: a });
    if (spec.loseMs !== undefined) push({ at: spec.loseMs, kind: 'lose', agent: a });
  }
  const sweepEveryMs = sc.sweepEveryMs ?? 250;
  const heartbeatMs = sc.heartbeatMs ?? 2000;
  push({ at: sweepEveryMs, kind: 'tick' });

  while (events.length > 0 && unfinished > 0) {
    const e = events.pop()!;
    now = e.at;
    switch (e.kind) {
      case 'join':
        e.agent.alive = true;
        ask(e.agent);
        push({ at: now + heartbeatMs, kind: 'beat', agent: e.agent });
        break;
      case 'lose':
        e.agent.alive = false;
        shell.idle = shell.idle.filter((i) => i.agentId !== e.agent.advert.agentId);
        break;
      case 'beat': {
        const a = e.agent;
        if (!a.alive) break;
        const leases = a.lease ? [a.lease.ref] : [];
        shell.perform(core.handle({ type: 'heartbeat', advert: a.advert, leases }, now), now);
        if (a.lease) core.handle({ type: 'renewal', ref: a.lease.ref, agentId: a.advert.agentId, progress: 0.5 }, now);
        push({ at: now + heartbeatMs, kind: 'beat', agent: a });
        break;
      }
      case 'done': {
        const a = e.agent;
        if (!a.alive || a.lease?.key !== e.key || a.lease.token !== e.token) break;
        a.lease = undefined;
        const fail = sc.failureRate ? rand() < sc.failureRate : false;
        const outcome = fail
          ? { ok: false as const, failure: 'error' as FailureClass, error: 'simulated failure' }
          : { ok: true as const };
        if (shell.report(e.key, e.token, a.advert.agentId, outcome, now) === 'accepted' && !fail) {
          res.lifecycles++;
          mix(`c${now}|${e.key};`);
        }
        ask(a);
        break;
      }
      case 'tick':
        shell.perform(core.handle({ type: 'tick' }, now), now);
        // An agent that was judged lost and came back asks again.
        if (shell.idle.length + leased(agents) < liveCount(agents)) {
          const parked = new Set(shell.idle.map((i) => i.agentId));
          for (const a of agents.values()) if (a.alive && !a.lease && !parked.has(a.advert.agentId)) ask(a);
        }
        push({ at: now + sweepEveryMs, kind: 'tick' });
        break;
    }
  }
  res.digest = (h1 >>> 0).toString(16).padStart(8, '0') + (h2 >>> 0).toString(16).padStart(8, '0');
  return res;
}

const leased = (agents: Map<string, AgentState>) => {
  let n = 0;
  for (const a of agents.values()) if (a.alive && a.lease) n++;
  return n;
};

const liveCount = (agents: Map<string, AgentState>) => {
  let n = 0;
  for (const a of agents.values()) if (a.alive) n++;
  return n;
};

/**
 * A scenario of `shards` shards in jobs of 100 for 4 owners, `agents` agent slots of mixed classes
 * (a tenth joining late, a twentieth lost midway), durations 0.5–1.5 s, 1 % failed attempts.
 */
export function randomScenario(o: { shards: number; seed: number; agents?: number }): SimScenario {
  const rand = seededRandom(o.seed ^ 0x5eed);
  const perJob = 100;
  const nAgents = o.agents ?? 200;
  const classes = [8, 8, 12, 16, 24];
  const jobs: SimJobSpec[] = [];
  for (let i = 0, left = o.shards; left > 0; i++, left -= perJob)
    jobs.push({
      id: `j${i.toString().padStart(6, '0')}`,
      shards: Math.min(perJob, left),
      owner: `user${i % 4}`,
      createdMs: i,
      classOf: i % 10 === 9 ? () => 16 : undefined,
    });
  const horizonMs = (o.shards / nAgents) * 1000;
  const agents: SimAgentSpec[] = Array.from({ length: nAgents }, (_, i) => ({
    name: `sim-${i}`,
    classGb: classes[i % classes.length],
    joinMs: i % 10 === 9 ? Math.round(rand() * horizonMs * 0.5) : 0,
    loseMs: i % 20 === 7 ? Math.round(horizonMs * (0.2 + rand() * 0.5)) : undefined,
  }));
  return {
    seed: o.seed,
    jobs,
    agents,
    durationMs: (_s, _a, r) => 500 + r() * 1000,
    failureRate: 0.01,
  };
}
