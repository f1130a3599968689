/** `tessera-agent`: run an agent, or `tessera-agent run upscale` for one pass without a farm. */
import { availableParallelism } from 'node:os';
import { Command, Option } from 'commander';
import {
  SD_SCHEDULER_NAMES,
  txt2imgFile,
  upscaleImageFile,
  UPSCALER_IDS,
  type ControlPreprocessor,
} from '@tessera/engine';
import { deriveStageSeed } from '@tessera/protocol';
import { createLogger, SERVICE_ENV_HELP } from '@tessera/runtime';
import { AGENT_VERSION, startAgent } from './main.js';
import { compileAgentOptions } from './options.js';

/** Commander accumulator for repeatable options. */
const collect = (v: string, prev: string[]) => [...prev, v];

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
  .addOption(
    new Option('--heartbeat-ms <ms>', 'heartbeat interval')
      .env('TESSERA_HEARTBEAT_MS')
      .argParser(Number)
      .default(compileAgentOptions({}, 'agent').heartbeatMs),
  )
  .addOption(
    new Option('--hardware-table <file>', 'hardware table YAML (for class labels)').env('TESSERA_HARDWARE_TABLE'),
  )
  .addOption(
    new Option('--execution-provider <ep>', 'auto, cpu, cuda or webgpu (the GPU through Vulkan; no CUDA download)')
      .env('TESSERA_EXECUTION_PROVIDER')
      .choices(['auto', 'cpu', 'cuda', 'webgpu'])
      .default('auto'),
  )
  .version(AGENT_VERSION)
  .addHelpText('after', SERVICE_ENV_HELP)
  .showHelpAfterError()
  // The agent's options are read before a subcommand only. Without this, commander takes
  // `run upscale --threads 2` (and --models, --execution-provider) as the *agent's* options, which
  // the run commands define too, so the single pass silently ran with onnxruntime's default threads,
  // the default model cache and the CPU provider whatever was asked (issue 16 part 4).
  .enablePositionalOptions()
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
  .addOption(localThreads())
  .addOption(new Option('--models <dir>', 'model cache directory').env('TESSERA_MODEL_CACHE'))
  .addOption(localExecutionProvider())
  .action(async (o) => {
    try {
      const threads = o.threads ?? availableParallelism();
      const r = await upscaleImageFile(o.input, o.output, o.model, {
        intraOpThreads: threads,
        cacheDir: o.models,
        executionProvider: o.executionProvider,
      });
      process.stdout.write(`${JSON.stringify({ ...r, threads })}\n`);
    } catch (e) {
      process.stderr.write(`tessera-agent run upscale: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    }
  });

run
  .command('txt2img')
  .description(
    'generate one image with a model directory (SD on the Optimum ONNX layout; Stable Cascade, Hunyuan-DiT: docs/model-export.md); img2img with --image',
  )
  .requiredOption(
    '--model <dir>',
    'model directory (model_index.json at its root): Optimum ONNX SD layout, a Stable Cascade prior, or Hunyuan-DiT',
  )
  .requiredOption('--prompt <text>', 'prompt')
  .requiredOption('--output <file>', 'output PNG')
  .option('--negative <text>', 'negative prompt')
  .addOption(
    new Option('--steps <n>', "denoising steps (default: the pipeline's: 50, SD3 28, Cascade prior 20)").argParser(
      Number,
    ),
  )
  .addOption(new Option('--seed <n>', 'seed (torch CPU generator semantics)').argParser(Number).default(0))
  .addOption(new Option('--guidance <g>', 'classifier-free guidance scale (≤ 1 disables CFG)').argParser(Number))
  .addOption(
    new Option('--width <px>', 'image width, multiple of 8 (16 for SD3 / Hunyuan-DiT, 128 for Cascade)').argParser(
      Number,
    ),
  )
  .addOption(
    new Option('--height <px>', 'image height, multiple of 8 (16 for SD3 / Hunyuan-DiT, 128 for Cascade)').argParser(
      Number,
    ),
  )
  .option('--image <img>', 'img2img: input image (PNG, JPEG, WebP, …)')
  .addOption(new Option('--strength <s>', 'img2img: fraction of the steps to run, in (0, 1]').argParser(Number))
  .addOption(new Option('--scheduler <name>', "override the model's scheduler").choices([...SD_SCHEDULER_NAMES]))
  .option(
    '--decoder <dir>',
    'Stable Cascade (--model is the prior, stage C): the decoder (stage B) directory; default <model>-b',
  )
  .option('--vqgan <dir>', 'Stable Cascade: the VQGAN (stage A) directory; default <model>-a')
  .option('--vae <dir>', "VAE directory (vae_decoder/, vae_encoder/) replacing the model's, e.g. kl-f8-anime2")
  .option('--controlnet <dir>', 'ControlNet directory (SD 1.5 / SDXL); repeat for several', collect, [])
  .option('--control-image <img>', 'control image of the ControlNet at the same position; repeatable', collect, [])
  .option('--control-preprocess <kind>', 'none | canny | blur, per ControlNet (default none)', collect, [])
  .option('--control-scale <s>', 'conditioning scale per ControlNet (default 1)', collect, [])
  .option('--control-start <f>', 'guidance start per ControlNet (default 0)', collect, [])
  .option('--control-end <f>', 'guidance end per ControlNet (default 1)', collect, [])
  .addOption(localExecutionProvider())
  .addOption(localThreads())
  .action(async (o) => {
    const ac = new AbortController();
    process.once('SIGINT', () => ac.abort());
    try {
      // A Stable Cascade prior runs its whole C → B → A chain, stages B and A seeded as the farm seeds them.
      const cascade = {
        decoderDir: o.decoder,
        vqganDir: o.vqgan,
        decoderSeed: deriveStageSeed(o.seed, 'b', 1),
        vqganSeed: deriveStageSeed(o.seed, 'a', 2),
      };
      const cn = o.controlnet as string[];
      if ((o.controlImage as string[]).length !== cn.length)
        throw new Error('give one --control-image per --controlnet');
      const num = (list: string[], i: number) => (list[i] === undefined ? undefined : Number(list[i]));
      const controlNets = cn.map((dir, i) => ({
        dir,
        imagePath: (o.controlImage as string[])[i],
        preprocess: ((o.controlPreprocess as string[])[i] ?? 'none') as ControlPreprocessor,
        scale: num(o.controlScale, i),
        guidanceStart: num(o.controlStart, i),
        guidanceEnd: num(o.controlEnd, i),
      }));
      const r = await txt2imgFile({
        cascade,
        vaeDir: o.vae,
        ...(controlNets.length ? { controlNets } : {}),
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
        intraOpThreads: o.threads ?? availableParallelism(),
        signal: ac.signal,
      });
      process.stdout.write(`${JSON.stringify(r)}\n`);
    } catch (e) {
      process.stderr.write(`tessera-agent run txt2img: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    }
  });

await program.parseAsync();

/**
 * onnxruntime threads of a local `run`: default every logical CPU, explicitly (onnxruntime's own default
 * counts physical cores, which some VMs report as one, and pins its threads to cores).
 */
function localThreads(): Option {
  return new Option('--threads <n>', 'onnxruntime threads (default: every logical CPU)')
    .env('TESSERA_THREADS')
    .argParser(Number);
}

/** The execution provider of a local `run` (explicit; no GPU detection). */
function localExecutionProvider(): Option {
  return new Option('--execution-provider <ep>', 'onnxruntime execution provider')
    .choices(['cpu', 'cuda', 'webgpu'])
    .default('cpu');
}
