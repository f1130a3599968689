/**
 * hook(speed): the estimates speculation reads in one dispatch pass (core/speculation.ts), from the
 * coordinator's live state: the cost model (`shardWork`), the fleet's speeds (`agentSpeed`) and the
 * progress the running attempts report with their renewals (LATE's estimator). Pure over the data
 * handed in.
 */
import type { HardwareTable } from '@tessera/hardware';
import type { ModelSpeed } from '@tessera/protocol';
import type { RunningEstimate, SpeculationView } from '../core/speculation.js';
import type { JobRecord, ShardRecord } from '../model.js';
import { fits, type IdleAgent } from '../scheduler.js';
import { shardWork } from './cost.js';
import { estimateRemainingS, type WorkOf } from './fleet-view.js';
import { agentSpeed } from './speeds.js';

/** What the view needs of a live agent. */
export interface SpeedHolder {
  readonly classGb: number;
  readonly liveness: string;
  readonly advert: { readonly agentId: string; readonly modelSpeeds: readonly ModelSpeed[] };
}

/** What the view reads of the farm state. */
export interface SpeculationSource {
  /** The live registry entry of an agent. */
  agent(agentId: string): SpeedHolder | undefined;
  /** Every known agent. */
  agents(): readonly SpeedHolder[];
  /** Progress (0..1) attempt `token` of shard `key` last reported. */
  progressOf(key: string, token: number): number | undefined;
  /** The shard records of an unfinished job. */
  jobShards(jobId: string): readonly ShardRecord[];
}

/**
 * The speculation view at `nowMs`. A running attempt's remaining time: from its reported progress at
 * its own rate, else its expected run (cost ÷ its agent's speed) less the time it has run, growing
 * once it is late. The idle agent's run: cost ÷ its measured speed on the model (none measured: no
 * estimate). A job's GPU-seconds: what its shards have spent (a committed shard's run seconds, a
 * running attempt's time so far) and, for the others, their cost ÷ the mean speed of the live agents
 * that fit them (measured speeds where any agent measured the model: table defaults can be far off).
 * `work` is the cost model (the simulator hands in its own).
 */
export function speculationView(
  table: HardwareTable,
  src: SpeculationSource,
  nowMs: number,
  work: WorkOf = (job, rec) => shardWork(table, job, rec),
): SpeculationView {
  return {
    running(key: string, rec: ShardRecord, job: JobRecord): RunningEstimate {
      const w = work(job, rec);
      const holder = src.agent(rec.agentId);
      const speed = agentSpeed(table, holder?.classGb ?? rec.agentClassGb, holder?.advert.modelSpeeds, w.model).speed;
      const elapsedS = Math.max(0, nowMs - rec.leasedMs) / 1000;
      const remainingS = estimateRemainingS(w.workS / speed, elapsedS, src.progressOf(key, rec.attempt));
      return { model: w.model, workS: w.workS, remainingS };
    },
    idleSpeed(idle: IdleAgent, model: string): number | undefined {
      const mine = src.agent(idle.agentId);
      const s = mine && agentSpeed(table, mine.classGb, mine.advert.modelSpeeds, model);
      return s?.source === 'measured' ? s.speed : undefined;
    },
    jobGpuS(job: JobRecord): number {
      const live = src.agents().filter((a) => a.liveness === 'live');
      let total = 0;
      for (const s of src.jobShards(job.id)) {
        const w = work(job, s);
        if (s.state === 'done' && s.runSeconds > 0) total += s.runSeconds;
        else if (s.state === 'leased') total += Math.max(0, nowMs - s.leasedMs) / 1000;
        else total += w.workS / meanSpeed(table, live, s.requiredClassGb, w.model);
      }
      return total;
    },
  };
}

/** Mean speed on `model` of the live agents of class ≥ `classGb`: measured ones if any, else all (1 if none). */
function meanSpeed(table: HardwareTable, live: readonly SpeedHolder[], classGb: number, model: string): number {
  const speeds = live
    .filter((a) => fits(a.classGb, classGb))
    .map((a) => agentSpeed(table, a.classGb, a.advert.modelSpeeds, model));
  const measured = speeds.filter((x) => x.source === 'measured');
  const use = measured.length > 0 ? measured : speeds;
  return use.length > 0 ? use.reduce((sum, x) => sum + x.speed, 0) / use.length : 1;
}
