/**
 * Load: many queued jobs through a real farm with lightweight agents. A real nats-server, the real
 * coordinator binary, and `--agents` zero-work agent slots (the real Slot code on the real NATS
 * protocol with ZeroWorkLoadTestEngine: no inference) spread over `--agent-procs` processes. Submits
 * `--jobs` upscale jobs of `--grid`² tiles each (16 px tiles, overlap 10, esrgan-slim-x2), all queued
 * up front, and waits for every one to finish. Then checks nothing was lost (every job succeeded,
 * every shard committed exactly once, results refused counted) and reports throughput and the
 * coordinator's memory over time (RSS and heap from its /metrics; the memory at 25 % and at 100 % of
 * the jobs finished shows whether memory follows the history or the live work).
 *
 * With `--rate R`, jobs are submitted at R shards per second offered instead of all up front, and the
 * coordinator's own dispatch latency is reported: work request → grant for requests that found a
 * shard waiting (`tessera_grant_latency_seconds`, p50 and p99 by histogram_quantile).
 *
 *   npm run bench -- load [--jobs 1000] [--grid 10] [--agents 100] [--agent-procs 2] [--rate SHARDS_PER_S]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { JobState, ShardState } from '@tessera/protocol';
import { startFarm } from '../test/helpers/farm.js';
import { cpuProfileArgs, repoRoot, waitFor } from '../test/helpers/process.js';
import { histogramQuantile, parseExposition, scrape, sumOf } from '../test/helpers/prometheus.js';
import { mapLimit } from '../services/coordinator/src/util.js';

const MiB = 1024 * 1024;

interface Sample {
  t: number;
  rss: number;
  heap: number;
  jobsDone: number;
  shardsDone: number;
  queued: number;
  held: number;
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      jobs: { type: 'string', default: '1000' },
      grid: { type: 'string', default: '10' },
      agents: { type: 'string', default: '100' },
      'agent-procs': { type: 'string', default: '2' },
      'submit-concurrency': { type: 'string', default: '8' },
      rate: { type: 'string', default: '' },
    },
  });
  const rate = values.rate ? Number(values.rate) : 0;
  const jobs = Number(values.jobs);
  const grid = Number(values.grid);
  const agentCount = Number(values.agents);
  const procs = Math.max(1, Math.min(agentCount, Number(values['agent-procs'])));
  const shardsTotal = jobs * grid * grid;
  console.log(
    `load: ${jobs} upscale jobs × ${grid * grid} tiles = ${shardsTotal} shards, ${agentCount} zero-work agents in ${procs} processes`,
  );

  const farm = await startFarm({
    agents: [],
    // Production lease and silence timings (the test farm's are short), room for the whole queue.
    coordinatorArgs: [
      '--lease-ms',
      '20000',
      '--agent-silence-ms',
      '10000',
      '--max-queued-shards',
      String(Math.max(200_000, shardsTotal)),
    ],
  });
  const children: { child: ChildProcess; out: string }[] = [];
  try {
    for (let p = 0; p < procs; p++) {
      const count = Math.floor(agentCount / procs) + (p < agentCount % procs ? 1 : 0);
      const child = spawn(
        process.execPath,
        [
          ...cpuProfileArgs(),
          '--import',
          'tsx',
          join(repoRoot, 'bench/load-agents.ts'),
          ...['--nats', farm.nats.url, '--farm', farm.farmPrefix, '--count', String(count), '--prefix', `zw${p}`],
        ],
        { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, TESSERA_LOG_LEVEL: 'warn' } },
      );
      const entry = { child, out: '' };
      child.stdout!.on('data', (d: Buffer) => (entry.out += d.toString()));
      children.push(entry);
    }
    await waitFor(
      async () => (await farm.client.listAgents()).length >= agentCount,
      60_000,
      `${agentCount} agents to join`,
      250,
    );

    const px = grid * 16;
    const image = await sharp({ create: { width: px, height: px, channels: 3, background: { r: 90, g: 160, b: 40 } } })
      .png()
      .toBuffer();

    const samples: Sample[] = [];
    const t0 = performance.now();
    const sample = async (): Promise<Sample> => {
      const e = parseExposition(await scrape(farm.metricsUrl));
      const s = {
        t: (performance.now() - t0) / 1000,
        rss: sumOf(e, 'tessera_coordinator_process_resident_memory_bytes'),
        heap: sumOf(e, 'tessera_coordinator_nodejs_heap_size_used_bytes'),
        jobsDone: sumOf(e, 'tessera_jobs_completed_total'),
        shardsDone: sumOf(e, 'tessera_shards_completed_total'),
        queued: sumOf(e, 'tessera_shards_queued'),
        held: sumOf(e, 'tessera_shard_records_held'),
      };
      samples.push(s);
      return s;
    };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const s = await sample().catch(() => undefined);
        if (s && samples.length % 10 === 0) {
          console.log(
            `  t=${s.t.toFixed(0)}s jobs done ${s.jobsDone}/${jobs} shards done ${s.shardsDone} queued ${s.queued} held ${s.held} rss ${(s.rss / MiB).toFixed(0)} MiB heap ${(s.heap / MiB).toFixed(0)} MiB`,
          );
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    })();

    // Every job queued up front (a few submissions in flight at a time), or paced at --rate.
    const ids = await mapLimit(
      Array.from({ length: jobs }, (_, i) => i),
      Number(values['submit-concurrency']),
      async (i) => {
        const due = rate > 0 ? (i * grid * grid * 1000) / rate - (performance.now() - t0) : 0;
        if (due > 0) await new Promise((r) => setTimeout(r, due));
        return (
          await farm.client.submitUpscale({ image, model: 'esrgan-slim-x2', tile: 16, overlap: 10, name: `load-${i}` })
        ).id;
      },
    );
    const submitSeconds = (performance.now() - t0) / 1000;
    console.log(`submitted ${jobs} jobs in ${submitSeconds.toFixed(1)} s`);
    await waitFor(async () => (await sample()).jobsDone >= jobs, 3_600_000, 'every job to finish', 1000);
    const wallSeconds = (performance.now() - t0) / 1000;
    sampling = false;
    await sampler;
    const end = await sample();

    // Nothing lost: every job succeeded, every shard done after exactly one lease.
    const listed = await farm.client.listJobs({ limit: 10_000 });
    const ours = listed.filter((j) => ids.includes(j.id));
    const succeeded = ours.filter((j) => j.state === JobState.JOB_STATE_SUCCEEDED).length;
    let shardsDoneSeen = 0;
    let multiAttempt = 0;
    await mapLimit(ids, 4, async (id) => {
      const j = await farm.client.getJob(id);
      for (const s of j.shards) {
        if (s.state === ShardState.SHARD_STATE_DONE) shardsDoneSeen++;
        if (s.attempts !== 1) multiAttempt++;
      }
    });
    const m = parseExposition(await scrape(farm.metricsUrl));
    const committed = sumOf(m, 'tessera_shards_completed_total');
    const refused = sumOf(m, 'tessera_shard_results_refused_total');
    const retries = sumOf(m, 'tessera_shard_retries_total');
    const grantP50 = histogramQuantile(m, 'tessera_grant_latency_seconds', 0.5) * 1000;
    const grantP99 = histogramQuantile(m, 'tessera_grant_latency_seconds', 0.99) * 1000;
    const grantsMeasured = sumOf(m, 'tessera_grant_latency_seconds_count');

    // Agents drain and say how many shards their engine computed (a second run of a shard shows here).
    for (const c of children) c.child.kill('SIGTERM');
    await Promise.all(children.map((c) => new Promise((r) => c.child.once('exit', r))));
    const computed = children.reduce((a, c) => {
      const line = c.out.split('\n').find((l) => l.includes('"computed"'));
      return a + (line ? (JSON.parse(line) as { computed: number }).computed : NaN);
    }, 0);

    const at = (frac: number) => samples.find((s) => s.jobsDone >= jobs * frac) ?? end;
    const quarter = at(0.25);
    const peakRss = Math.max(...samples.map((s) => s.rss));
    const peakHeap = Math.max(...samples.map((s) => s.heap));
    const nothingLost =
      succeeded === jobs && shardsDoneSeen === shardsTotal && committed === shardsTotal && computed === shardsTotal;
    console.log(
      `finished in ${wallSeconds.toFixed(1)} s: ${(jobs / wallSeconds).toFixed(2)} jobs/s, ${(shardsTotal / wallSeconds).toFixed(0)} shards/s`,
    );
    console.log(
      `jobs succeeded ${succeeded}/${jobs}; shards done ${shardsDoneSeen}/${shardsTotal}, committed ${committed}, computed by agents ${computed}, leased more than once ${multiAttempt}; results refused ${refused}; retries ${retries}`,
    );
    console.log(
      `dispatch latency (work request → grant, ${grantsMeasured} requests that found a shard waiting): p50 ${grantP50.toFixed(2)} ms, p99 ${grantP99.toFixed(2)} ms${rate > 0 ? ` at ${rate} shards/s offered` : ' (all jobs queued up front)'}`,
    );
    console.log(
      `coordinator memory: peak RSS ${(peakRss / MiB).toFixed(0)} MiB, heap ${(peakHeap / MiB).toFixed(0)} MiB; at ${quarter.jobsDone} jobs done RSS ${(quarter.rss / MiB).toFixed(0)} MiB heap ${(quarter.heap / MiB).toFixed(0)} MiB held ${quarter.held}; at ${end.jobsDone} done RSS ${(end.rss / MiB).toFixed(0)} MiB heap ${(end.heap / MiB).toFixed(0)} MiB held ${end.held}`,
    );
    console.log(
      JSON.stringify({
        bench: 'load',
        jobs,
        shards: shardsTotal,
        agents: agentCount,
        agent_procs: procs,
        offered_shards_per_s: rate || null,
        grant_latency_p50_ms: round(grantP50),
        grant_latency_p99_ms: round(grantP99),
        grants_measured: grantsMeasured,
        submit_s: round(submitSeconds),
        wall_s: round(wallSeconds),
        jobs_per_s: round(jobs / wallSeconds),
        shards_per_s: round(shardsTotal / wallSeconds),
        succeeded,
        shards_done: shardsDoneSeen,
        committed,
        computed,
        leased_more_than_once: multiAttempt,
        results_refused: refused,
        retries,
        nothing_lost: nothingLost,
        rss_peak_mib: round(peakRss / MiB),
        heap_peak_mib: round(peakHeap / MiB),
        rss_at_25pct_mib: round(quarter.rss / MiB),
        heap_at_25pct_mib: round(quarter.heap / MiB),
        rss_final_mib: round(end.rss / MiB),
        heap_final_mib: round(end.heap / MiB),
        shard_records_held_final: end.held,
      }),
    );
    if (!nothingLost) process.exitCode = 1;
  } finally {
    for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL');
    // A clean stop first (lets `node --cpu-prof` write its profile when profiling the coordinator).
    await farm.coordinator.stop('SIGTERM');
    await farm.close();
  }
}

const round = (x: number) => Math.round(x * 100) / 100;
