/**
 * A whole farm for cross-process tests: a real nats-server, the real coordinator binary and real
 * agent binaries, plus a gRPC client. Short leases and heartbeats so fault tests run in seconds.
 */
import { randomBytes } from 'node:crypto';
import { TesseraClient, type TlsOptions } from '@tessera/client';
import { rgbOf } from './images.js';
import { parseExposition, scrape, sumOf } from './prometheus.js';
import { startNats, type TestNats } from './nats-server.js';
import { freePort, spawnBin, waitFor, type Proc } from './process.js';

export const COORDINATOR_BIN = 'services/coordinator/bin/tessera-coordinator.js';
export const AGENT_BIN = 'services/agent/bin/tessera-agent.js';
export const CLI_BIN = 'libs/client/bin/tessera.js';

export interface AgentSpec {
  name: string;
  vramGb: number;
  /** Extra environment of this agent (e.g. a test fault hook). */
  env?: Record<string, string>;
  /** The NATS URL this agent connects to (default the farm's; e.g. a proxy a test can sever). */
  natsUrl?: string;
  /** Extra flags for this agent only, after the farm's agentArgs (e.g. its own --models DIR). */
  args?: string[];
}

/** A NATS user and password, given to a service as TESSERA_NATS_USER / TESSERA_NATS_PASSWORD. */
export interface NatsCredentials {
  user: string;
  password: string;
}

export interface FarmOptions {
  agents: AgentSpec[];
  hardwareTable?: string;
  coordinatorArgs?: string[];
  /** onnxruntime threads per agent (default 1, so several agents share 2 cores); 0 = onnxruntime's choice. */
  agentThreads?: number;
  /** Bearer token the farm's client sends (for a coordinator started with --api-tokens). */
  token?: string;
  /** TLS settings of the farm's client (for a coordinator started with --tls-cert/--tls-key). */
  tls?: TlsOptions;
  /** Extra flags for every agent (e.g. --models DIR). */
  agentArgs?: string[];
  /** Reuse a NATS server (e.g. one a test kills and restarts). */
  nats?: TestNats;
  /** The farm prefix (default a random one, so farms sharing a NATS server stay apart). */
  farmPrefix?: string;
  /** NATS credentials per role (default none, or whatever this process's environment says). */
  natsAuth?: { coordinator?: NatsCredentials; agent?: NatsCredentials };
  /** The NATS URL the coordinator connects to (default the farm's; e.g. a proxy a test can cut). */
  coordinatorNatsUrl?: string;
  /** More environment for the coordinator (e.g. TESSERA_LOG_LEVEL). */
  coordinatorEnv?: Record<string, string>;
  /** Sees everything every process of the farm writes (coordinator incarnations and agents), by name. */
  onOutput?: (name: string, text: string) => void;
}

