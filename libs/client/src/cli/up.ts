import { mkdir } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { once } from 'node:events';
import { Option, type Command } from 'commander';
import { JobState, type AgentInfo, type Job } from '@tessera/protocol';
import { TesseraClient } from '../client.js';
import { formatBytes, renderTable } from '../format/table.js';
import { resolveServiceBin } from '../up/bins.js';
import { baboonPng, demoOutputName } from '../up/demo.js';
import { FarmChildExitedError, LocalFarm } from '../up/farm.js';
import { freePort, preferredOrFreePort } from '../up/ports.js';
import { waitForAgents } from '../up/ready.js';
import { findExecutable, findNatsServer, natsMissingMessage } from '../up/which.js';
import type { CliContext } from './context.js';
import { finalLine, JobNotSucceededError, watchWithProgress } from './jobs.js';
import { flagOption, intArg, readInput, valueOption } from './options.js';

interface UpFlags {
  agents: number;
  keep: boolean;
  out: string;
  nats?: string;
  natsServer?: string;
  natsPort?: number;
  grpc?: number;
  metricsPort?: number;
  consolePort?: number;
  console: boolean;
  input?: string;
  model: string;
  tile: number;
  startTimeout: number;
  coordinatorBin?: string;
  agentBin?: string;
}

/** A path as the user should see it: relative to the working directory when inside it. */
function shown(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

/** Which agent ran each shard: "0:local-2(8gb) 1:local-1(6gb) …". Pure. */
export function shardPlacement(job: Job): string {
  return job.shards.map((s) => `${s.index}:${s.agent || '?'}(${s.agentVramClass || '?'})`).join(' ');
}

/** The summary `tessera up` prints once the demo is written. Pure. */
export function upSummary(farm: LocalFarm, agents: readonly AgentInfo[]): string {
  const rows: string[][] = [
    ['nats', farm.natsUrl, '', ''],
    ['coordinator', farm.server, '', farm.coordinatorMetricsUrl],
  ];
  for (const a of farm.agents) {
    const info = agents.find((x) => x.name === a.name || x.id === a.name);
    rows.push([`agent ${a.name}`, `${a.vramGb} GB`, `class ${info?.vramClass || '?'}`, a.metricsUrl]);
  }
  return renderTable(['', 'ADDRESS/VRAM', '', 'METRICS'], rows).split('\n').slice(1).join('\n');
}

async function up(flags: UpFlags, ctx: CliContext): Promise<void> {
  const coordinatorBin =
    flags.coordinatorBin ?? resolveServiceBin('@tessera/coordinator', 'bin/tessera-coordinator.js');
  const agentBin = flags.agentBin ?? resolveServiceBin('@tessera/agent', 'bin/tessera-agent.js');
  const natsServer =
    flags.nats !== undefined
      ? undefined
      : flags.natsServer !== undefined
        ? findExecutable(basename(flags.natsServer), dirname(flags.natsServer))
        : findNatsServer();
  if (flags.nats === undefined && natsServer === null) throw new Error(natsMissingMessage(flags.natsServer));
  const image = flags.input === undefined ? baboonPng() : await readInput('--input', flags.input);
  const outDir = resolve(flags.out);
  const logsDir = join(outDir, 'logs');
  await mkdir(logsDir, { recursive: true });
  const agentMetricsPorts: number[] = [];
  for (let i = 0; i < flags.agents; i++) agentMetricsPorts.push(await freePort());

  ctx.err(
    `tessera up: starting ${flags.nats === undefined ? 'nats-server, ' : ''}a coordinator and ${flags.agents} agents; logs in ${shown(logsDir)}/`,
  );
  const farm = await LocalFarm.start(
    {
      agents: flags.agents,
      logsDir,
      natsUrl: flags.nats,
      natsServer: natsServer ?? undefined,
      natsPort: flags.natsPort ?? (await freePort()),
      grpcPort: flags.grpc ?? (await preferredOrFreePort(50051)),
      metricsPort: flags.metricsPort ?? (await freePort()),
      consolePort: flags.console ? (flags.consolePort ?? (await preferredOrFreePort(8080))) : undefined,
      agentMetricsPorts,
      coordinatorBin,
      agentBin,
    },
    ctx.signal,
  );
  const client = new TesseraClient(farm.server, { deadlineMs: 30_000 });
  try {
    const agents = await farm.race(waitForAgents(client, flags.agents, flags.startTimeout * 1000, ctx.signal));
    ctx.err(
      `tessera up: NATS at ${farm.natsUrl}; coordinator at ${farm.server} with ${agents.length} agents (${agents.map((a) => a.vramClass).join(', ')})`,
    );
    if (farm.consoleUrl) ctx.out(`console ${farm.consoleUrl}`);
    const job = await farm.race(
      client.submitUpscale(
        { image, model: flags.model, tile: flags.tile, name: `demo ${flags.input ?? 'baboon'}` },
        { signal: ctx.signal },
      ),
    );
    ctx.err(`tessera up: demo job ${job.id}: ${flags.model} on ${flags.input ?? 'the baboon photo'}`);
    const final = await farm.race(watchWithProgress(client, job, ctx));
    if (final.state !== JobState.JOB_STATE_SUCCEEDED) throw new JobNotSucceededError(final);
    const file = join(outDir, demoOutputName(flags.input, flags.model, final.outputContentType || undefined));
    const written = await farm.race(client.downloadOutput(final.id, file, { signal: ctx.signal }));
    const seen = await client.listAgents({}, { signal: ctx.signal }).catch(() => agents);
    const full = await client.getJob(final.id, { signal: ctx.signal }).catch(() => final);
    ctx.out(
      `output  ${shown(written.file)} (${final.outputWidth}x${final.outputHeight}, ${formatBytes(written.bytes)}, sha256 ${written.sha256})`,
    );
    ctx.out(finalLine(final));
    if (full.shards.length > 0) ctx.out(`shards  ${shardPlacement(full)}`);
    ctx.out(upSummary(farm, seen));
    ctx.out(`logs    ${shown(logsDir)}/`);
    if (flags.keep) {
      ctx.err(
        `tessera up: serving; try \`tessera --server ${farm.server} agents\`; attach another agent with \`tessera-agent --nats ${farm.natsUrl} --metrics 127.0.0.1:0\`. Ctrl-C stops the farm.`,
      );
      if (!ctx.signal.aborted) await farm.race(once(ctx.signal, 'abort').then(() => undefined));
    }
  } catch (err) {
    if (err instanceof FarmChildExitedError) {
      ctx.err(`tessera up: ${err.message}; last lines of ${shown(err.logFile)}:`);
      ctx.err(err.logTail === '' ? '  (empty log)' : err.logTail.replace(/^/gm, '  '));
    } else if (!ctx.signal.aborted) {
      ctx.err(`tessera up: logs are in ${shown(logsDir)}/`);
    }
    throw err;
  } finally {
    client.close();
    ctx.err('tessera up: stopping the farm');
    await farm.stop();
  }
}

/** Adds `up`, the local farm that `npm start` runs. */
export function addUpCommand(program: Command, ctx: CliContext): void {
  program
    .command('up')
    .description('run a local farm (nats-server, coordinator, agents), upscale a demo photo, then stop')
    .addOption(
      valueOption('--agents <n>', 'agents to start (VRAM 6, 8, 24 GB, repeating)', 'TESSERA_AGENTS')
        .default(3)
        .argParser(intArg(1, 64)),
    )
    .addOption(flagOption('--keep', 'keep serving after the demo until Ctrl-C', 'TESSERA_KEEP'))
    .addOption(valueOption('--out <dir>', 'where the demo output and logs/ go', 'TESSERA_OUT_DIR').default('./out'))
    .addOption(
      valueOption('--nats <url>', 'use this NATS JetStream server instead of starting one', 'TESSERA_NATS_URL'),
    )
    .addOption(
      valueOption(
        '--nats-server <file>',
        'the nats-server binary to start (default: found on PATH, then in /usr/sbin, /usr/local/sbin, /sbin, /usr/local/bin, /opt/homebrew/bin)',
        'TESSERA_NATS_SERVER',
      ),
    )
    .addOption(
      valueOption(
        '--nats-port <port>',
        'port of the started nats-server (default: free)',
        'TESSERA_NATS_PORT',
      ).argParser(intArg(1, 65535)),
    )
    .addOption(
      valueOption('--grpc <port>', 'coordinator gRPC port (default: 50051 if free)', 'TESSERA_GRPC_PORT').argParser(
        intArg(1, 65535),
      ),
    )
    .addOption(
      valueOption(
        '--metrics-port <port>',
        'coordinator metrics port (default: free)',
        'TESSERA_METRICS_PORT',
      ).argParser(intArg(1, 65535)),
    )
    .addOption(
      valueOption(
        '--console-port <port>',
        'port of the web console (default: 8080 if free)',
        'TESSERA_CONSOLE_PORT',
      ).argParser(intArg(1, 65535)),
    )
    .addOption(new Option('--no-console', 'do not serve the web console'))
    .addOption(valueOption('--input <img>', 'demo input image (default: the baboon photo)', 'TESSERA_INPUT'))
    .addOption(valueOption('--model <id>', 'demo upscaler model', 'TESSERA_MODEL').default('esrgan-slim-x4'))
    .addOption(
      valueOption('--tile <px>', 'demo tile side in input pixels (0 = planner)', 'TESSERA_TILE')
        .default(64)
        .argParser(intArg(0)),
    )
    .addOption(
      valueOption('--start-timeout <seconds>', 'how long the farm may take to come up', 'TESSERA_START_TIMEOUT')
        .default(120)
        .argParser(intArg(1)),
    )
    .addOption(
      valueOption(
        '--coordinator-bin <file>',
        'coordinator script (default: @tessera/coordinator)',
        'TESSERA_COORDINATOR_BIN',
      ).hideHelp(),
    )
    .addOption(
      valueOption('--agent-bin <file>', 'agent script (default: @tessera/agent)', 'TESSERA_AGENT_BIN').hideHelp(),
    )
    .action((flags: UpFlags) => up(flags, ctx));
}
