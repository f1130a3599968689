/** `tessera models push | ls | rm | make-tiny`: the farm's model store (issue 10). */
import type { Command } from 'commander';
import type { ListModelsResponse } from '@tessera/protocol';
import { formatBytes, renderTable } from '../format/table.js';
import { TesseraModels, type ModelPushProgress } from '../models.js';
import { tlsOptionsOf, toJsonText, type CliContext, type GlobalOptions } from './context.js';
import { flagOption, UsageError } from './options.js';

/** Families `make-tiny` writes; names are the hardware table's model ids. */
export const TINY_FAMILIES = [
  'sd15',
  'sd21',
  'sdxl',
  'sdxl-refiner',
  'sd35m',
  'cascade',
  'cascade-b',
  'cascade-a',
  'hunyuan-dit-1.2',
  'svd-xt',
  'svd',
] as const;

/** Writes the tiny test model of `family` (real I/O signatures, random small weights) into `dir`. */
export async function writeTinyModel(family: string, dir: string): Promise<void> {
  const engine = await import('@tessera/engine');
  const sd: Record<string, Parameters<typeof engine.writeTinySdModel>[1]['family']> = {
    sd15: 'sd15',
    sd21: 'sd21',
    sdxl: 'sdxl-base',
    'sdxl-refiner': 'sdxl-refiner',
    sd35m: 'sd3',
  };
  // Stable Cascade: one model per stage, as the farm runs them (prior C, decoder B, VQGAN A).
  const cascade = { cascade: 'prior', 'cascade-b': 'decoder', 'cascade-a': 'vqgan' } as const;
  if (sd[family]) await engine.writeTinySdModel(dir, { family: sd[family] });
  else if (family in cascade)
    await engine.writeTinyCascadeModel(dir, { stage: cascade[family as keyof typeof cascade] });
  else if (family === 'hunyuan-dit-1.2') await engine.writeTinyHunyuanModel(dir);
  else if (family === 'svd-xt' || family === 'svd') await engine.writeTinySvdModel(dir);
  else throw new UsageError(`unknown family ${JSON.stringify(family)} (one of ${TINY_FAMILIES.join(', ')})`);
}

/** The stable `models ls --json` document. Pure. */
export function modelsToJson(r: ListModelsResponse): unknown {
  return {
    models: r.models.map((m) => ({
      id: m.id,
      digest: m.digest,
      files: m.files,
      totalBytes: m.totalBytes,
      uniqueBytes: m.uniqueBytes,
      pushedAt: m.pushedAt,
      holders: [...m.holders],
    })),
    totalBytes: r.totalBytes,
    storedBytes: r.storedBytes,
  };
}

/** The `models ls` table. Pure. */
export function formatModelsTable(r: ListModelsResponse): string {
  const rows = r.models.map((m) => [
    m.id,
    m.digest.replace(/^sha256:/, '').slice(0, 12),
    String(m.files),
    formatBytes(m.totalBytes),
    formatBytes(m.uniqueBytes),
    m.holders.join(',') || '-',
  ]);
  return (
    renderTable(['MODEL', 'DIGEST', 'FILES', 'TOTAL', 'UNIQUE', 'HELD BY'], rows) +
    `\n${r.models.length} model(s), ${formatBytes(r.totalBytes)} in total, ${formatBytes(r.storedBytes)} stored`
  );
}

function modelsClient(cmd: Command): TesseraModels {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  return new TesseraModels(g.server, { token: g.token, tls: tlsOptionsOf(g), deadlineMs: g.timeout * 1000 });
}

async function withModels<T>(cmd: Command, fn: (m: TesseraModels) => Promise<T>): Promise<T> {
  const m = modelsClient(cmd);
  try {
    return await fn(m);
  } finally {
    m.close();
  }
}

/** One progress line per 5 % (and per phase change) on stderr. */
function pushProgress(ctx: CliContext): (p: ModelPushProgress) => void {
  let last = '';
  return (p) => {
    const line =
      p.phase === 'hash'
        ? `hashing: ${formatBytes(p.doneBytes)}`
        : `uploading: ${Math.floor((p.doneBytes / Math.max(p.totalBytes, 1)) * 20) * 5}% of ${formatBytes(p.totalBytes)}`;
    if (line !== last && (p.phase === 'upload' || !last.startsWith('hashing'))) ctx.err(line);
    last = line;
  };
}

/** Adds `models` to the program. */
export function addModelCommands(program: Command, ctx: CliContext): void {
  const models = program.command('models').description("the farm's model store: push, list, remove models");
  models
    .command('push')
    .description('upload a model directory (or one ONNX file) as ID; only files the store lacks are sent')
    .argument('<id>', 'model id (the hardware table id: sd15, sdxl, sdxl-refiner, svd-xt, ...)')
    .argument('<dir>', 'model directory (Optimum or SVD layout) or a single .onnx file')
    .action((id: string, dir: string, _o: unknown, cmd: Command) =>
      withModels(cmd, async (m) => {
        const r = await m.push(id, dir, { signal: ctx.signal, onProgress: pushProgress(ctx) });
        ctx.out(
          `pushed ${r.model.id} ${r.model.digest}: ${r.model.files} files, ${formatBytes(r.model.totalBytes)}; ` +
            `uploaded ${r.uploadedFiles} files (${formatBytes(r.uploadedBytes)}), ${formatBytes(r.skippedBytes)} already stored`,
        );
      }),
    );
  models
    .command('ls')
    .description('list stored models: digest, files, total and unique bytes, agents holding each')
    .addOption(flagOption('--json', 'print the stable JSON document', 'TESSERA_JSON'))
    .action((flags: { json: boolean }, cmd: Command) =>
      withModels(cmd, async (m) => {
        const r = await m.list();
        ctx.out(flags.json ? toJsonText(modelsToJson(r)) : formatModelsTable(r));
      }),
    );
  models
    .command('rm')
    .description('remove a model; files other models share stay')
    .argument('<id>', 'model id')
    .action((id: string, _o: unknown, cmd: Command) =>
      withModels(cmd, async (m) => {
        const freed = await m.remove(id);
        ctx.out(`removed ${id}: ${formatBytes(freed)} freed`);
      }),
    );
  models
    .command('make-tiny')
    .description(`write a tiny test model with real I/O signatures (${TINY_FAMILIES.join(', ')})`)
    .argument('<family>', 'model family, named like the model id it stands in for')
    .argument('<dir>', 'directory to write (created)')
    .action(async (family: string, dir: string) => {
      await writeTinyModel(family, dir);
      ctx.out(`wrote tiny ${family} to ${dir}; push it with: tessera models push ${family} ${dir}`);
    });
}
