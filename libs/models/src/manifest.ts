/**
 * Model manifests: what a model version is made of. Pure: no I/O.
 *
 * A manifest lists every file of a model directory (relative POSIX path, SHA-256, size). Its version
 * digest is the SHA-256 of the canonical file list, so the same files give the same digest whoever
 * pushes them, and any changed byte gives another.
 */
import { createHash } from 'node:crypto';
import { InvalidModelError } from './errors.js';

/** One file of a model. */
export interface ModelFile {
  /** Path inside the model directory, `/`-separated, no `.` or `..` parts (a single-file model: its name). */
  path: string;
  /** Lower-case hex SHA-256 of the bytes; also the file's key in the store (content addressing). */
  sha256: string;
  /** Bytes. */
  size: number;
}

/** One model version as the store records it. */
export interface ModelManifest {
  /** Model id (the hardware table's: `sdxl`, `svd-xt`, …). */
  id: string;
  /** `sha256:<hex>` of the canonical file list; what agents advertise and fetch by. */
  digest: string;
  /** Files sorted by path. */
  files: ModelFile[];
  /** Sum of the file sizes. */
  totalBytes: number;
  /** When it was pushed (ISO 8601); not part of the digest. */
  pushedAt: string;
}

const ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const HEX64 = /^[0-9a-f]{64}$/;

/** Throws InvalidModelError unless `id` is a storable model id (also a NATS KV key and a directory name). */
export function assertModelId(id: string): string {
  if (!ID.test(id) || id.includes('..'))
    throw new InvalidModelError(
      `model id must be 1-64 of [a-z0-9._-] starting with a letter or digit, got ${JSON.stringify(id)}`,
      'id',
    );
  return id;
}

/** Throws InvalidModelError unless `path` is a safe relative path inside a model directory. */
export function assertModelPath(path: string): string {
  const parts = path.split('/');
  if (
    !path ||
    path.length > 512 ||
    path.startsWith('/') ||
    path.includes('\\') ||
    path.includes('\0') ||
    parts.some((p) => p === '' || p === '.' || p === '..')
  )
    throw new InvalidModelError(`model file path ${JSON.stringify(path)} is not a safe relative path`, 'path');
  return path;
}

/** Version digest of a file list (order-independent). */
export function manifestDigest(files: readonly ModelFile[]): string {
  const h = createHash('sha256');
  for (const f of [...files].sort(byPath)) h.update(`${f.path}\0${f.sha256}\0${f.size}\n`);
  return `sha256:${h.digest('hex')}`;
}

/** Builds a validated manifest (files sorted, digest and total computed). */
export function buildManifest(id: string, files: readonly ModelFile[], pushedAt: Date): ModelManifest {
  assertModelId(id);
  if (files.length === 0) throw new InvalidModelError(`model ${id} has no files`, 'dir');
  const seen = new Set<string>();
  for (const f of files) {
    assertModelPath(f.path);
    if (!HEX64.test(f.sha256)) throw new InvalidModelError(`file ${f.path}: bad sha256 ${f.sha256}`, 'sha256');
    if (!Number.isSafeInteger(f.size) || f.size < 0) throw new InvalidModelError(`file ${f.path}: bad size`, 'size');
    if (seen.has(f.path)) throw new InvalidModelError(`file ${f.path} listed twice`, 'path');
    seen.add(f.path);
  }
  const sorted = [...files].sort(byPath).map((f) => ({ path: f.path, sha256: f.sha256, size: f.size }));
  return {
    id,
    digest: manifestDigest(sorted),
    files: sorted,
    totalBytes: sorted.reduce((s, f) => s + f.size, 0),
    pushedAt: pushedAt.toISOString(),
  };
}

/** Parses and re-validates a stored manifest (a tampered digest is refused). */
export function parseManifest(json: string): ModelManifest {
  const raw = JSON.parse(json) as Partial<ModelManifest>;
  if (typeof raw.id !== 'string' || !Array.isArray(raw.files))
    throw new InvalidModelError('stored manifest is malformed', 'manifest');
  const m = buildManifest(raw.id, raw.files, new Date(raw.pushedAt ?? 0));
  if (raw.digest !== m.digest)
    throw new InvalidModelError(`manifest of ${raw.id}: digest ${raw.digest} does not match its files`, 'digest');
  return m;
}

/** One row of `models ls`: a model with its sizes counted against every other model in the store. */
export interface ModelSummary {
  id: string;
  digest: string;
  files: number;
  /** Sum of its file sizes. */
  totalBytes: number;
  /** Bytes of the files no other model shares (what removing it frees). */
  uniqueBytes: number;
}

/** The store as a whole: what the models add up to and what is actually stored once. */
export interface StoreSummary {
  models: ModelSummary[];
  /** Sum of every model's totalBytes. */
  totalBytes: number;
  /** Bytes of the distinct files (each stored once). */
  storedBytes: number;
}

/** Sizes per model and for the store, counting each distinct file once. Pure. */
export function summarize(manifests: readonly ModelManifest[]): StoreSummary {
  const users = new Map<string, { size: number; models: Set<string> }>();
  for (const m of manifests)
    for (const f of m.files) {
      const u = users.get(f.sha256) ?? { size: f.size, models: new Set<string>() };
      u.models.add(m.id);
      users.set(f.sha256, u);
    }
  const models = [...manifests]
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((m) => {
      const own = new Set(m.files.filter((f) => users.get(f.sha256)!.models.size === 1).map((f) => f.sha256));
      return {
        id: m.id,
        digest: m.digest,
        files: m.files.length,
        totalBytes: m.totalBytes,
        uniqueBytes: [...own].reduce((s, h) => s + users.get(h)!.size, 0),
      };
    });
  return {
    models,
    totalBytes: models.reduce((s, m) => s + m.totalBytes, 0),
    storedBytes: [...users.values()].reduce((s, u) => s + u.size, 0),
  };
}

/** Distinct blobs (sha256) referenced by the manifests. */
export function referencedBlobs(manifests: readonly ModelManifest[]): Set<string> {
  return new Set(manifests.flatMap((m) => m.files.map((f) => f.sha256)));
}

function byPath(a: ModelFile, b: ModelFile): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}
