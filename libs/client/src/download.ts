import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { GetJobOutputResponse } from '@tessera/protocol';
import { OutputIntegrityError } from './errors.js';

/** What `downloadOutput` wrote. */
export interface DownloadResult {
  /** Absolute path of the written file. */
  file: string;
  bytes: number;
  /** SHA-256 (hex) of the file, equal to the one the server announced. */
  sha256: string;
  /** MIME type the server announced, e.g. "image/png". */
  contentType: string;
}

/** Called after each chunk with the bytes written so far and the announced total (0 if unknown). */
export type DownloadProgress = (bytes: number, totalBytes: number) => void;

/**
 * Writes streamed output chunks to `file` atomically: into a temporary file beside it, checked for
 * contiguous offsets, the announced size and the announced SHA-256, then renamed over `file`. On any
 * failure the temporary file is removed and `file` is left untouched. Creates the parent folder.
 */
export async function writeOutput(
  chunks: AsyncIterable<GetJobOutputResponse>,
  file: string,
  jobId: string,
  onProgress?: DownloadProgress,
): Promise<DownloadResult> {
  const target = resolve(file);
  const dir = dirname(target);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.part`);
  const fh = await open(tmp, 'wx');
  let closed = false;
  try {
    const hash = createHash('sha256');
    let bytes = 0;
    let expected = '';
    let total = 0;
    let contentType = '';
    for await (const chunk of chunks) {
      if (chunk.offset !== bytes) {
        throw new OutputIntegrityError(`output chunk at offset ${chunk.offset}, expected ${bytes}`, jobId);
      }
      const announced = chunk.sha256.toLowerCase();
      if (announced !== '') {
        if (expected !== '' && announced !== expected) {
          throw new OutputIntegrityError(`server changed the announced sha256 mid-stream`, jobId);
        }
        expected = announced;
      }
      if (chunk.totalBytes > 0) total = chunk.totalBytes;
      if (contentType === '') contentType = chunk.contentType;
      await writeAll(fh, chunk.data);
      hash.update(chunk.data);
      bytes += chunk.data.length;
      onProgress?.(bytes, total);
    }
    if (total > 0 && bytes !== total) {
      throw new OutputIntegrityError(`output ended after ${bytes} of ${total} bytes`, jobId);
    }
    if (expected === '') throw new OutputIntegrityError('server sent no sha256 for the output', jobId);
    const actual = hash.digest('hex');
    if (actual !== expected) {
      throw new OutputIntegrityError(`output sha256 ${actual} does not match the announced ${expected}`, jobId);
    }
    await fh.sync();
    await fh.close();
    closed = true;
    await rename(tmp, target);
    return { file: target, bytes, sha256: actual, contentType };
  } catch (err) {
    if (!closed) await fh.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw err;
  }
}

async function writeAll(fh: import('node:fs/promises').FileHandle, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off);
    off += bytesWritten;
  }
}
