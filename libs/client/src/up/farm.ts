import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeExit, FarmChild, tailFile, type ChildExit } from './child.js';
import { waitForTcp } from './ports.js';

/** VRAM (GB) the i-th local agent (0-based) advertises: 6, 8, 24, then again. Pure. */
export function agentVramGb(i: number): number {
  return [6, 8, 24][i % 3] as number;
}

/** Everything `LocalFarm.start` needs, already resolved (ports chosen, binaries found). */
export interface FarmConfig {
  /** Number of agents to start (≥ 1). */
  agents: number;
  /** Folder for one log file per child. */
  logsDir: string;
  /** Use this NATS server instead of starting one. */
  natsUrl?: string;
  /** The nats-server binary (needed unless natsUrl is set). */
  natsServer?: string;
  natsPort: number;
  grpcPort: number;
  metricsPort: number;
  /** Port of the coordinator's web console (`--console`); undefined leaves it off. */
  consolePort?: number;
  /** One metrics port per agent. */
  agentMetricsPorts: readonly number[];
  coordinatorBin: string;
  agentBin: string;
  /** Node binary that runs the services (default: this one). */
  node?: string;
}

/** One agent of the local farm. */
export interface FarmAgent {
  name: string;
  vramGb: number;
  metricsUrl: string;
  logFile: string;
}

/** A child of the farm exited while nobody asked it to. Carries the tail of its log. */
export class FarmChildExitedError extends Error {
  override readonly name = 'FarmChildExitedError';
  constructor(
    readonly child: string,
    readonly exit: ChildExit,
    readonly logFile: string,
    readonly logTail: string,
  ) {
    super(`${child} ${describeExit(exit)}`);
  }
}

const HOST = '127.0.0.1';

/**
 * nats-server (unless an external URL is given), one coordinator and N agents as child processes of
 * `tessera up`, each logging to its own file. `failed` rejects as soon as any child exits unasked;
 * `stop()` stops agents, then the coordinator, then NATS (SIGTERM, SIGKILL after 10 s each).
 */
export class LocalFarm {
  /** Coordinator gRPC address, HOST:PORT. */
  readonly server: string;
  readonly natsUrl: string;
  readonly coordinatorMetricsUrl: string;
  /** The web console's URL, when it is on. */
  readonly consoleUrl: string | undefined;
  readonly coordinatorLog: string;
  readonly agents: FarmAgent[];
  /** Rejects with FarmChildExitedError when a child exits before `stop()`; never resolves. */
  readonly failed: Promise<never>;
  private readonly children: FarmChild[] = [];
  private stopping = false;
  private rejectFailed: (err: FarmChildExitedError) => void = () => undefined;

  private constructor(
    private readonly config: FarmConfig,
    private readonly natsDir: string | undefined,
  ) {
    this.server = `${HOST}:${config.grpcPort}`;
    this.natsUrl = config.natsUrl ?? `nats://${HOST}:${config.natsPort}`;
    this.coordinatorMetricsUrl = `http://${HOST}:${config.metricsPort}/metrics`;
    this.consoleUrl = config.consolePort === undefined ? undefined : `http://${HOST}:${config.consolePort}/`;
    this.coordinatorLog = join(config.logsDir, 'coordinator.log');
    this.agents = Array.from({ length: config.agents }, (_, i) => ({
      name: `local-${i + 1}`,
      vramGb: agentVramGb(i),
      metricsUrl: `http://${HOST}:${config.agentMetricsPorts[i]}/metrics`,
      logFile: join(config.logsDir, `agent-local-${i + 1}.log`),
    }));
    this.failed = new Promise<never>((_, reject) => (this.rejectFailed = reject));
    this.failed.catch(() => undefined);
  }

  /** Starts the farm. On failure (or abort) everything started so far is stopped again. */
  static async start(config: FarmConfig, signal?: AbortSignal): Promise<LocalFarm> {
    if (config.agentMetricsPorts.length < config.agents) throw new Error('one metrics port per agent is needed');
    const natsDir = config.natsUrl === undefined ? await mkdtemp(join(tmpdir(), 'tessera-nats-')) : undefined;
    const farm = new LocalFarm(config, natsDir);
    try {
      await farm.launch(signal);
      return farm;
    } catch (err) {
      await farm.stop();
      throw err;
    }
  }

  /** Resolves with `p`, or rejects as soon as a child fails. */
  race<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.failed]);
  }

  /** Stops every child (agents, coordinator, NATS) and removes the NATS store. Idempotent. */
  async stop(): Promise<void> {
    this.stopping = true;
    const order = [
      this.children.filter((c) => c.name.startsWith('agent ')),
      this.children.filter((c) => c.name === 'coordinator'),
      this.children.filter((c) => c.name === 'nats-server'),
    ];
    for (const group of order) await Promise.all(group.map((c) => c.stop(10_000)));
    if (this.natsDir !== undefined) await rm(this.natsDir, { recursive: true, force: true });
  }

  private async launch(signal?: AbortSignal): Promise<void> {
    const c = this.config;
    const node = c.node ?? process.execPath;
    if (this.natsDir !== undefined) {
      if (c.natsServer === undefined) throw new Error('nats-server binary not given');
      const args = ['-js', '-a', HOST, '-p', String(c.natsPort), '-sd', this.natsDir];
      this.spawn('nats-server', c.natsServer, args, join(c.logsDir, 'nats-server.log'));
      await this.race(waitForTcp(HOST, c.natsPort, 15_000, signal));
    }
    const coordinatorArgs = [
      c.coordinatorBin,
      ...['--nats', this.natsUrl, '--grpc', this.server, '--metrics', `${HOST}:${c.metricsPort}`],
      ...(c.consolePort === undefined ? [] : ['--console', `${HOST}:${c.consolePort}`]),
    ];
    this.spawn('coordinator', node, coordinatorArgs, this.coordinatorLog);
    this.agents.forEach((a, i) => {
      const args = [c.agentBin, '--nats', this.natsUrl, '--vram-gb', String(a.vramGb), '--name', a.name];
      args.push('--metrics', `${HOST}:${c.agentMetricsPorts[i]}`);
      this.spawn(`agent ${a.name}`, node, args, a.logFile);
    });
  }

  private spawn(name: string, command: string, args: string[], logFile: string): void {
    const child = FarmChild.start({ name, command, args, logFile });
    this.children.push(child);
    void child.exited.then(async (exit) => {
      if (this.stopping || child.isStopping) return;
      this.rejectFailed(new FarmChildExitedError(name, exit, logFile, await tailFile(logFile, 30)));
    });
  }
}
