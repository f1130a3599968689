/**
 * From the plan's files to what the simulator runs: agents with their VRAM class and speed per model,
 * and jobs split into shards the way the coordinator's planners split them (tiles, pipeline stages,
 * frame batches), each with its work (cost model), required class and dependencies. Pure.
 */
import {
  referenceSeconds,
  requiredClassFor,
  usableVramGb,
  vramClassOf,
  workUnits,
  type HardwareTable,
  type ModelRow,
} from '@tessera/hardware';
import { chooseTileSize, fleetTilingAgents, planTiles } from '@tessera/tiling';
import { planFrameBatches } from '@tessera/video';
import { PlanInputError, type FleetEntry, type WorkloadEntry } from './scenario.js';

/** One agent of the simulated fleet. */
export interface SimAgent {
  readonly name: string;
  readonly vramGb: number;
  readonly classGb: number;
  /** As written in the fleet file. */
  readonly speedSpec: FleetEntry['speed'];
  /** Fleet entry it came from. */
  readonly entry: string;
}

/** Speed of `agent` on `model` (a map without the model gives 1.0). */
export function speedOf(agent: Pick<SimAgent, 'speedSpec'>, model: string): number {
  return typeof agent.speedSpec === 'number' ? agent.speedSpec : (agent.speedSpec[model] ?? 1);
}

/** One shard of a simulated job. */
export interface SimShard {
  readonly job: string;
  readonly index: number;
  readonly model: string;
  /** Seconds at speed 1.0 (cost model). */
  readonly workS: number;
  /** Required VRAM class (GB threshold; 0 = cpu). */
  readonly requiredGb: number;
  /** Shard indices of the same job this one waits for. */
  readonly dependsOn: readonly number[];
}

export interface SimJob {
  readonly id: string;
  readonly submitAtS: number;
  /** Fair share between owners and priority, as the coordinator's (default '' and 0). */
  readonly owner?: string;
  readonly priority?: number;
  readonly shards: readonly SimShard[];
}

/** The fleet file's agents, expanded `name-0 … name-(count−1)`. */
export function expandFleet(table: HardwareTable, fleet: readonly FleetEntry[]): SimAgent[] {
  return fleet.flatMap((e) =>
    Array.from({ length: e.count }, (_, i) => ({
      name: `${e.name}-${i}`,
      vramGb: e.vramGb,
      classGb: vramClassOf(table, usableVramGb(table, e.vramGb)),
      speedSpec: e.speed,
      entry: e.name,
    })),
  );
}

/** SDXL's base stops at this fraction of the steps and the refiner runs the rest (diffusers' default). */
const HIGH_NOISE_FRAC = 0.8;

/** The jobs of a workload on a fleet (the fleet's speed mix sets the tile size of upscales). */
export function expandWorkload(
  table: HardwareTable,
  workload: readonly WorkloadEntry[],
  agents: readonly SimAgent[],
  file = 'workload',
): SimJob[] {
  const jobs: SimJob[] = [];
  workload.forEach((e, i) => {
    const row = table.models.get(e.model)!;
    const shards = (job: string): SimShard[] => {
      try {
        return shardsOf(table, row, e, job, agents);
      } catch (err) {
        throw new PlanInputError(file, `jobs[${i}]`, (err as Error).message);
      }
    };
    for (let c = 0; c < e.count; c++) {
      const id = `${e.name}-${c}`;
      jobs.push({ id, submitAtS: e.submitAtS, owner: e.owner, priority: e.priority, shards: shards(id) });
    }
  });
  return jobs;
}

function shardsOf(
  table: HardwareTable,
  row: ModelRow,
  e: WorkloadEntry,
  job: string,
  agents: readonly SimAgent[],
): SimShard[] {
  const work = (units: number) => referenceSeconds(row, units);
  if (e.kind === 'upscale') {
    const overlap = e.overlap ?? row.upscaler!.defaultOverlapPx;
    const tile =
      e.tile ??
      chooseTileSize({
        width: e.width!,
        height: e.height!,
        overlap,
        agents: fleetTilingAgents(agents.map((a) => speedOf(a, row.id))),
      });
    return planTiles({ width: e.width!, height: e.height!, tile, overlap }).tiles.map((t, index) => {
      const pixels = t.input.width * t.input.height;
      return {
        job,
        index,
        model: row.id,
        workS: work(workUnits(row, { width: t.input.width, height: t.input.height })),
        requiredGb: requiredClassFor(table, row, { pixels }),
        dependsOn: [],
      };
    });
  }
  if (e.kind === 'image') {
    const width = e.width ?? row.nativeWidth ?? 1024;
    const height = e.height ?? row.nativeHeight ?? 1024;
    const steps = e.steps ?? 30;
    const stages = (row.stages ?? [{ id: 'base' }]).filter((s, k) => k === 0 || row.id !== 'sdxl' || e.refine);
    return stages.map((s, index) => {
      // SDXL splits the steps at high_noise_frac; other multi-stage models run every stage's steps.
      const frac = row.id === 'sdxl' && stages.length === 2 ? (index === 0 ? HIGH_NOISE_FRAC : 1 - HIGH_NOISE_FRAC) : 1;
      return {
        job,
        index,
        model: row.id,
        workS: work(workUnits(row, { width, height, steps: steps * frac })),
        requiredGb: requiredClassFor(table, row, {}, row.stages ? s.id : undefined),
        dependsOn: index > 0 ? [index - 1] : [],
      };
    });
  }
  const v = row.video!;
  const mode = e.mode ?? 'keyframed';
  const batches = planFrameBatches({
    totalFrames: e.frames!,
    framesPerBatch: v.frames,
    overlap: mode === 'chained' ? 1 : Math.min(4, Math.floor(v.frames / 2)),
    mode,
  });
  return batches.map((b) => ({
    job,
    index: b.index,
    model: row.id,
    workS: work(workUnits(row, { frames: b.count, steps: e.steps ?? v.steps })),
    requiredGb: requiredClassFor(table, row, { frames: b.count }),
    dependsOn: b.dependsOn === null ? [] : [b.dependsOn],
  }));
}
