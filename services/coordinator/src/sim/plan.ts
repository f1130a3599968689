/**
 * `tessera plan`: runs the farm core (core/, the coordinator's own rules) in the simulator on a
 * described fleet and workload (core-run.ts) and answers the capacity questions (makespan, lower bound, the FIFO any-fit baseline,
 * utilisation and queue time per class, the makespan with one more agent of each kind). The JSON
 * is a contract (docs/plan.md). Pure: text in, report out.
 */
import { classLabel, type HardwareTable } from '@tessera/hardware';
import { expandFleet, expandWorkload, speedOf, type SimAgent, type SimJob } from './expand.js';
import { parseFleet, parseWorkload, type FleetEntry } from './scenario.js';
import { simulateOnCore } from './core-run.js';
import { simulateFifo, type SimOptions, type SimResult } from './simulate.js';

/** One attempt in the plan's schedule (JSON names are the contract). */
export interface PlanAttempt {
  job: string;
  shard: number;
  model: string;
  agent: string;
  start_s: number;
  end_s: number;
  work_s: number;
  required_gb: number;
  depends_on: string[];
  submit_at_s: number;
  backup: boolean;
  /** Present (true) on an attempt stopped because the other attempt of its shard committed first. */
  cancelled?: boolean;
}

export interface PlanReport {
  makespan_s: number;
  lower_bound_s: number;
  fifo_makespan_s: number;
  agents: { name: string; vram_gb: number; speed: FleetEntry['speed'] }[];
  classes: { vram_class: string; agents: number; utilisation: number; mean_queue_s: number; max_queue_s: number }[];
  schedule: PlanAttempt[];
  marginal: { add: string; add_vram_gb: number; speed: FleetEntry['speed']; makespan_s: number }[];
  speculative_attempts: { won: number; lost: number };
  /** Whether speculative backups were simulated. */
  speculation: boolean;
  /** Per owner of the workload ('' the anonymous one): jobs and their completion (done − submit). */
  owners: { owner: string; jobs: number; mean_completion_s: number; max_completion_s: number }[];
}

/** Numbers go out at full precision: the checker recomputes end − start = work_s / speed from them. */
const round = (x: number) => x;

/**
 * The lower bound on any schedule's makespan: the larger of (a) for each VRAM threshold, the work
 * of the shards needing at least it over the summed speed of the agents that have it (each agent at
 * its best speed among those shards' models), and (b) each job's submit time plus its longest
 * dependency chain, each shard on its fastest fitting agent.
 */
export function lowerBound(agents: readonly SimAgent[], jobs: readonly SimJob[]): number {
  const shards = jobs.flatMap((j) => j.shards);
  let lb = 0;
  for (const threshold of new Set(shards.map((s) => s.requiredGb))) {
    const need = shards.filter((s) => s.requiredGb >= threshold);
    const models = [...new Set(need.map((s) => s.model))];
    const capacity = agents
      .filter((a) => a.classGb >= threshold)
      .reduce((sum, a) => sum + Math.max(...models.map((m) => speedOf(a, m))), 0);
    lb = Math.max(lb, need.reduce((w, s) => w + s.workS, 0) / capacity);
  }
  for (const job of jobs) {
    const finish = new Array<number>(job.shards.length).fill(0);
    for (const s of job.shards) {
      const fastest = Math.max(...agents.filter((a) => a.classGb >= s.requiredGb).map((a) => speedOf(a, s.model)));
      const start = Math.max(0, ...s.dependsOn.map((d) => finish[d]));
      finish[s.index] = start + s.workS / fastest;
      lb = Math.max(lb, job.submitAtS + finish[s.index]);
    }
  }
  return lb;
}

/** Plans from parsed inputs (what the file-reading entry point and the tests share). */
export function planFleet(
  table: HardwareTable,
  fleet: readonly FleetEntry[],
  workloadOf: (agents: readonly SimAgent[]) => SimJob[],
  options: SimOptions = {},
): PlanReport {
  const agents = expandFleet(table, fleet);
  const jobs = workloadOf(agents);
  const eft = simulateOnCore(table, agents, jobs, options);
  const fifo = simulateFifo(agents, jobs, options);
  const marginal = fleet.map((e) => {
    const more = expandFleet(table, [...fleet.map((f) => (f === e ? { ...f, count: f.count + 1 } : f))]);
    return {
      add: e.name,
      add_vram_gb: e.vramGb,
      speed: e.speed,
      makespan_s: round(simulateOnCore(table, more, workloadOf(more), options).makespanS),
    };
  });
  return {
    makespan_s: round(eft.makespanS),
    lower_bound_s: round(lowerBound(agents, jobs)),
    fifo_makespan_s: round(fifo.makespanS),
    agents: agents.map((a) => ({ name: a.name, vram_gb: a.vramGb, speed: a.speedSpec })),
    classes: classStats(agents, eft),
    schedule: eft.attempts.map((a) => ({
      job: a.job,
      shard: a.shard,
      model: a.model,
      agent: a.agent,
      start_s: round(a.startS),
      end_s: round(a.endS),
      work_s: round(a.workS),
      required_gb: a.requiredGb,
      depends_on: [...a.dependsOn],
      submit_at_s: a.submitAtS,
      backup: a.backup,
      ...(a.cancelled ? { cancelled: true } : {}),
    })),
    marginal,
    speculative_attempts: { ...eft.speculative },
    speculation: options.speculation !== false,
    owners: ownerStats(jobs, eft),
  };
}

