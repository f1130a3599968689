/** `tessera-agent`: run an agent, or `tessera-agent run upscale` for one pass without a farm. */
import { Command, Option } from 'commander';
import { upscaleImageFile, UPSCALER_IDS } from '@tessera/engine';
import { createLogger } from '@tessera/runtime';
import { startAgent } from './main.js';

const program = new Command('tessera-agent')
  .description(
    'Tessera GPU agent: advertises its VRAM class, pulls shards from the coordinator over NATS, runs them with onnxruntime.',
  )
  .addOption(
    new Option('--nats <url>', 'NATS server URL(s), comma-separated')
      .env('TESSERA_NATS_URL')
      .default('nats://127.0.0.1:4222'),
  )
  .addOption(
    new Option('--vram-gb <n>', 'advertise this much VRAM (GB) instead of what nvidia-smi reports')
      .env('TESSERA_VRAM_GB')
      .argParser(Number),
  )
  .addOption(new Option('--name <id>', 'agent name (default: host name)').env('TESSERA_AGENT_NAME'))
  .addOption(new Option('--models <dir>', 'model cache directory').env('TESSERA_MODEL_CACHE'))
  .addOption(
    new Option('--metrics <host:port>', 'HTTP address for /metrics, /healthz, /readyz ("" disables)')
      .env('TESSERA_METRICS_ADDR')
      .default('0.0.0.0:9465'),
  )
  .addOption(new Option('--farm <prefix>', 'NATS subject and bucket prefix').env('TESSERA_FARM').default('tessera'))
  .addOption(new Option('--threads <n>', 'onnxruntime threads per slot').env('TESSERA_THREADS').argParser(Number))
  .addOption(new Option('--heartbeat-ms <ms>', 'heartbeat interval').env('TESSERA_HEARTBEAT_MS').argParser(Number))
  .addOption(
    new Option('--hardware-table <file>', 'hardware table YAML (for class labels)').env('TESSERA_HARDWARE_TABLE'),
  )
  .addOption(
    new Option('--execution-provider <ep>', 'auto, cpu or cuda')
      .env('TESSERA_EXECUTION_PROVIDER')
      .choices(['auto', 'cpu', 'cuda'])
      .default('auto'),
  )
  .showHelpAfterError()
  .action(async (o) => {
    const log = createLogger('agent');
    try {
      const agent = await startAgent(
        {
          natsUrl: o.nats,
          vramGb: o.vramGb,
          name: o.name,
          modelsDir: o.models,
          metricsAddr: o.metrics,
          farm: o.farm,
          threads: o.threads,
          heartbeatMs: o.heartbeatMs,
          hardwareTable: o.hardwareTable,
          executionProvider: o.executionProvider,
        },
        log,
      );
      let signals = 0;
      const onSignal = (sig: string) => {
        if (++signals > 1) {
          log.warn({ signal: sig }, 'second signal: exiting now; the coordinator will requeue unfinished work');
          process.exit(1);
        }
        log.info({ signal: sig }, 'draining: finishing the current shard (signal again to exit now)');
        agent.drain().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.on('SIGTERM', () => onSignal('SIGTERM'));
      process.on('SIGINT', () => onSignal('SIGINT'));
    } catch (e) {
      process.stderr.write(`tessera-agent: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    }
  });

program
  .command('run')
  .description('run one job locally, without a farm')
  .command('upscale')
  .description('upscale one image in a single pass')
  .requiredOption('--input <img>', 'input image (PNG, JPEG, WebP, …)')
  .requiredOption('--output <file>', 'output PNG')
  .addOption(new Option('--model <id>', 'upscaler model').choices([...UPSCALER_IDS]).default('esrgan-slim-x4'))
  .addOption(new Option('--threads <n>', 'onnxruntime threads').argParser(Number))
  .addOption(new Option('--models <dir>', 'model cache directory').env('TESSERA_MODEL_CACHE'))
  .action(async (o) => {
    try {
      const r = await upscaleImageFile(o.input, o.output, o.model, { intraOpThreads: o.threads, cacheDir: o.models });
      process.stdout.write(`${JSON.stringify(r)}\n`);
    } catch (e) {
      process.stderr.write(`tessera-agent run upscale: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    }
  });

await program.parseAsync();
