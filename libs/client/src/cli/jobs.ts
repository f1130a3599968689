import type { Command } from 'commander';
import { JobState, type Job } from '@tessera/protocol';
import type { TesseraClient } from '../client.js';
import type { ImageFormatName, OutputSelector } from '../requests.js';
import { jobToJson, watchEventToJson } from '../format/json.js';
import { formatBytes, formatJobStatus, formatJobsTable } from '../format/table.js';
import { jobStateName } from '../states.js';
import { toJsonText, withClient, type CliContext } from './context.js';
import { flagOption, intArg, readInput, UsageError, valueOption } from './options.js';
import { JobProgress } from './progress.js';
import { addVideoCommands } from './video.js';

/** A job that ended other than SUCCEEDED while the CLI waited for it: exit status 1. */
export class JobNotSucceededError extends Error {
  override readonly name = 'JobNotSucceededError';
  constructor(readonly job: Job) {
    super(`job ${job.id} ${jobStateName(job.state)}${job.error !== '' ? `: ${job.error}` : ''}`);
  }
}

/** The final-state line `watch` and `submit --wait` print. Pure. */
export function finalLine(job: Job): string {
  const took =
    job.finishedUnixMs > 0 && job.createdUnixMs > 0
      ? `, ${((job.finishedUnixMs - job.createdUnixMs) / 1000).toFixed(1)} s`
      : '';
  const error = job.error !== '' ? `: ${job.error}` : '';
  return `job ${job.id} ${jobStateName(job.state)} (${job.shardsDone}/${job.shardsTotal} shards${took})${error}`;
}

/** Watches with a progress bar on stderr; resolves to the final job. */
export async function watchWithProgress(client: TesseraClient, job: Job, ctx: CliContext): Promise<Job> {
  const progress = new JobProgress();
  progress.show(job);
  try {
    return await client.waitForJob(job.id, (e) => progress.update(e), { signal: ctx.signal });
  } finally {
    progress.stop();
  }
}

/** Downloads one output of a job (the primary one unless `sel` says otherwise); returns the line to print. */
export async function download(
  client: TesseraClient,
  id: string,
  file: string,
  ctx: CliContext,
  sel: OutputSelector = {},
): Promise<string> {
  const r = await client.downloadOutput(id, file, { signal: ctx.signal, ...sel });
  return `wrote ${r.file} (${formatBytes(r.bytes)}, sha256 ${r.sha256})`;
}

interface SubmitUpscaleFlags {
  input: string;
  model: string;
  tile?: number;
  overlap?: number;
  seed?: number;
  priority?: number;
  name?: string;
  maxAttempts?: number;
  formats?: ImageFormatName[];
  wait: boolean;
  output?: string;
  json: boolean;
}

const IMAGE_FORMATS: ImageFormatName[] = ['png', 'tiff'];

function imageFormatsArg(value: string): ImageFormatName[] {
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const f of list)
    if (!IMAGE_FORMATS.includes(f as ImageFormatName))
      throw new UsageError(`--formats: unknown format ${JSON.stringify(f)} (use ${IMAGE_FORMATS.join(', ')})`);
  return list as ImageFormatName[];
}

async function submitUpscale(flags: SubmitUpscaleFlags, cmd: Command, ctx: CliContext): Promise<void> {
  const image = await readInput('--input', flags.input);
  await withClient(cmd, async (client) => {
    const submitted = await client.submitUpscale(
      {
        image,
        model: flags.model,
        tile: flags.tile,
        overlap: flags.overlap,
        seed: flags.seed,
        priority: flags.priority,
        name: flags.name,
        maxAttempts: flags.maxAttempts,
        formats: flags.formats,
      },
      { signal: ctx.signal },
    );
    await finishSubmission(client, submitted, flags, ctx);
  });
}

/**
 * What every `submit` command does once the job is accepted: print it, or (with --wait / --output)
 * follow it with a progress bar and download its primary output.
 */
export async function finishSubmission(
  client: TesseraClient,
  submitted: Job,
  flags: { wait: boolean; output?: string; json: boolean },
  ctx: CliContext,
): Promise<void> {
  if (!flags.wait && flags.output === undefined) {
    ctx.out(flags.json ? toJsonText(jobToJson(submitted)) : submitted.id);
    return;
  }
  if (!flags.json) ctx.err(`submitted job ${submitted.id}`);
  const final = await watchWithProgress(client, submitted, ctx);
  if (!flags.json) ctx.err(finalLine(final));
  if (final.state !== JobState.JOB_STATE_SUCCEEDED) throw new JobNotSucceededError(final);
  if (flags.output !== undefined) ctx.err(await download(client, final.id, flags.output, ctx));
  ctx.out(flags.json ? toJsonText(jobToJson(await client.getJob(final.id, { signal: ctx.signal }))) : final.id);
}

