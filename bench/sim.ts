/**
 * The discrete-event simulator (services/coordinator/src/sim/): the production farm core under
 * virtual time with simulated agents. Prints the trace digest (the same for a seed, run after run),
 * the virtual makespan, the wall time and simulated shard lifecycles per wall second.
 *
 *   npm run bench -- sim [--shards 100000] [--seed 7] [--agents 200]
 */
import { parseArgs } from 'node:util';
import { randomScenario, simulate } from '../services/coordinator/src/sim/simulator.js';

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      shards: { type: 'string', default: '100000' },
      seed: { type: 'string', default: '7' },
      agents: { type: 'string', default: '200' },
    },
  });
  const shards = Number(values.shards);
  const seed = Number(values.seed);
  const agents = Number(values.agents);
  const scenario = randomScenario({ shards, seed, agents });
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = simulate(scenario);
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  const perSec = Math.round(r.lifecycles / (wallMs / 1000));
  // On a shared box the wall rate depends on the load; the CPU rate is what the simulator costs.
  const perCpuSec = Math.round(r.lifecycles / cpuS);
  console.log(`scenario: ${shards} shards in ${scenario.jobs.length} jobs, ${agents} agents, seed ${seed}`);
  console.log(`trace digest:      ${r.digest}`);
  console.log(`virtual makespan:  ${(r.makespanMs / 1000).toFixed(1)} s`);
  console.log(`wall time:         ${(wallMs / 1000).toFixed(2)} s`);
  console.log(
    `lifecycles:        ${r.lifecycles} (${r.attempts} attempts; jobs ${r.jobsSucceeded} ok, ${r.jobsFailed} failed)`,
  );
  console.log(`lifecycles / s:    ${perSec} (wall), ${perCpuSec} per CPU second (${cpuS.toFixed(2)} CPU s)`);
  console.log(
    JSON.stringify({
      bench: 'sim',
      shards,
      seed,
      agents,
      digest: r.digest,
      makespan_s: r.makespanMs / 1000,
      wall_s: wallMs / 1000,
      lifecycles: r.lifecycles,
      attempts: r.attempts,
      lifecycles_per_s: perSec,
      cpu_s: cpuS,
      lifecycles_per_cpu_s: perCpuSec,
    }),
  );
}
