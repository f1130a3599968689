/**
 * The baseline `tessera plan` compares the farm with (core-run.ts runs the farm itself): FIFO any-fit,
 * blind to speed. A discrete-event simulation under virtual time: jobs arrive at their submit times,
 * a shard is ready once its dependency committed, and whenever agents are free each ready shard, in
 * the order it became ready, goes to the first free agent that fits. No backups. No clock, no
 * randomness except the seeded run-time noise.
 */
import type { SpeculationOptions } from '../placement/speculate.js';
import { speedOf, type SimAgent, type SimJob, type SimShard } from './expand.js';

/** How `tessera plan` runs the farm (core-run.ts); the FIFO baseline reads only `jitter`. */
export interface SimOptions {
  /** Speculative backups; false disables. Default SPECULATION_DEFAULTS. */
  speculation?: SpeculationOptions | false;
  /** Run-time noise: each attempt takes its expected time × exp(sigma × N(0,1)), seeded. Default none. */
  jitter?: { seed: number; sigma: number };
  /**
   * When true, placement does not know the speeds: agents advertise none until they have run the
   * model, then what their meter learned from the attempts they finished (EWMA, like the real
   * agents' meter). Default false: the speeds of the fleet file are known (agents that have
   * measured themselves).
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

const EPS = 1e-9;

/** Seeded normal deviates (mulberry32 + Box-Muller). */
export function normals(seed: number): () => number {
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

interface ShardState {
  s: SimShard;
  job: SimJob;
  readyS: number;
  depsLeft: number;
  dependents: number[];
  done: boolean;
}

/** Runs `jobs` on `agents` FIFO any-fit. Throws when a shard fits no agent (it would wait forever). */
export function simulateFifo(
  agents: readonly SimAgent[],
  jobs: readonly SimJob[],
  o: Pick<SimOptions, 'jitter'> = {},
): SimResult {
  const noise = o.jitter ? normals(o.jitter.seed) : null;
  const states = new Map<string, ShardState[]>();
  for (const job of jobs) {
    const list = job.shards.map((s): ShardState => {
      if (!agents.some((a) => a.classGb >= s.requiredGb))
        throw new Error(`${job.id} shard ${s.index} (${s.model}) needs VRAM class ${s.requiredGb} GB; no agent has it`);
      return { s, job, readyS: 0, depsLeft: s.dependsOn.length, dependents: [], done: false };
    });
    for (const st of list) for (const d of st.s.dependsOn) list[d].dependents.push(st.s.index);
    states.set(job.id, list);
  }
  const jobOrder = new Map(jobs.map((j, k) => [j.id, k]));
  const running: (SimAttempt | null)[] = agents.map(() => null);
  let ready: ShardState[] = [];
  const attempts: SimAttempt[] = [];
  const jobDoneS = new Map<string, number>();
  const doneCount = new Map<string, number>();
  const submissions = [...jobs].sort((a, b) => a.submitAtS - b.submitAtS);
  let nextSubmission = 0;

  const makeReady = (st: ShardState, t: number) => {
    st.readyS = t;
    ready.push(st);
  };
  const finish = (i: number, t: number) => {
    const a = running[i]!;
    running[i] = null;
    const list = states.get(a.job)!;
    const st = list[a.shard];
    st.done = true;
    const n = (doneCount.get(a.job) ?? 0) + 1;
    doneCount.set(a.job, n);
    if (n === list.length) jobDoneS.set(a.job, t);
    for (const d of st.dependents) if (--list[d].depsLeft === 0) makeReady(list[d], t);
  };
  const dispatch = (t: number) => {
    ready.sort(
      (a, b) => a.readyS - b.readyS || jobOrder.get(a.job.id)! - jobOrder.get(b.job.id)! || a.s.index - b.s.index,
    );
    const left: ShardState[] = [];
    for (const st of ready) {
      const i = agents.findIndex((a, k) => running[k] === null && a.classGb >= st.s.requiredGb);
      if (i < 0) {
        left.push(st);
        continue;
      }
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
        backup: false,
        cancelled: false,
        readyS: st.readyS,
        agentClassGb: a.classGb,
      };
      attempts.push(attempt);
      running[i] = attempt;
    }
    ready = left;
  };

  for (;;) {
    let t = nextSubmission < submissions.length ? submissions[nextSubmission].submitAtS : Infinity;
    for (const r of running) if (r && r.endS < t) t = r.endS;
    if (t === Infinity) break;
    const ending = running
      .map((r, i) => [r, i] as const)
      .filter(([r]) => r !== null && r.endS <= t + EPS)
      .sort(([a, i], [b, k]) => a!.endS - b!.endS || i - k);
    for (const [r, i] of ending) finish(i, r!.endS);
    while (nextSubmission < submissions.length && submissions[nextSubmission].submitAtS <= t + EPS) {
      for (const st of states.get(submissions[nextSubmission].id)!) if (st.depsLeft === 0) makeReady(st, t);
      nextSubmission++;
    }
    dispatch(t);
  }
  return { makespanS: Math.max(0, ...jobDoneS.values()), attempts, jobDoneS, speculative: { won: 0, lost: 0 } };
}