export interface Farm {
  nats: TestNats;
  farmPrefix: string;
  grpcAddr: string;
  metricsUrl: string;
  coordinator: Proc;
  agents: Map<string, Proc>;
  client: TesseraClient;
  startAgent(spec: AgentSpec): Promise<Proc>;
  restartCoordinator(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Test timings: leases renewed every 500 ms, agents lost after 1.5 s of silence; a restarted
 * coordinator takes the leader lease of the one it replaces 2 s after that one's last renewal.
 */
const COORDINATOR_TEST_ARGS = ['--lease-ms', '2000', '--agent-silence-ms', '1500', '--leader-lease-ms', '2000'];
const AGENT_TEST_ARGS = ['--heartbeat-ms', '250'];

export async function startFarm(o: FarmOptions): Promise<Farm> {
  const nats = o.nats ?? (await startNats());
  const farmPrefix = o.farmPrefix ?? `t${randomBytes(4).toString('hex')}`;
  const natsEnv = (c?: NatsCredentials): Record<string, string> =>
    c ? { TESSERA_NATS_USER: c.user, TESSERA_NATS_PASSWORD: c.password } : {};
  const coordinatorEnv = { ...natsEnv(o.natsAuth?.coordinator), ...o.coordinatorEnv };
  const agentEnv = natsEnv(o.natsAuth?.agent);
  const grpcPort = await freePort();
  const metricsPort = await freePort();
  const grpcAddr = `127.0.0.1:${grpcPort}`;
  const coordinatorArgs = [
    '--nats',
    o.coordinatorNatsUrl ?? nats.url,
    '--grpc',
    grpcAddr,
    '--metrics',
    `127.0.0.1:${metricsPort}`,
    '--farm',
    farmPrefix,
    ...COORDINATOR_TEST_ARGS,
    ...(o.hardwareTable ? ['--hardware-table', o.hardwareTable] : []),
    ...(o.coordinatorArgs ?? []),
  ];
  const client = new TesseraClient(grpcAddr, { token: o.token, tls: o.tls });
  const agents = new Map<string, Proc>();
  let incarnation = 1;
  let coordinator = spawnBin(COORDINATOR_BIN, coordinatorArgs, 'coordinator', coordinatorEnv, o.onOutput);
  const waitCoordinator = () =>
    waitFor(
      async () => {
        if (coordinator.child.exitCode !== null)
          throw new Error(`coordinator exited: ${coordinator.output().slice(-2000)}`);
        await client.listAgents({}, { deadlineMs: 1000 });
        return true;
      },
      60_000,
      'the coordinator to serve gRPC',
      100,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n--- coordinator output (last 2 kB) ---\n${coordinator.output().slice(-2000)}`);
    });
  await waitCoordinator();
  const threads = o.agentThreads ?? 1;
  const startAgent = async (spec: AgentSpec) => {
    const p = spawnBin(
      AGENT_BIN,
      [
        '--nats',
        spec.natsUrl ?? nats.url,
        '--farm',
        farmPrefix,
        '--name',
        spec.name,
        '--vram-gb',
        String(spec.vramGb),
        '--metrics',
        '',
        ...AGENT_TEST_ARGS,
        ...(threads ? ['--threads', String(threads)] : []),
        ...(o.agentArgs ?? []),
        ...(spec.args ?? []),
      ],
      spec.name,
      { ...agentEnv, ...spec.env },
      o.onOutput,
    );
    agents.set(spec.name, p);
    // A liveness wait, not a timing claim: generous (a loaded 2-core CI box has taken over 30 s), and on
    // a timeout the error carries the agent's last output, so a slow start and a hang can be told apart.
    await waitFor(
      async () => {
        if (p.child.exitCode !== null) throw new Error(`agent ${spec.name} exited: ${p.output().slice(-2000)}`);
        return (await client.listAgents()).some((a) => a.name === spec.name);
      },
      60_000,
      `agent ${spec.name} to join`,
      100,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n--- agent ${spec.name} output (last 2 kB) ---\n${p.output().slice(-2000)}`);
    });
    return p;
  };
  for (const a of o.agents) await startAgent(a);
  return {
    nats,
    farmPrefix,
    grpcAddr,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    get coordinator() {
      return coordinator;
    },
    agents,
    client,
    startAgent,
    async restartCoordinator() {
      await coordinator.stop('SIGKILL');
      // Each incarnation under its own name, so that output read line by line never joins two.
      coordinator = spawnBin(
        COORDINATOR_BIN,
        coordinatorArgs,
        `coordinator-${++incarnation}`,
        coordinatorEnv,
        o.onOutput,
      );
      await waitCoordinator();
    },
    async close() {
      client.close();
      await Promise.all([...agents.values()].map((a) => a.stop('SIGKILL')));
      await coordinator.stop('SIGKILL');
      if (!o.nats) await nats.stop();
    },
  };
}

/**
 * Waits until `n` agent work requests are parked at the coordinator (`tessera_work_requests_parked`):
 * a job submitted then finds that many agents waiting, so its first dispatch pass places that many
 * shards (placement does not depend on when each agent happened to ask).
 */
export async function waitForParked(farm: Pick<Farm, 'metricsUrl'>, n: number): Promise<void> {
  await waitFor(
    async () => sumOf(parseExposition(await scrape(farm.metricsUrl)), 'tessera_work_requests_parked') >= n,
    30_000,
    `${n} work requests parked at the coordinator`,
    100,
  );
}

/** A succeeded job's output (the primary, or one format / frame), downloaded whole. */
export async function jobBytes(
  client: TesseraClient,
  id: string,
  select: { format?: string; frame?: number } = {},
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of client.jobOutput(id, select)) chunks.push(Buffer.from(c.data));
  return Buffer.concat(chunks);
}

/** A succeeded job's primary output image, decoded to RGB8 pixels. */
export async function jobRgb(client: TesseraClient, id: string): Promise<Buffer> {
  return (await rgbOf(await jobBytes(client, id))).data;
}
