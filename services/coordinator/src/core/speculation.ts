/**
 * Speculative backups in the farm core (LATE, OSDI '08): an agent a dispatch pass left without a
 * queued shard may get a backup of a straggler — a leased shard whose expected time to finish on its
 * agent exceeds the idle agent's expected time to run it whole by the margin — within the job's
 * budget (`pickBackup`'s rule). The estimates come from the shell (cost model, speeds, progress):
 * the core only chooses. One backup per shard; the idle agent must fit the shard's class, not be
 * blocklisted for its job, not have failed it, be able to hold its model, and not run its primary.
 */
import { FINAL_JOB_STATES, type JobRecord, type ShardRecord } from '../model.js';
import { pickBackup, type RunningAttempt, type SpeculationOptions } from '../placement/speculate.js';
import { agentName, fits, type IdleAgent } from '../scheduler.js';
import type { FarmState } from './farm.js';

/** What the rule needs to know of a running attempt. */
export interface RunningEstimate {
  /** The model whose speeds apply. */
  model: string;
  /** Reference seconds of the shard (speed 1.0). */
  workS: number;
  /** Expected seconds until the running attempt finishes on its agent. */
  remainingS: number;
}

/**
 * hook(speed): the estimates of one dispatch pass (placement/backups.ts builds them from the cost
 * model and the fleet's speeds). `idleSpeed` answers undefined when it is only a guess (an agent that
 * has not measured the model gets no backup: the rule would compare with a table default).
 */
export interface SpeculationView {
  running(key: string, rec: ShardRecord, job: JobRecord): RunningEstimate;
  /** The agent's measured speed on the model (> 0), or undefined. */
  idleSpeed(agent: IdleAgent, model: string): number | undefined;
  /** GPU-seconds of the job: what its backup budget is a fraction of. */
  jobGpuS(job: JobRecord): number;
}

/** A backup a dispatch pass chose: shard `key` runs again on `agent`, expected to take `seconds`. */
export interface BackupChoice<A extends IdleAgent> {
  key: string;
  jobId: string;
  agent: A;
  seconds: number;
}

type Candidate = RunningAttempt & { job: JobRecord };

/**
 * Chooses backups for the idle agents a dispatch pass left without work, at most one per agent and
 * per shard, in the agents' waiting order. Records each choice in the state (`backup_taken`: the
 * shard is no longer a candidate, its job's budget is spent) before returning it.
 */
export function chooseBackups<A extends IdleAgent>(
  state: FarmState,
  idle: readonly A[],
  view: SpeculationView,
  o: SpeculationOptions,
): BackupChoice<A>[] {
  if (o.budgetFraction <= 0 || !state.online || idle.length === 0) return [];
  const running: [string, ShardRecord, JobRecord, RunningEstimate][] = [];
  for (const [k, { rec }] of state.leasedShards()) {
    const job = state.job(rec.jobId);
    if (rec.state !== 'leased' || rec.backup || state.backupPending(k) || !job || FINAL_JOB_STATES.has(job.state))
      continue;
    const e = view.running(k, rec, job);
    // A backup saves less than the attempt's remaining time: below the least saving, none can help.
    if (e.remainingS >= o.minSavingS) running.push([k, rec, job, e]);
  }
  if (running.length === 0) return [];
  const gpuS = new Map<string, number>();
  const budget = (jobId: string) => {
    let g = gpuS.get(jobId);
    if (g === undefined) gpuS.set(jobId, (g = view.jobGpuS(state.job(jobId)!)));
    return { gpuS: g, backupS: state.backupSpentS(jobId) };
  };
  const out: BackupChoice<A>[] = [];
  for (const a of [...idle].sort((x, y) => x.waitingSince - y.waitingSince)) {
    const cands: Candidate[] = [];
    for (const [k, rec, job, e] of running) {
      if (state.backupPending(k) || rec.agentId === a.agentId || !fits(a.classGb, rec.requiredClassGb)) continue;
      if (job.blockedAgents?.includes(agentName(a)) || rec.failedOn.includes(a.agentId)) continue;
      if (a.modelRank && a.modelRank(job.model) === null) continue;
      const idleSpeed = view.idleSpeed(a, e.model);
      if (idleSpeed === undefined) continue;
      cands.push({ key: k, jobId: job.id, job, hasBackup: false, fits: true, idleSpeed, ...e });
    }
    const pick = pickBackup(cands, budget, o);
    if (!pick) continue;
    const seconds = pick.workS / pick.idleSpeed;
    state.apply({ type: 'backup_taken', key: pick.key, jobId: pick.jobId, seconds });
    out.push({ key: pick.key, jobId: pick.jobId, agent: a, seconds });
  }
  return out;
}
