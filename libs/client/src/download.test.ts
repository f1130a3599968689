import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GetJobOutputResponse } from '@tessera/protocol';
import { writeOutput } from './download.js';
import { OutputIntegrityError } from './errors.js';

let dir: string;
beforeEach(async () => (dir = await mkdtemp(join(tmpdir(), 'tessera-dl-'))));
afterEach(() => rm(dir, { recursive: true, force: true }));

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function* chunks(parts: Partial<GetJobOutputResponse>[]): AsyncGenerator<GetJobOutputResponse> {
  for (const p of parts) {
    yield { data: Buffer.alloc(0), offset: 0, totalBytes: 0, contentType: 'image/png', sha256: '', ...p };
  }
}

describe('writeOutput', () => {
  const a = Buffer.from('hello ');
  const b = Buffer.from('world');
  const whole = Buffer.concat([a, b]);

  it('accepts contiguous chunks whose hash matches', async () => {
    const file = join(dir, 'o.png');
    const r = await writeOutput(
      chunks([
        { data: a, offset: 0, sha256: sha(whole) },
        { data: b, offset: 6, sha256: sha(whole) },
      ]),
      file,
      'j',
    );
    expect(r).toEqual({ file, bytes: 11, sha256: sha(whole), contentType: 'image/png' });
    expect(await readFile(file, 'utf8')).toBe('hello world');
  });

  it.each([
    [
      'a gap in offsets',
      [
        { data: a, offset: 0, sha256: sha(whole) },
        { data: b, offset: 7, sha256: sha(whole) },
      ],
      /offset 7, expected 6/,
    ],
    ['a short stream', [{ data: a, offset: 0, totalBytes: 11, sha256: sha(whole) }], /after 6 of 11 bytes/],
    [
      'no announced hash',
      [
        { data: a, offset: 0 },
        { data: b, offset: 6 },
      ],
      /no sha256/,
    ],
    [
      'a changed hash',
      [
        { data: a, offset: 0, sha256: sha(whole) },
        { data: b, offset: 6, sha256: sha(a) },
      ],
      /changed/,
    ],
    [
      'a wrong hash',
      [
        { data: a, offset: 0, sha256: sha(a) },
        { data: b, offset: 6, sha256: sha(a) },
      ],
      /does not match/,
    ],
  ])('refuses %s and keeps the old file', async (_name, parts, message) => {
    const file = join(dir, 'o.png');
    await writeFile(file, 'old');
    const err = await writeOutput(chunks(parts), file, 'j-9').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OutputIntegrityError);
    expect((err as OutputIntegrityError).jobId).toBe('j-9');
    expect((err as Error).message).toMatch(message);
    expect(await readFile(file, 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['o.png']);
  });

  it('removes the temporary file when the stream fails', async () => {
    async function* failing(): AsyncGenerator<GetJobOutputResponse> {
      yield { data: a, offset: 0, totalBytes: 11, contentType: '', sha256: sha(whole) };
      throw new Error('connection reset');
    }
    await expect(writeOutput(failing(), join(dir, 'x'), 'j')).rejects.toThrow('connection reset');
    expect(await readdir(dir)).toEqual([]);
  });
});
