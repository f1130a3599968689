/**
 * A discrete-event simulation of the farm's dispatch under virtual time: jobs arrive at their submit
 * times, a shard is ready once its dependencies committed, and at every event the waiting agents are
 * matched to ready shards with the coordinator's own placement functions (`bestAgentFor`: VRAM fit,
 * smallest class; `shouldTake`: expected finish time; `upwardRanks`: HEFT order) and stragglers get
 * backups by `pickBackup`. The baseline policy `fifo` gives each ready shard, in arrival order, to any
 * waiting agent that fits. No clock, no randomness except the seeded run-time noise.
 */
import { bestAgentFor, type IdleAgent, type QueuedShard } from '../scheduler.js';
import { shouldTake, upwardRanks, type FleetAgent } from '../placement/eft.js';
import { estimateRemainingS } from '../placement/fleet-view.js';
import {
  pickBackup,
  SPECULATION_DEFAULTS,
  type RunningAttempt,
  type SpeculationOptions,
} from '../placement/speculate.js';
import { speedOf, type SimAgent, type SimJob, type SimShard } from './expand.js';

export interface SimOptions {
  /** `eft` (the coordinator's placement) or `fifo` (FIFO any-fit baseline). Default eft. */
  policy?: 'eft' | 'fifo';
  /** Speculative backups (eft only); false disables. Default SPECULATION_DEFAULTS. */
  speculation?: SpeculationOptions | false;
  /** Run-time noise: each attempt takes its expected time × exp(sigma × N(0,1)), seeded. Default none. */
  jitter?: { seed: number; sigma: number };
  /**
   * When true, placement does not know the speeds: it starts from 1.0 and learns each agent's speed
   * per model from the attempts it finishes (EWMA, like the agents' own meter). Default false: the
   * speeds of the fleet file are known (agents that have measured themselves).
   */
  learnSpeeds?: boolean;
}

/** One attempt of a shard on an agent. */
export interface SimAttempt {
  readonly job: string;
  readonly shard: number;
  readonly model: string;
  readonly agent: string;
  readonly startS: number;
  endS: number;
  readonly workS: number;
  readonly requiredGb: number;
  readonly dependsOn: readonly string[];
  readonly submitAtS: number;
  readonly backup: boolean;
  /** Stopped when the other attempt of its shard committed first. */
  cancelled: boolean;
  /** When the shard became ready (dependencies committed, job submitted). */
  readonly readyS: number;
  readonly agentClassGb: number;
}

export interface SimResult {
  makespanS: number;
  attempts: SimAttempt[];
  /** Job id → when its last shard committed. */
  jobDoneS: Map<string, number>;
  speculative: { won: number; lost: number };
}

interface Running {
  attempt: SimAttempt;
  agent: number;
  /** Full run time placement expected when it started. */
  expectedS: number;
  partner?: Running;
}

interface ShardState {
  s: SimShard;
  job: SimJob;
  rank: number;
  state: 'waiting' | 'ready' | 'running' | 'done';
  readyS: number;
  depsLeft: number;
  dependents: number[];
  runs: Running[];
}

const EPS = 1e-9;
const EWMA = 0.3;

