/** `tessera submit image`, `tessera submit video` and `tessera submit video-upscale`. */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { SubmitImageRequest, VideoFormatName } from '../requests.js';
import { collectControlNet, type ControlNetArg } from './controlnet-arg.js';
import { withClient, type CliContext } from './context.js';
import { finishSubmission } from './jobs.js';
import { flagOption, intArg, readInput, UsageError, valueOption } from './options.js';

const FORMATS: VideoFormatName[] = ['webp', 'mp4', 'png-frames'];

function formatsArg(value: string): VideoFormatName[] {
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const f of list)
    if (!FORMATS.includes(f as VideoFormatName))
      throw new UsageError(`--formats: unknown format ${JSON.stringify(f)} (use ${FORMATS.join(', ')})`);
  return list as VideoFormatName[];
}

interface WaitFlags {
  wait: boolean;
  output?: string;
  json: boolean;
}

interface VideoFlags extends WaitFlags {
  image: string;
  keyframe?: string[];
  model: string;
  frames: number;
  mode: 'keyframed' | 'chained';
  fps?: number;
  motion?: number;
  noiseAug?: number;
  steps?: number;
  minGuidance?: number;
  maxGuidance?: number;
  framesPerBatch?: number;
  overlap?: number;
  formats?: VideoFormatName[];
  width?: number;
  height?: number;
  decodeChunk?: number;
  seed?: number;
  priority?: number;
  name?: string;
}

interface VideoUpscaleFlags extends WaitFlags {
  clip?: string;
  framesDir?: string;
  model: string;
  framesPerBatch?: number;
  formats?: VideoFormatName[];
  fps?: number;
  seed?: number;
  priority?: number;
  name?: string;
}

const floatArg = (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`expected a number, got ${JSON.stringify(v)}`);
  return n;
};

interface ImageFlags extends WaitFlags {
  model: string;
  prompt: string;
  negative?: string;
  width?: number;
  height?: number;
  steps?: number;
  guidance?: number;
  image?: string;
  strength?: number;
  scheduler?: string;
  refine: boolean;
  highNoiseFrac?: number;
  controlnet?: ControlNetArg[];
  vae?: string;
  seed?: number;
  priority?: number;
  name?: string;
}