/** Adds `submit upscale`, `status`, `watch`, `get`, `cancel` and `jobs` to the program. */
export function addJobCommands(program: Command, ctx: CliContext): void {
  const submit = program.command('submit').description('submit a job (see: tessera submit upscale --help)');
  submit
    .command('upscale')
    .description('submit a tiled upscale of an image; prints the job id')
    .addOption(
      valueOption('--input <img>', 'input image (PNG, JPEG, WebP, ...)', 'TESSERA_INPUT').makeOptionMandatory(),
    )
    .addOption(
      valueOption('--model <id>', 'upscaler model, e.g. esrgan-slim-x4', 'TESSERA_MODEL').makeOptionMandatory(),
    )
    .addOption(
      valueOption('--tile <px>', 'core tile side in input pixels (default: planner)', 'TESSERA_TILE').argParser(
        intArg(1),
      ),
    )
    .addOption(
      valueOption('--overlap <px>', 'context per tile side (default: model)', 'TESSERA_OVERLAP').argParser(intArg(0)),
    )
    .addOption(valueOption('--seed <n>', 'job seed', 'TESSERA_SEED').argParser(intArg(0)))
    .addOption(
      valueOption('--priority <n>', 'higher runs first', 'TESSERA_PRIORITY').argParser(intArg(-(2 ** 31), 2 ** 31 - 1)),
    )
    .addOption(valueOption('--name <label>', 'free-form job name', 'TESSERA_JOB_NAME'))
    .addOption(
      valueOption('--max-attempts <n>', 'leases per shard before the job fails', 'TESSERA_MAX_ATTEMPTS').argParser(
        intArg(1),
      ),
    )
    .addOption(
      valueOption(
        '--formats <list>',
        'output formats, comma-separated, the first is the primary output: png, tiff (tiled pyramidal; default png)',
        'TESSERA_IMAGE_FORMATS',
      ).argParser(imageFormatsArg),
    )
    .addOption(flagOption('--wait', 'wait for the job, with a progress bar', 'TESSERA_WAIT'))
    .addOption(valueOption('--output <file>', 'write the result here (implies --wait)', 'TESSERA_OUTPUT'))
    .addOption(flagOption('--json', 'print the job as JSON', 'TESSERA_JSON'))
    .action((flags: SubmitUpscaleFlags, cmd: Command) => submitUpscale(flags, cmd, ctx));
  addVideoCommands(submit, ctx);

  program
    .command('status')
    .description('show a job and its shards (--json: the documented schema)')
    .argument('<job>', 'job id')
    .addOption(flagOption('--json', 'print JSON', 'TESSERA_JSON'))
    .action((id: string, flags: { json: boolean }, cmd: Command) =>
      withClient(cmd, async (client) => {
        const job = await client.getJob(id, { signal: ctx.signal });
        ctx.out(flags.json ? toJsonText(jobToJson(job)) : formatJobStatus(job));
      }),
    );

  program
    .command('watch')
    .description('follow a job until it ends (exit 1 unless it succeeded)')
    .argument('<job>', 'job id')
    .addOption(flagOption('--json', 'print one JSON event per line', 'TESSERA_JSON'))
    .action((id: string, flags: { json: boolean }, cmd: Command) =>
      withClient(cmd, async (client) => {
        let final: Job;
        if (flags.json) {
          final = await client.waitForJob(id, (e) => ctx.out(JSON.stringify(watchEventToJson(e))), {
            signal: ctx.signal,
          });
        } else {
          final = await watchWithProgress(client, await client.getJob(id, { signal: ctx.signal }), ctx);
          ctx.out(finalLine(final));
        }
        if (final.state !== JobState.JOB_STATE_SUCCEEDED) throw new JobNotSucceededError(final);
      }),
    );

  program
    .command('get')
    .description("download a succeeded job's output (checked against its sha256)")
    .argument('<job>', 'job id')
    .addOption(valueOption('--output <file>', 'where to write it (required)', 'TESSERA_OUTPUT').makeOptionMandatory())
    .addOption(
      valueOption(
        '--format <name>',
        'which output: png, tiff, webp, mp4, png-frames (default: the primary one)',
        'TESSERA_FORMAT',
      ),
    )
    .addOption(valueOption('--frame <n>', 'with --format png-frames: the frame', 'TESSERA_FRAME').argParser(intArg(0)))
    .action((id: string, flags: { output: string; format?: string; frame?: number }, cmd: Command) =>
      withClient(cmd, async (client) =>
        ctx.out(await download(client, id, flags.output, ctx, { format: flags.format, frame: flags.frame })),
      ),
    );

  program
    .command('cancel')
    .description('cancel a job (a no-op for a finished one)')
    .argument('<job>', 'job id')
    .action((id: string, _flags: unknown, cmd: Command) =>
      withClient(cmd, async (client) => {
        const job = await client.cancelJob(id, { signal: ctx.signal });
        ctx.out(`job ${job.id} ${jobStateName(job.state)}`);
      }),
    );

  program
    .command('jobs')
    .description('list jobs, newest first')
    .addOption(flagOption('--json', 'print a JSON array of jobs', 'TESSERA_JSON'))
    .addOption(valueOption('--limit <n>', 'at most this many (default 100)', 'TESSERA_LIMIT').argParser(intArg(1)))
    .action((flags: { json: boolean; limit?: number }, cmd: Command) =>
      withClient(cmd, async (client) => {
        const jobs = await client.listJobs({ limit: flags.limit ?? 0 }, { signal: ctx.signal });
        ctx.out(flags.json ? toJsonText(jobs.map(jobToJson)) : formatJobsTable(jobs));
      }),
    );
}
