/**
 * Every metric the coordinator exports, defined once, `tessera_` prefix and unit suffixes.
 * One registry per service instance (tests run several coordinators in one process).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { createServiceRegistry } from '@tessera/runtime';

const VERSION = '0.1.0';

export interface CoordinatorMetrics {
  registry: Registry;
  jobsSubmitted: Counter<'kind'>;
  jobsCompleted: Counter<'kind' | 'outcome'>;
  jobDuration: Histogram<'kind' | 'outcome'>;
  shardsQueued: Gauge<'required_class'>;
  shardsCompleted: Counter<'stage'>;
  dispatchLatency: Histogram<string>;
  grantLatency: Histogram<string>;
  shardRunSeconds: Histogram<'model' | 'vram_class'>;
  retries: Counter<'reason'>;
  resultsRefused: Counter<'reason'>;
  agents: Gauge<'vram_class' | 'state'>;
  agentVram: Gauge<'agent' | 'vram_class'>;
  reassemblySeconds: Histogram<string>;
  outputBytes: Counter<string>;
  natsReconnects: Counter<string>;
  isLeader: Gauge<string>;
  leaderChanges: Counter<string>;
  shardRecordsHeld: Gauge<string>;
  workRequestsParked: Gauge<string>;
  agentSpeed: Gauge<'agent' | 'model' | 'source'>;
  speculativeAttempts: Counter<'outcome'>;
}

/** Creates the registry and metrics; `collect` hooks fill gauges from live state at scrape time. */
export function createCoordinatorMetrics(collect: {
  queuedByClass: () => Map<string, number>;
  agents: () => { vramClass: string; state: string; name: string; vramBytes: number }[];
  /** Shard records held in memory. */
  shardRecordsHeld?: () => number;
  /** Agent work requests waiting at the coordinator for a shard. */
  workRequestsParked?: () => number;
  /** Each live agent's speed per model (placement/speeds.ts speedSamples). */
  agentSpeeds?: () => { agent: string; model: string; source: string; speed: number }[];
}): CoordinatorMetrics {
  const registry = createServiceRegistry('coordinator', 'tessera_coordinator_', VERSION);
  const r = [registry];
  const seconds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];
  return {
    registry,
    jobsSubmitted: new Counter({
      name: 'tessera_jobs_submitted_total',
      help: 'Jobs accepted, by kind.',
      labelNames: ['kind'],
      registers: r,
    }),
    jobsCompleted: new Counter({
      name: 'tessera_jobs_completed_total',
      help: 'Jobs that reached a final state, by kind and outcome (succeeded, failed, cancelled).',
      labelNames: ['kind', 'outcome'],
      registers: r,
    }),
    jobDuration: new Histogram({
      name: 'tessera_job_duration_seconds',
      help: 'Time from submission to a final state.',
      labelNames: ['kind', 'outcome'],
      buckets: seconds,
      registers: r,
    }),
    shardsQueued: new Gauge({
      name: 'tessera_shards_queued',
      help: 'Shards waiting for an agent, by required VRAM class.',
      labelNames: ['required_class'],
      registers: r,
      collect() {
        this.reset();
        for (const [cls, n] of collect.queuedByClass()) this.set({ required_class: cls }, n);
      },
    }),
    shardsCompleted: new Counter({
      name: 'tessera_shards_completed_total',
      help: 'Shards committed, by stage.',
      labelNames: ['stage'],
      registers: r,
    }),
    dispatchLatency: new Histogram({
      name: 'tessera_dispatch_latency_seconds',
      help: 'Time a shard waited in the queue before it was leased.',
      buckets: seconds,
      registers: r,
    }),
    grantLatency: new Histogram({
      name: 'tessera_grant_latency_seconds',
      help: "The coordinator's own dispatch latency: from a work request's arrival to its grant being sent, for requests that found a shard waiting (a request that parks until work arrives is waiting for work, not for the coordinator).",
      buckets: [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: r,
    }),
    shardRunSeconds: new Histogram({
      name: 'tessera_shard_run_seconds',
      help: 'Engine time of committed shards, by model and the VRAM class of the agent that ran them.',
      labelNames: ['model', 'vram_class'],
      buckets: seconds,
      registers: r,
    }),
    retries: new Counter({
      name: 'tessera_shard_retries_total',
      help: 'Shards put back in the queue, by reason (agent_lost, lease_expired, lease_lost, timeout_start, timeout_runtime, timeout_no_progress, error, out_of_memory, checksum, fatal).',
      labelNames: ['reason'],
      registers: r,
    }),
    resultsRefused: new Counter({
      name: 'tessera_shard_results_refused_total',
      help: 'Results refused, by reason (superseded: a stale fencing token; cancelled; checksum; unknown).',
      labelNames: ['reason'],
      registers: r,
    }),
    agents: new Gauge({
      name: 'tessera_agents',
      help: 'Agent slots known to the coordinator, by VRAM class and state.',
      labelNames: ['vram_class', 'state'],
      registers: r,
      collect() {
        this.reset();
        const counts = new Map<string, number>();
        for (const a of collect.agents())
          counts.set(`${a.vramClass}\u0000${a.state}`, (counts.get(`${a.vramClass}\u0000${a.state}`) ?? 0) + 1);
        for (const [k, n] of counts) {
          const [vram_class, state] = k.split('\u0000');
          this.set({ vram_class, state }, n);
        }
      },
    }),
    agentVram: new Gauge({
      name: 'tessera_agent_vram_bytes',
      help: 'Usable VRAM advertised by each agent slot.',
      labelNames: ['agent', 'vram_class'],
      registers: r,
      collect() {
        this.reset();
        for (const a of collect.agents()) this.set({ agent: a.name, vram_class: a.vramClass }, a.vramBytes);
      },
    }),
    reassemblySeconds: new Histogram({
      name: 'tessera_reassembly_seconds',
      help: 'Time to blend shard outputs into the final output and store it.',
      buckets: seconds,
      registers: r,
    }),
    outputBytes: new Counter({
      name: 'tessera_output_bytes_total',
      help: 'Bytes of final outputs stored.',
      registers: r,
    }),
    natsReconnects: new Counter({
      name: 'tessera_nats_reconnects_total',
      help: 'Reconnections to NATS.',
      registers: r,
    }),
    isLeader: new Gauge({
      name: 'tessera_coordinator_is_leader',
      help: '1 while this replica holds the leader lease and runs the farm; 0 on a standby.',
      registers: r,
    }),
    leaderChanges: new Counter({
      name: 'tessera_coordinator_leader_changes_total',
      help: 'Changes of leader this replica has seen (itself included).',
      registers: r,
    }),
    shardRecordsHeld: new Gauge({
      name: 'tessera_shard_records_held',
      help: "Shard records held in memory: unfinished jobs' only (a finished job's are read from the state store).",
      registers: r,
      collect() {
        this.set(collect.shardRecordsHeld?.() ?? 0);
      },
    }),
    workRequestsParked: new Gauge({
      name: 'tessera_work_requests_parked',
      help: 'Agent work requests waiting at this coordinator for a shard: slots ready to start one now.',
      registers: r,
      collect() {
        this.set(collect.workRequestsParked?.() ?? 0);
      },
    }),
    speculativeAttempts: outcomes(
      new Counter({
        name: 'tessera_speculative_attempts_total',
        help: 'Speculative backups of stragglers, by how their race ended: won (the backup committed first, or outlived its primary), lost (the primary committed first; the backup was cancelled), cancelled (the backup was dropped for another reason: it failed, its agent was lost, its job ended).',
        labelNames: ['outcome'],
        registers: r,
      }),
    ),
    agentSpeed: new Gauge({
      name: 'tessera_agent_speed',
      help: 'Speed of each live agent slot per model, relative to the hardware table cost model (1.0 = seconds_per_unit as written): source="measured" from its adverts, source="table" (model="*") the default for its VRAM class.',
      labelNames: ['agent', 'model', 'source'],
      registers: r,
      collect() {
        this.reset();
        for (const a of collect.agentSpeeds?.() ?? [])
          this.set({ agent: a.agent, model: a.model, source: a.source }, a.speed);
      },
    }),
  };
}

/** Exports each outcome from the start (at 0), so dashboards and alerts see the series before a first backup. */
function outcomes(c: Counter<'outcome'>): Counter<'outcome'> {
  for (const outcome of ['won', 'lost', 'cancelled']) c.inc({ outcome }, 0);
  return c;
}