/** Seeded normal deviates (mulberry32 + Box-Muller). */
function normals(seed: number): () => number {
  let a = seed >>> 0;
  const u = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/** Runs `jobs` on `agents`. Throws when a shard fits no agent (it would wait forever). */
export function simulate(agents: readonly SimAgent[], jobs: readonly SimJob[], o: SimOptions = {}): SimResult {
  const policy = o.policy ?? 'eft';
  const spec = policy === 'eft' && o.speculation !== false ? (o.speculation ?? SPECULATION_DEFAULTS) : null;
  const noise = o.jitter ? normals(o.jitter.seed) : null;
  const believed = agents.map(() => new Map<string, number>());
  const speedFor = (i: number, model: string) =>
    believed[i].get(model) ?? (o.learnSpeeds ? 1 : speedOf(agents[i], model));
  const states = new Map<string, ShardState[]>();
  for (const job of jobs) {
    const list = job.shards.map((s) => {
      if (!agents.some((a) => a.classGb >= s.requiredGb))
        throw new Error(`${job.id} shard ${s.index} (${s.model}) needs VRAM class ${s.requiredGb} GB; no agent has it`);
      return {
        s,
        job,
        rank: 0,
        state: 'waiting' as const,
        readyS: 0,
        depsLeft: s.dependsOn.length,
        dependents: [] as number[],
        runs: [] as Running[],
      } satisfies ShardState as ShardState;
    });
    for (const st of list) for (const d of st.s.dependsOn) list[d].dependents.push(st.s.index);
    const fastest = (s: SimShard) =>
      Math.max(...agents.filter((a) => a.classGb >= s.requiredGb).map((a) => speedOf(a, s.model)));
    const ranks = upwardRanks(
      list.map((st) => ({ workS: st.s.workS / fastest(st.s), dependents: st.dependents })),
      1,
    );
    list.forEach((st, k) => (st.rank = ranks[k]));
    states.set(job.id, list);
  }
  const jobOrder = new Map(jobs.map((j, k) => [j.id, k]));
  const running: (Running | null)[] = agents.map(() => null);
  const idleSince = agents.map(() => 0);
  const ready = new Set<ShardState>();
  const attempts: SimAttempt[] = [];
  const jobDoneS = new Map<string, number>();
  const doneCount = new Map<string, number>();
  const backupSpent = new Map<string, number>();
  const speculative = { won: 0, lost: 0 };
  const submissions = [...jobs].sort((a, b) => a.submitAtS - b.submitAtS);
  let nextSubmission = 0;
  let seq = 0;

  const start = (st: ShardState, i: number, t: number, backup: boolean): Running => {
    const a = agents[i];
    const trueS = (st.s.workS / speedOf(a, st.s.model)) * (noise ? Math.exp(o.jitter!.sigma * noise()) : 1);
    const attempt: SimAttempt = {
      job: st.job.id,
      shard: st.s.index,
      model: st.s.model,
      agent: a.name,
      startS: t,
      endS: t + trueS,
      workS: st.s.workS,
      requiredGb: st.s.requiredGb,
      dependsOn: st.s.dependsOn.map((d) => `${st.job.id}/${d}`),
      submitAtS: st.job.submitAtS,
      backup,
      cancelled: false,
      readyS: st.readyS,
      agentClassGb: a.classGb,
    };
    attempts.push(attempt);
    const r: Running = { attempt, agent: i, expectedS: st.s.workS / speedFor(i, st.s.model) };
    running[i] = r;
    st.runs.push(r);
    st.state = 'running';
    ready.delete(st);
    return r;
  };

  const makeReady = (st: ShardState, t: number) => {
    st.state = 'ready';
    st.readyS = t;
    ready.add(st);
  };

  const finish = (r: Running, t: number) => {
    const list = states.get(r.attempt.job)!;
    const st = list[r.attempt.shard];
    running[r.agent] = null;
    idleSince[r.agent] = ++seq;
    if (o.learnSpeeds) {
      const sample = r.attempt.workS / Math.max(EPS, r.attempt.endS - r.attempt.startS);
      const cur = believed[r.agent].get(r.attempt.model);
      believed[r.agent].set(r.attempt.model, cur === undefined ? sample : cur + EWMA * (sample - cur));
    }
    if (st.state === 'done') return;
    st.state = 'done';
    if (r.partner && !r.partner.attempt.cancelled) {
      const p = r.partner;
      p.attempt.cancelled = true;
      p.attempt.endS = t;
      running[p.agent] = null;
      idleSince[p.agent] = ++seq;
      if (r.attempt.backup) speculative.won++;
      else speculative.lost++;
    }
    const n = (doneCount.get(st.job.id) ?? 0) + 1;
    doneCount.set(st.job.id, n);
    if (n === list.length) jobDoneS.set(st.job.id, t);
    for (const d of st.dependents) if (--list[d].depsLeft === 0) makeReady(list[d], t);
  };

  // Agents report progress (engine steps) as they run; placement reads it as LATE does.
  const left = (r: Running, t: number): number => {
    const elapsed = t - r.attempt.startS;
    const total = r.attempt.endS - r.attempt.startS;
    return estimateRemainingS(r.expectedS, elapsed, total > 0 ? Math.min(1, elapsed / total) : 1);
  };

  const dispatch = (t: number) => {
    const order = [...ready].sort((a, b) =>
      policy === 'eft'
        ? b.rank - a.rank ||
          a.job.submitAtS - b.job.submitAtS ||
          jobOrder.get(a.job.id)! - jobOrder.get(b.job.id)! ||
          a.s.index - b.s.index
        : a.readyS - b.readyS || jobOrder.get(a.job.id)! - jobOrder.get(b.job.id)! || a.s.index - b.s.index,
    );
    // Work earlier in the order still unassigned: what faster agents would take before this shard.
    let aheadWorkS = 0;
    for (const st of order) {
      const idle = agents.map((_, i) => i).filter((i) => running[i] === null && agents[i].classGb >= st.s.requiredGb);
      if (idle.length === 0) {
        aheadWorkS += st.s.workS;
        continue;
      }
      let chosen: number;
      if (policy === 'fifo') chosen = idle[0];
      else {
        const fleet: FleetAgent[] = [];
        agents.forEach((a, i) => {
          if (a.classGb < st.s.requiredGb) return;
          const r = running[i];
          const freeInS = r ? left(r, t) : 0;
          fleet.push({ agentId: a.name, speed: speedFor(i, st.s.model), freeInS });
        });
        const narrowed = idle.filter((i) =>
          shouldTake(st.s.workS, { agentId: agents[i].name, speed: speedFor(i, st.s.model) }, fleet, aheadWorkS),
        );
        const shard: QueuedShard = {
          key: `${st.job.id}/${st.s.index}`,
          jobId: st.job.id,
          index: st.s.index,
          requiredClassGb: st.s.requiredGb,
          priority: 0,
          jobCreatedMs: st.job.submitAtS * 1000,
          failedOn: [],
          model: st.s.model,
        };
        const idleAgents: (IdleAgent & { i: number })[] = narrowed.map((i) => ({
          agentId: agents[i].name,
          classGb: agents[i].classGb,
          waitingSince: idleSince[i],
          i,
        }));
        const best = bestAgentFor(shard, idleAgents);
        if (!best) {
          aheadWorkS += st.s.workS;
          continue;
        }
        chosen = best.i;
      }
      start(st, chosen, t, false);
    }
    if (!spec) return;
    for (let i = 0; i < agents.length; i++) {
      if (running[i] !== null) continue;
      const cands: (RunningAttempt & { r: Running })[] = [];
      for (const r of running) {
        if (!r || r.attempt.backup) continue;
        const st = states.get(r.attempt.job)![r.attempt.shard];
        cands.push({
          key: `${r.attempt.job}/${r.attempt.shard}`,
          jobId: r.attempt.job,
          workS: r.attempt.workS,
          remainingS: left(r, t),
          hasBackup: st.runs.length > 1,
          fits: agents[i].classGb >= r.attempt.requiredGb,
          idleSpeed: speedFor(i, r.attempt.model),
          r,
        });
      }
      const pick = pickBackup(cands, (jobId) => ({ gpuS: jobGpuS(jobId), backupS: backupSpent.get(jobId) ?? 0 }), spec);
      if (!pick) continue;
      const st = states.get(pick.jobId)![pick.r.attempt.shard];
      const b = start(st, i, t, true);
      b.partner = pick.r;
      pick.r.partner = b;
      backupSpent.set(pick.jobId, (backupSpent.get(pick.jobId) ?? 0) + b.expectedS);
    }
  };

  const jobGpuS = (jobId: string): number => {
    let s = 0;
    for (const st of states.get(jobId)!) {
      let speeds = 0;
      let n = 0;
      agents.forEach((a, i) => {
        if (a.classGb < st.s.requiredGb) return;
        speeds += speedFor(i, st.s.model);
        n++;
      });
      s += st.s.workS / (speeds / n);
    }
    return s;
  };

  for (;;) {
    let t = nextSubmission < submissions.length ? submissions[nextSubmission].submitAtS : Infinity;
    for (const r of running) if (r && r.attempt.endS < t) t = r.attempt.endS;
    if (t === Infinity) break;
    const ending = running.filter((r): r is Running => r !== null && r.attempt.endS <= t + EPS);
    ending.sort((a, b) => a.attempt.endS - b.attempt.endS || a.agent - b.agent);
    for (const r of ending) if (running[r.agent] === r) finish(r, r.attempt.endS);
    while (nextSubmission < submissions.length && submissions[nextSubmission].submitAtS <= t + EPS) {
      for (const st of states.get(submissions[nextSubmission].id)!) if (st.depsLeft === 0) makeReady(st, t);
      nextSubmission++;
    }
    dispatch(t);
  }
  const makespanS = Math.max(0, ...jobDoneS.values());
  return { makespanS, attempts, jobDoneS, speculative };
}