function ownerStats(jobs: readonly SimJob[], r: SimResult): PlanReport['owners'] {
  const byOwner = new Map<string, number[]>();
  for (const j of jobs) {
    const done = r.jobDoneS.get(j.id);
    if (done === undefined) continue;
    const list = byOwner.get(j.owner ?? '') ?? [];
    list.push(done - j.submitAtS);
    byOwner.set(j.owner ?? '', list);
  }
  return [...byOwner]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([owner, c]) => ({
      owner,
      jobs: c.length,
      mean_completion_s: round(c.reduce((s, x) => s + x, 0) / c.length),
      max_completion_s: round(Math.max(...c)),
    }));
}

/** `tessera plan` from the two files' text. Throws PlanInputError naming a bad key or model. */
export function planFromFiles(
  table: HardwareTable,
  fleet: { text: string; file: string },
  workload: { text: string; file: string },
  options: SimOptions = {},
): PlanReport {
  const f = parseFleet(fleet.text, fleet.file, table);
  const w = parseWorkload(workload.text, workload.file, table);
  return planFleet(table, f, (agents) => expandWorkload(table, w, agents, workload.file), options);
}

function classStats(agents: readonly SimAgent[], r: SimResult): PlanReport['classes'] {
  const classes = [...new Set(agents.map((a) => a.classGb))].sort((a, b) => a - b);
  return classes.map((c) => {
    const names = new Set(agents.filter((a) => a.classGb === c).map((a) => a.name));
    const mine = r.attempts.filter((a) => names.has(a.agent));
    const busy = mine.reduce((s, a) => s + (a.endS - a.startS), 0);
    const waits = mine.filter((a) => !a.backup).map((a) => a.startS - a.readyS);
    return {
      vram_class: classLabel(c),
      agents: names.size,
      utilisation: round(r.makespanS > 0 ? busy / (names.size * r.makespanS) : 0),
      mean_queue_s: round(waits.length ? waits.reduce((s, w) => s + w, 0) / waits.length : 0),
      max_queue_s: round(Math.max(0, ...waits)),
    };
  });
}

/** The readable form of a report (what `tessera plan` prints without --json). */
export function formatPlan(p: PlanReport): string {
  const s = (x: number) => `${x.toFixed(1)} s`;
  const speed = (v: FleetEntry['speed']) => (typeof v === 'number' ? String(v) : JSON.stringify(v));
  const lines = [
    `makespan      ${s(p.makespan_s)}   (${(p.makespan_s / p.lower_bound_s).toFixed(3)} × the lower bound ${s(p.lower_bound_s)})`,
    `FIFO any-fit  ${s(p.fifo_makespan_s)}   (${(p.fifo_makespan_s / p.makespan_s).toFixed(2)} × the makespan)`,
    `attempts      ${p.schedule.length} (speculative backups: ${p.speculative_attempts.won} won, ${p.speculative_attempts.lost} lost)`,
    '',
    'class   agents  utilisation  queue mean  queue max',
    ...p.classes.map(
      (c) =>
        `${c.vram_class.padEnd(7)} ${String(c.agents).padStart(6)}  ${`${(c.utilisation * 100).toFixed(1)} %`.padStart(11)}  ${s(c.mean_queue_s).padStart(10)}  ${s(c.max_queue_s).padStart(9)}`,
    ),
    '',
    'owner         jobs  completion mean  completion max',
    ...p.owners.map(
      (o) =>
        `${(o.owner || '(anonymous)').padEnd(12)} ${String(o.jobs).padStart(5)}  ${s(o.mean_completion_s).padStart(15)}  ${s(o.max_completion_s).padStart(14)}`,
    ),
    '',
    'one more agent            makespan',
    ...p.marginal.map(
      (m) =>
        `+ ${`${m.add} (${m.add_vram_gb} GB, speed ${speed(m.speed)})`.padEnd(24)} ${s(m.makespan_s)}  (${(((m.makespan_s - p.makespan_s) / p.makespan_s) * 100).toFixed(1)} %)`,
    ),
  ];
  return lines.join('\n') + '\n';
}
