/**
 * Coordinator fail-over time: a farm with a leader and a standby replica (real nats-server,
 * coordinator and agent processes); an upscale job is submitted through the standby, and once it is
 * part done the leader is SIGKILLed. Measured per round: kill → the standby's "serving as leader"
 * (take-over), and kill → job succeeded. The new leader gets a new standby and the next round
 * kills it in turn. Every job's output must equal the first, undisturbed, run's.
 *
 *   npm run bench -- failover [--rounds 5] [--leader-lease-ms 5000]
 */
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { JobState, ShardState } from '@tessera/protocol';
import { jobBytes, startFarm } from '../test/helpers/farm.js';
import { waitFor, type Proc } from '../test/helpers/process.js';
import { baboonPng } from '../test/helpers/images.js';
import { logTime, startReplica } from '../test/helpers/replica.js';
import { median } from './stats.js';

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { rounds: { type: 'string', default: '5' }, 'leader-lease-ms': { type: 'string', default: '5000' } },
  });
  const rounds = Number(values.rounds);
  const leaseMs = Number(values['leader-lease-ms']);
  const lease = ['--leader-lease-ms', String(leaseMs)];
  const image = await sharp(baboonPng()).resize(384, 384, { kernel: 'lanczos3' }).png().toBuffer();
  const job = { image, model: 'esrgan-slim-x2', tile: 96, overlap: 12 };
  console.log(`leader lease ${leaseMs} ms; ${rounds} rounds; job: 384² baboon ×2 in 96-px tiles; 2 agents`);
  const farm = await startFarm({
    coordinatorArgs: [...lease, '--replica-id', 'r0'],
    agents: [
      { name: 'f1', vramGb: 8 },
      { name: 'f2', vramGb: 8 },
    ],
  });
  const procs: Proc[] = [];
  const takeovers: number[] = [];
  const finishes: number[] = [];
  try {
    const ref = await farm.client.submitUpscale(job);
    if ((await farm.client.waitForJob(ref.id)).state !== JobState.JOB_STATE_SUCCEEDED)
      throw new Error('reference failed');
    const reference = await jobBytes(farm.client, ref.id);
    let leader: Proc = farm.coordinator;
    for (let r = 1; r <= rounds; r++) {
      const standby = await startReplica(farm, `r${r}`, lease, 2);
      procs.push(standby.proc);
      const j = await standby.client.submitUpscale(job);
      await waitFor(
        async () => {
          const s = await standby.client.getJob(j.id);
          const done = s.shards.filter((x) => x.state === ShardState.SHARD_STATE_DONE).length;
          return done >= 2 && done < s.shards.length - 2;
        },
        60_000,
        'the job to be part done',
        20,
      );
      const killedAt = Date.now();
      await leader.stop('SIGKILL');
      const acquiredAt = await waitFor(() => logTime(standby.proc, 'serving as leader'), 60_000, 'take-over', 10);
      const done = await standby.client.waitForJob(j.id);
      const finishedAt = Date.now();
      if (done.state !== JobState.JOB_STATE_SUCCEEDED) throw new Error(`round ${r}: job ${done.state}: ${done.error}`);
      if (!(await jobBytes(standby.client, j.id)).equals(reference)) throw new Error(`round ${r}: output differs`);
      takeovers.push(acquiredAt - killedAt);
      finishes.push(finishedAt - killedAt);
      console.log(
        `round ${r}: take-over ${acquiredAt - killedAt} ms after the kill; job done ${finishedAt - killedAt} ms after; bytes identical`,
      );
      leader = standby.proc;
    }
  } finally {
    for (const p of procs) await p.stop('SIGKILL');
    await farm.close();
  }
  const summary = {
    bench: 'failover',
    leaderLeaseMs: leaseMs,
    rounds,
    takeoverMs: { min: Math.min(...takeovers), median: median(takeovers), max: Math.max(...takeovers) },
    jobDoneAfterKillMs: { min: Math.min(...finishes), median: median(finishes), max: Math.max(...finishes) },
    outputsIdentical: true,
  };
  console.log(
    `take-over: min ${summary.takeoverMs.min} / median ${summary.takeoverMs.median} / max ${summary.takeoverMs.max} ms ` +
      `(lease ${leaseMs} ms); job done after the kill: median ${summary.jobDoneAfterKillMs.median} ms`,
  );
  console.log(JSON.stringify(summary));
}
