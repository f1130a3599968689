/**
 * Issue 2 point 7: bad requests get INVALID_ARGUMENT naming the field, the CLI prints it plainly,
 * and the coordinator keeps serving.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { JobServiceClient, JobState, type SubmitJobRequest } from '@tessera/protocol';
import { CLI_BIN, startFarm, type Farm } from './helpers/farm.js';
import { repoRoot } from './helpers/process.js';
import { baboonCrop } from './helpers/images.js';

const run = promisify(execFile);

/** A PNG whose header claims width×height with almost no pixel data: refused from the header alone. */
function pngHeader(width: number, height: number): Buffer {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (b: Buffer) => {
    let c = 0xffffffff;
    for (const x of b) c = crcTable[(c ^ x) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(16))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('bad requests', () => {
  let farm: Farm;
  let raw: InstanceType<typeof JobServiceClient>;
  let good: Buffer;

  const submit = (req: Partial<SubmitJobRequest>) =>
    new Promise<grpc.ServiceError>((resolve, reject) =>
      raw.submitJob({ name: '', seed: 0, priority: 0, maxAttempts: 0, spec: undefined, ...req }, (err) =>
        err ? resolve(err) : reject(new Error('expected an error')),
      ),
    );
  const upscale = (
    image: Buffer,
    extra: { model?: string; tile?: number; overlap?: number; formats?: number[] } = {},
  ) =>
    submit({
      spec: {
        $case: 'upscale',
        value: { image, model: 'esrgan-slim-x4', tile: 0, overlap: 0, refine: undefined, formats: [], ...extra },
      },
    });

  beforeAll(async () => {
    farm = await startFarm({ agents: [{ name: 'only', vramGb: 8 }] });
    raw = new JobServiceClient(farm.grpcAddr, grpc.credentials.createInsecure());
    good = await baboonCrop(0, 0, 40, 30);
  });
  afterAll(async () => {
    raw?.close();
    await farm?.close();
  });

  const cases: [string, string, () => Promise<grpc.ServiceError>, RegExp][] = [
    ['no spec', 'spec', () => submit({}), /required/],
    [
      'unknown model',
      'upscale.model',
      () => upscale(good, { model: 'esrgan-huge' }),
      /unknown model "esrgan-huge" \(known upscalers: esrgan-slim-x2, esrgan-slim-x4\)/,
    ],
    ['a model that is not an upscaler', 'upscale.model', () => upscale(good, { model: 'sdxl' }), /not an upscaler/],
    ['empty image bytes', 'upscale.image', () => upscale(Buffer.alloc(0)), /empty/],
    ['corrupt image bytes', 'upscale.image', () => upscale(Buffer.from('definitely not an image')), /cannot decode/],
    ['truncated PNG', 'upscale.image', () => upscale(good.subarray(0, Math.floor(good.length / 2))), /cannot decode/],
    [
      'enormous image',
      'upscale.image',
      () => upscale(pngHeader(20_000, 20_000)),
      /20000×20000 is 400000000 pixels, above the limit of 64000000/,
    ],
    ['zero-sized image', 'upscale.image', () => upscale(pngHeader(0, 10)), /cannot decode|no size/],
    ['enormous tile', 'upscale.tile', () => upscale(good, { tile: 1_000_000 }), /above the limit of 16384/],
    ['enormous overlap', 'upscale.overlap', () => upscale(good, { overlap: 100_000 }), /above the limit of 4096/],
    [
      'tile no larger than its overlap',
      'upscale.tile',
      () => upscale(good, { tile: 16, overlap: 16 }),
      /tile 16 must be larger than overlap 16/,
    ],
    ['unknown output format', 'upscale.formats[1]', () => upscale(good, { formats: [1, 99] }), /unknown format 99/],
    ['repeated output format', 'upscale.formats[1]', () => upscale(good, { formats: [2, 2] }), /tiff is listed twice/],
    [
      'overlap below the receptive field',
      'upscale.overlap',
      () => upscale(good, { tile: 64, overlap: 2 }),
      /below the receptive field/,
    ],
  ];

  it.each(cases)('%s → INVALID_ARGUMENT naming %s', async (_name, field, call, message) => {
    const err = await call();
    expect(grpc.status[err.code]).toBe('INVALID_ARGUMENT');
    expect(err.details.startsWith(`${field}: `)).toBe(true);
    expect(err.details).toMatch(message);
  });

  it('video keyframes that no batch could use are refused before anything is decoded', async () => {
    const err = await farm.client
      .submitVideo({ image: good, keyframes: [good, good], model: 'svd-xt', totalFrames: 10, width: 64, height: 64 })
      .then(
        () => undefined,
        (e: { code: string; details: string }) => e,
      );
    expect(err?.code).toBe('INVALID_ARGUMENT');
    expect(err?.details).toBe('video.keyframes: 3 keyframes (with image) but the clip has only 1 batches');
    const chained = await farm.client
      .submitVideo({
        image: good,
        keyframes: [good],
        model: 'svd-xt',
        totalFrames: 60,
        mode: 'chained',
        width: 64,
        height: 64,
      })
      .then(
        () => undefined,
        (e: { code: string; details: string }) => e,
      );
    expect(chained?.details).toMatch(/^video\.keyframes: only keyframed jobs take keyframes/);
  });

  it('unknown jobs are NOT_FOUND', async () => {
    await expect(farm.client.getJob('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('the CLI prints the error plainly and exits 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-bad-'));
    const bad = join(dir, 'bad.png');
    writeFileSync(bad, 'garbage');
    const res = await run(process.execPath, [
      join(repoRoot, CLI_BIN),
      '--server',
      farm.grpcAddr,
      'submit',
      'upscale',
      '--input',
      bad,
      '--model',
      'esrgan-slim-x4',
    ]).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/^tessera: INVALID_ARGUMENT: upscale\.image: cannot decode 7 bytes as an image/);
    expect(res.stderr).not.toMatch(/\n\s+at /);
  });

  it('keeps serving after all of that', async () => {
    const job = await farm.client.submitUpscale({ image: good, model: 'esrgan-slim-x4' });
    expect((await farm.client.waitForJob(job.id)).state).toBe(JobState.JOB_STATE_SUCCEEDED);
  });
});