/** Adds `image`, `video` and `video-upscale` under `submit`. */
export function addVideoCommands(submit: Command, ctx: CliContext): void {
  const common = (c: Command) =>
    c
      .addOption(
        valueOption(
          '--formats <list>',
          `comma-separated: ${FORMATS.join(', ')} (default webp,png-frames)`,
          'TESSERA_FORMATS',
        ).argParser(formatsArg),
      )
      .addOption(valueOption('--seed <n>', 'job seed', 'TESSERA_SEED').argParser(intArg(0)))
      .addOption(valueOption('--priority <n>', 'higher runs first', 'TESSERA_PRIORITY').argParser(intArg(-1000, 1000)))
      .addOption(valueOption('--name <label>', 'free-form job name', 'TESSERA_JOB_NAME'))
      .addOption(flagOption('--wait', 'wait for the job, with a progress bar', 'TESSERA_WAIT'))
      .addOption(valueOption('--output <file>', 'write the primary output here (implies --wait)', 'TESSERA_OUTPUT'))
      .addOption(flagOption('--json', 'print the job as JSON', 'TESSERA_JSON'));

  submit
    .command('image')
    .description('submit a txt2img (or img2img with --image) job; each pipeline stage runs on an agent of its class')
    .addOption(
      valueOption(
        '--model <id>',
        'sd15, sd21, sdxl, sd35m, cascade, hunyuan-dit-1.2, …',
        'TESSERA_MODEL',
      ).makeOptionMandatory(),
    )
    .addOption(valueOption('--prompt <text>', 'prompt', 'TESSERA_PROMPT').makeOptionMandatory())
    .option('--negative <text>', 'negative prompt')
    .option(
      '--width <px>',
      "width, a multiple of 8; 16 for SD3 / Hunyuan-DiT, 128 for Cascade (default: the model's)",
      intArg(16, 4096),
    )
    .option(
      '--height <px>',
      "height, a multiple of 8; 16 for SD3 / Hunyuan-DiT, 128 for Cascade (default: the model's)",
      intArg(16, 4096),
    )
    .option('--steps <n>', "denoising steps (default: the pipeline's)", intArg(1, 500))
    .option('--guidance <x>', 'classifier-free guidance scale', floatArg)
    .option('--image <img>', 'img2img: the input image')
    .option('--strength <x>', 'img2img: fraction of the schedule to run (default 0.8)', floatArg)
    .option(
      '--scheduler <name>',
      'euler, euler-ancestral, ddim, dpm++2m, flow-match-euler (not for Cascade / Hunyuan-DiT)',
    )
    .addOption(flagOption('--refine', 'SDXL: add the refiner stage', 'TESSERA_REFINE'))
    .option('--high-noise-frac <x>', 'SDXL: where the base hands off to the refiner (default 0.8)', floatArg)
    .option(
      '--controlnet <spec>',
      'SD 1.5 / SDXL: ID=IMAGE[,preprocess=canny|blur|none][,scale=S][,start=F][,end=F]; repeat for several',
      collectControlNet,
    )
    .addOption(valueOption('--vae <id>', "a VAE replacing the model's, e.g. kl-f8-anime2", 'TESSERA_VAE'))
    .addOption(valueOption('--seed <n>', 'job seed', 'TESSERA_SEED').argParser(intArg(0)))
    .addOption(valueOption('--priority <n>', 'higher runs first', 'TESSERA_PRIORITY').argParser(intArg(-1000, 1000)))
    .addOption(valueOption('--name <label>', 'free-form job name', 'TESSERA_JOB_NAME'))
    .addOption(flagOption('--wait', 'wait for the job, with a progress bar', 'TESSERA_WAIT'))
    .addOption(valueOption('--output <file>', 'write the PNG here (implies --wait)', 'TESSERA_OUTPUT'))
    .addOption(flagOption('--json', 'print the job as JSON', 'TESSERA_JSON'))
    .action(async (flags: ImageFlags, cmd: Command) => {
      const initImage = flags.image ? await readInput('--image', flags.image) : undefined;
      const controlNets: NonNullable<SubmitImageRequest['controlNets']> = [];
      for (const { imagePath, ...c } of flags.controlnet ?? [])
        controlNets.push({ ...c, image: await readInput('--controlnet', imagePath) });
      await withClient(cmd, async (client) => {
        const job = await client.submitImage(
          {
            model: flags.model,
            prompt: flags.prompt,
            negativePrompt: flags.negative,
            width: flags.width,
            height: flags.height,
            steps: flags.steps,
            guidanceScale: flags.guidance,
            initImage,
            strength: flags.strength,
            scheduler: flags.scheduler,
            refine: flags.refine,
            highNoiseFrac: flags.highNoiseFrac,
            ...(controlNets.length ? { controlNets } : {}),
            vae: flags.vae,
            seed: flags.seed,
            priority: flags.priority,
            name: flags.name,
          },
          { signal: ctx.signal },
        );
        await finishSubmission(client, job, flags, ctx);
      });
    });

  common(
    submit
      .command('video')
      .description('submit an image-to-video job (SVD / SVD-XT) in frame batches; prints the job id')
      .addOption(
        valueOption('--image <img>', 'conditioning image (the first keyframe)', 'TESSERA_IMAGE').makeOptionMandatory(),
      )
      .option('--keyframe <img...>', 'further keyframes (keyframed mode): keyframe i conditions batch i')
      .addOption(valueOption('--model <id>', 'svd-xt or svd', 'TESSERA_MODEL').default('svd-xt'))
      .addOption(
        valueOption('--frames <n>', 'frames in the clip', 'TESSERA_FRAMES').argParser(intArg(1)).makeOptionMandatory(),
      )
      .addOption(
        valueOption(
          '--mode <mode>',
          'keyframed (parallel batches) or chained (each batch from the last frame of the one before)',
          'TESSERA_MODE',
        )
          .choices(['keyframed', 'chained'])
          .default('keyframed'),
      )
      .option('--fps <n>', "frames per second (default: the model's)", intArg(1, 120))
      .option('--motion <n>', 'motion_bucket_id (default 127)', intArg(1, 1023))
      .option('--noise-aug <x>', 'noise_aug_strength (default 0.02)', floatArg)
      .option('--steps <n>', 'denoising steps (default 25)', intArg(1, 500))
      .option('--min-guidance <x>', 'guidance scale of the first frame (default 1)', floatArg)
      .option('--max-guidance <x>', 'guidance scale of the last frame (default 3)', floatArg)
      .option('--frames-per-batch <n>', "frames per batch (default: the model's, 25 for svd-xt)", intArg(1))
      .option('--overlap <n>', 'frames shared by consecutive batches (cross-faded)', intArg(0))
      .option('--width <px>', 'output width, a multiple of 8 (default 1024)', intArg(8, 2048))
      .option('--height <px>', 'output height, a multiple of 8 (default 576)', intArg(8, 2048))
      .option('--decode-chunk <n>', 'pin the VAE decode chunk (default: per agent VRAM class)', intArg(1)),
  ).action(async (flags: VideoFlags, cmd: Command) => {
    const image = await readInput('--image', flags.image);
    const keyframes = await Promise.all((flags.keyframe ?? []).map((f) => readInput('--keyframe', f)));
    await withClient(cmd, async (client) => {
      const job = await client.submitVideo(
        {
          image,
          keyframes,
          model: flags.model,
          totalFrames: flags.frames,
          mode: flags.mode,
          fps: flags.fps,
          motionBucketId: flags.motion,
          noiseAugStrength: flags.noiseAug,
          steps: flags.steps,
          minGuidanceScale: flags.minGuidance,
          maxGuidanceScale: flags.maxGuidance,
          framesPerBatch: flags.framesPerBatch,
          overlap: flags.overlap,
          formats: flags.formats,
          width: flags.width,
          height: flags.height,
          decodeChunk: flags.decodeChunk,
          seed: flags.seed,
          priority: flags.priority,
          name: flags.name,
        },
        { signal: ctx.signal },
      );
      await finishSubmission(client, job, flags, ctx);
    });
  });

  common(
    submit
      .command('video-upscale')
      .description('submit a clip through an upscaler, frames in batches; prints the job id')
      .option('--clip <file>', 'input clip: animated WebP/GIF, or MP4 when the coordinator has ffmpeg')
      .option('--frames-dir <dir>', 'or a directory of frames (PNG, …), in name order')
      .addOption(valueOption('--model <id>', 'upscaler model', 'TESSERA_MODEL').default('esrgan-slim-x4'))
      .option('--frames-per-batch <n>', 'frames per shard (default: chosen from the clip)', intArg(1))
      .option('--fps <n>', 'output frame rate when the input has none', intArg(1, 120)),
  ).action(async (flags: VideoUpscaleFlags, cmd: Command) => {
    if (!flags.clip === !flags.framesDir) throw new UsageError('give exactly one of --clip or --frames-dir');
    const clip = flags.clip ? await readInput('--clip', flags.clip) : undefined;
    let frames: Buffer[] | undefined;
    if (flags.framesDir) {
      const dir = flags.framesDir;
      const names = (
        await readdir(dir).catch(() => {
          throw new UsageError(`cannot read --frames-dir ${JSON.stringify(dir)}`);
        })
      )
        .filter((n) => !n.startsWith('.'))
        .sort();
      frames = await Promise.all(names.map((n) => readInput('--frames-dir', join(dir, n))));
    }
    await withClient(cmd, async (client) => {
      const job = await client.submitVideoUpscale(
        {
          clip,
          frames,
          model: flags.model,
          framesPerBatch: flags.framesPerBatch,
          formats: flags.formats,
          fps: flags.fps,
          seed: flags.seed,
          priority: flags.priority,
          name: flags.name,
        },
        { signal: ctx.signal },
      );
      await finishSubmission(client, job, flags, ctx);
    });
  });
}
