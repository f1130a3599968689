/** `tessera-agent`: run an agent, or `tessera-agent run upscale` for one pass without a farm. */
import { Command, Option } from 'commander';
import { SD_SCHEDULER_NAMES, txt2imgFile, upscaleImageFile, UPSCALER_IDS } from '@tessera/engine';
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
  .addOption(
    new Option(
      '--models <dir>',
      'model directory: cache of models fetched from the farm store, plus hand-provisioned <id>/ directories',
    ).env('TESSERA_MODEL_CACHE'),
  )
  .addOption(
    new Option('--model-cache-gb <n>', 'bound of the fetched models in --models (LRU idle eviction; 0 = unbounded)')
      .env('TESSERA_MODEL_CACHE_GB')
      .argParser(Number),
  )
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
    new Option('--execution-provider <ep>', 'auto, cpu, cuda or webgpu (the GPU through Vulkan; no CUDA download)')
      .env('TESSERA_EXECUTION_PROVIDER')
      .choices(['auto', 'cpu', 'cuda', 'webgpu'])
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
          modelCacheGb: o.modelCacheGb,
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

const run = program.command('run').description('run one job locally, without a farm');
run
  .command('upscale')
  .description('upscale one image in a single pass')
  .requiredOption('--input <img>', 'input image (PNG, JPEG, WebP, …)')
  .requiredOption('--output <file>', 'output PNG')
  .addOption(new Option('--model <id>', 'upscaler model').choices([...UPSCALER_IDS]).default('esrgan-slim-x4'))
  .addOption(new Option('--threads <n>', 'onnxruntime threads').argParser(Number))
  .addOption(new Option('--models <dir>', 'model cache directory').env('TESSERA_MODEL_CACHE'))
  .addOption(localExecutionProvider())
  .action(async (o) => {
    try {
      const r = await upscaleImageFile(o.input, o.output, o.model, {
        intraOpThreads: o.threads,
        cacheDir: o.models,
        executionProvider: o.executionProvider,
      });
      process.stdout.write(`${JSON.stringify(r)}\n`);
    } catch (e) {
      process.stderr.write(`tessera-agent run upscale: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    }
  });

run
  .command('txt2img')
  .description('generate one image with a Stable Diffusion model directory (Optimum ONNX layout); img2img with --image')
  .requiredOption(
    '--model <dir>',
    'model directory in the Hugging Face Optimum ONNX layout (model_index.json at its root)',
  )
  .requiredOption('--prompt <text>', 'prompt')
  .requiredOption('--output <file>', 'output PNG')
  .option('--negative <text>', 'negative prompt')
  .addOption(new Option('--steps <n>', "denoising steps (default: the pipeline's: 50, SD3 28)").argParser(Number))
  .addOption(new Option('--seed <n>', 'seed (torch CPU generator semantics)').argParser(Number).default(0))
  .addOption(new Option('--guidance <g>', 'classifier-free guidance scale (≤ 1 disables CFG)').argParser(Number))
  .addOption(new Option('--width <px>', 'image width, multiple of 8 (16 for SD3)').argParser(Number))
  .addOption(new Option('--height <px>', 'image height, multiple of 8 (16 for SD3)').argParser(Number))
  .option('--image <img>', 'img2img: input image (PNG, JPEG, WebP, …)')
  .addOption(new Option('--strength <s>', 'img2img: fraction of the steps to run, in (0, 1]').argParser(Number))
  .addOption(new Option('--scheduler <name>', "override the model's scheduler").choices([...SD_SCHEDULER_NAMES]))
  .addOption(localExecutionProvider())
  .addOption(new Option('--threads <n>', 'onnxruntime threads').argParser(Number))
  .action(async (o) => {
    const ac = new AbortController();
    process.once('SIGINT', () => ac.abort());
    try {
      const r = await txt2imgFile({
        modelDir: o.model,
        outputPath: o.output,
        prompt: o.prompt,
        negativePrompt: o.negative,
        steps: o.steps,
        seed: o.seed,
        guidanceScale: o.guidance,
        width: o.width,
        height: o.height,
        imagePath: o.image,
        strength: o.strength,
        scheduler: o.scheduler,
        executionProvider: o.executionProvider,
        intraOpThreads: o.threads,
        signal: ac.signal,
      });
      process.stdout.write(`${JSON.stringify(r)}\n`);
    } catch (e) {
      process.stderr.write(`tessera-agent run txt2img: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    }
  });

await program.parseAsync();

/** The execution provider of a local `run` (explicit; no GPU detection). */
function localExecutionProvider(): Option {
  return new Option('--execution-provider <ep>', 'onnxruntime execution provider')
    .choices(['cpu', 'cuda', 'webgpu'])
    .default('cpu');
}
