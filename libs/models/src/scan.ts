/** Reading a model from disk: the file list of a directory (or one file) with each file's SHA-256. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { InvalidModelError } from './errors.js';
import { assertModelPath, type ModelFile } from './manifest.js';

/** A file found on disk: its manifest entry and where it lives. */
export interface LocalFile extends ModelFile {
  /** Absolute or caller-relative path on disk. */
  source: string;
}

/** Options of scanModel. */
export interface ScanOptions {
  signal?: AbortSignal;
  /** Called after each file is hashed with the bytes hashed so far. */
  onProgress?: (hashedBytes: number, file: string) => void;
}

/**
 * Every regular file under `dir` (recursively, sorted), or `dir` itself when it is a single file (a
 * lone ONNX model), with its SHA-256. Symbolic links are refused rather than followed (a model
 * directory that links outside itself would push files the user did not mean to share); hidden
 * files and folders (`.git`, the cache's own `.tessera-*` markers) are skipped.
 */
export async function scanModel(dir: string, o: ScanOptions = {}): Promise<LocalFile[]> {
  const st = await lstat(dir).catch((e: NodeJS.ErrnoException) => {
    throw new InvalidModelError(`model directory ${dir} cannot be read: ${e.code ?? e.message}`, 'dir');
  });
  const found: { path: string; source: string }[] = [];
  if (st.isFile()) found.push({ path: basename(dir), source: dir });
  else if (st.isDirectory()) await walk(dir, '', found);
  else throw new InvalidModelError(`${dir} is neither a directory nor a file`, 'dir');
  if (found.length === 0) throw new InvalidModelError(`model directory ${dir} has no files`, 'dir');
  found.sort((a, b) => (a.path < b.path ? -1 : 1));
  const out: LocalFile[] = [];
  let hashed = 0;
  for (const f of found) {
    o.signal?.throwIfAborted();
    const { sha256, size } = await hashFile(f.source, o.signal);
    hashed += size;
    o.onProgress?.(hashed, f.path);
    out.push({ path: assertModelPath(f.path), sha256, size, source: f.source });
  }
  return out;
}

/** SHA-256 (hex) and size of a file, streamed. */
export async function hashFile(path: string, signal?: AbortSignal): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20, signal }) as AsyncIterable<Buffer>) {
    h.update(chunk);
    size += chunk.length;
  }
  return { sha256: h.digest('hex'), size };
}

async function walk(root: string, rel: string, out: { path: string; source: string }[]): Promise<void> {
  for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) await walk(root, r, out);
    else if (e.isFile()) out.push({ path: r, source: join(root, r) });
    else throw new InvalidModelError(`${join(root, r)} is not a regular file (links are not followed)`, 'dir');
  }
}
