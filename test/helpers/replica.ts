/**
 * More coordinator replicas for a farm (fail-over tests and benchmarks): each joins the farm's NATS
 * and prefix as a standby, serves gRPC on its own port by forwarding to the leader, and takes over
 * when the leader's lease lapses.
 */
import { TesseraClient } from '@tessera/client';
import { COORDINATOR_BIN, type Farm } from './farm.js';
import { freePort, spawnBin, waitFor, type Proc } from './process.js';

export interface Replica {
  id: string;
  proc: Proc;
  grpcAddr: string;
  client: TesseraClient;
  metricsUrl: string;
}

/** Starts replica `id`; resolves once it serves ListAgents (forwarded) with at least `agents` agents. */
export async function startReplica(farm: Farm, id: string, args: string[] = [], agents = 1): Promise<Replica> {
  const port = await freePort();
  const mport = await freePort();
  const grpcAddr = `127.0.0.1:${port}`;
  const proc = spawnBin(
    COORDINATOR_BIN,
    [
      '--nats',
      farm.nats.url,
      '--grpc',
      grpcAddr,
      '--metrics',
      `127.0.0.1:${mport}`,
      '--farm',
      farm.farmPrefix,
      '--lease-ms',
      '2000',
      '--agent-silence-ms',
      '1500',
      '--replica-id',
      id,
      ...args,
    ],
    `coordinator-${id}`,
  );
  const client = new TesseraClient(grpcAddr);
  await waitFor(
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`replica ${id} exited: ${proc.output().slice(-2000)}`);
      return (await client.listAgents({}, { deadlineMs: 1000 })).length >= agents;
    },
    30_000,
    `replica ${id} to serve`,
    100,
  );
  return { id, proc, grpcAddr, client, metricsUrl: `http://127.0.0.1:${mport}/metrics` };
}

/** The `time` (ms since the epoch) of the last log line of `proc` whose msg is `msg`, if any. */
export function logTime(proc: Proc, msg: string): number | undefined {
  let t: number | undefined;
  for (const line of proc.output().split('\n')) {
    if (!line.includes(`"msg":"${msg}"`)) continue;
    try {
      t = (JSON.parse(line) as { time: number }).time;
    } catch {
      // a line cut by the output cap
    }
  }
  return t;
}
