import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CONVERTER_VERSION, convertLayersModelToOnnx } from './convert/to-onnx.js';
import { EngineError, UnknownModelError } from './errors.js';
import { upscalerSource, upscalerSpec, type UpscalerId } from './zoo.js';

/** Options of ensureUpscalerModel. */
export interface ModelCacheOptions {
  /** Folder of converted models. Default: `$TESSERA_MODEL_CACHE`, else `~/.cache/tessera/models`. */
  cacheDir?: string;
}

/** The cache folder an options object resolves to (documented default applied). */
export function resolveCacheDir(opts: ModelCacheOptions = {}): string {
  return opts.cacheDir ?? process.env.TESSERA_MODEL_CACHE ?? join(homedir(), '.cache', 'tessera', 'models');
}

const inFlight = new Map<string, Promise<string>>();

/**
 * Path of the converted ONNX file of a zoo upscaler, converting it on first use. Never touches the
 * network. The file name carries a hash of the source model.json, its weights and the converter
 * version, so an upgraded package or converter produces a new file. The file is written to a temp
 * name in the same folder and renamed into place, so concurrent processes may race safely: readers
 * only ever see complete files, and the loser's rename replaces identical bytes.
 */
export async function ensureUpscalerModel(id: UpscalerId, opts: ModelCacheOptions = {}): Promise<string> {
  const spec = upscalerSpec(id);
  if (!spec) throw new UnknownModelError(String(id));
  const source = await readUpscalerSource(id);
  const hash = createHash('sha256')
    .update(`tessera-converter-${CONVERTER_VERSION}\0`)
    .update(source.modelJsonBytes)
    .update(source.weights)
    .digest('hex')
    .slice(0, 16);
  const file = join(resolveCacheDir(opts), `${id}-${hash}.onnx`);
  const pending = inFlight.get(file);
  if (pending) return pending;
  const job = (async () => {
    if (await isNonEmptyFile(file)) return file;
    const converted = convertLayersModelToOnnx(JSON.parse(source.modelJsonBytes.toString('utf8')), source.weights);
    if (converted.scale !== spec.scale || converted.receptiveFieldPx !== spec.receptiveFieldPx) {
      throw new EngineError(
        `${id}: shipped model has scale ${converted.scale} / receptive field ${converted.receptiveFieldPx}px, ` +
          `zoo table says ${spec.scale} / ${spec.receptiveFieldPx}px; update zoo.ts`,
      );
    }
    await writeAtomically(file, converted.onnx);
    return file;
  })();
  inFlight.set(file, job);
  try {
    return await job;
  } finally {
    inFlight.delete(file);
  }
}

/** model.json bytes and the concatenated weight shards of a zoo id, read from its npm package. */
export async function readUpscalerSource(id: UpscalerId): Promise<{ modelJsonBytes: Buffer; weights: Uint8Array }> {
  const { packageName, modelDir } = upscalerSource(id);
  const dir = join(packageRoot(packageName), modelDir);
  const modelJsonBytes = await readFile(join(dir, 'model.json'));
  const manifest = (JSON.parse(modelJsonBytes.toString('utf8')).weightsManifest ?? []) as { paths: string[] }[];
  const shards = await Promise.all(manifest.flatMap((g) => g.paths).map((p) => readFile(join(dir, p))));
  const weights = Buffer.concat(shards);
  return { modelJsonBytes, weights: new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength) };
}

/** Root folder of an installed package whose `exports` may hide package.json. */
function packageRoot(name: string): string {
  let entry: string;
  try {
    entry = createRequire(import.meta.url).resolve(name);
  } catch (err) {
    throw new EngineError(`package ${name} is not installed (it ships the upscaler weights)`, { cause: err });
  }
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === name)
      return dir;
  }
  throw new EngineError(`cannot find the root folder of ${name} above ${entry}`);
}

async function isNonEmptyFile(file: string): Promise<boolean> {
  try {
    return (await stat(file)).size > 0;
  } catch {
    return false;
  }
}

async function writeAtomically(file: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  try {
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    // Windows refuses to rename over a file another process holds open; theirs is identical.
    if (await isNonEmptyFile(file)) return;
    throw new EngineError(`cannot write converted model ${file}`, { cause: err });
  }
}
