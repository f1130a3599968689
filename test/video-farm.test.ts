/**
 * Issue 3 end to end against a real nats-server and real coordinator/agent processes: SVD-XT frame
 * batches (tiny models with the real signatures) keyframed and chained, decode chunk by VRAM class,
 * an agent killed mid-batch, and a video upscale of a real clip through ESRGAN.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { Upscaler, writeTinySvdModel } from '@tessera/engine';
import { JobState, ShardState, type Job } from '@tessera/protocol';
import { ffmpegAvailable } from '@tessera/video/codecs';
import { panZoomClip } from '@tessera/video/testing';
import { jobBytes, startFarm, waitForParked, type AgentSpec, type Farm } from './helpers/farm.js';
import { startNats, type TestNats } from './helpers/nats-server.js';
import { waitFor } from './helpers/process.js';
import { baboonPng, diffStats, rgbOf } from './helpers/images.js';

const run = promisify(execFile);
const SIZE = 64;

/** Runs a video job, recording the order of shard events and the most batches leased at once. */
async function runVideo(farm: Farm, req: Parameters<Farm['client']['submitVideo']>[0]) {
  const job = await farm.client.submitVideo(req);
  const states = new Map<number, ShardState>();
  const order: string[] = [];
  let maxLeased = 0;
  const see = (index: number, state: ShardState) => {
    if (states.get(index) !== state) order.push(`${index}:${ShardState[state]}`);
    states.set(index, state);
    maxLeased = Math.max(maxLeased, [...states.values()].filter((s) => s === ShardState.SHARD_STATE_LEASED).length);
  };
  const done = await farm.client.waitForJob(job.id, (e) => {
    // The snapshot carries every shard (leases granted before the watch began); then one event per change.
    if (e.event === 'snapshot') for (const s of e.job?.shards ?? []) see(s.index, s.state);
    if (e.shard) see(e.shard.index, e.shard.state);
  });
  expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
  return { job: await farm.client.getJob(job.id), order, maxLeased };
}

const outputOf = (job: Job, format: string) => job.outputs.find((o) => o.format === format)!;

describe('SVD-XT video on the farm', () => {
  let nats: TestNats;
  let models: string;
  let image: Buffer;
  const farms: Farm[] = [];
  const farm = async (agents: AgentSpec[]) => {
    const f = await startFarm({ nats, agents, agentArgs: ['--models', models] });
    farms.push(f);
    return f;
  };

  beforeAll(async () => {
    nats = await startNats();
    models = mkdtempSync(join(tmpdir(), 'tessera-models-'));
    await writeTinySvdModel(join(models, 'svd-xt'));
    image = await sharp(baboonPng()).resize(SIZE, SIZE).png().toBuffer();
  });
  afterAll(async () => {
    for (const f of farms) await f.close();
    await nats?.stop();
  });

  const base = {
    model: 'svd-xt',
    width: SIZE,
    height: SIZE,
    steps: 3,
    seed: 11,
    formats: ['webp', 'png-frames'] as const,
  };

  it('a 60-frame keyframed job runs as ≥ 3 batches on ≥ 2 agents at once, 60 frames, same bytes with 1 agent and 3', async () => {
    const three = await farm([
      { name: 'k16', vramGb: 16 },
      { name: 'k24a', vramGb: 24 },
      { name: 'k24b', vramGb: 24 },
    ]);
    const req = { ...base, formats: [...base.formats], image, totalFrames: 60, mode: 'keyframed' as const, steps: 10 };
    // All three waiting: the first pass gives each a batch.
    await waitForParked(three, 3);
    const a = await runVideo(three, req);
    expect(a.job.shards.length).toBeGreaterThanOrEqual(3);
    expect(a.maxLeased).toBeGreaterThanOrEqual(2);
    expect(new Set(a.job.shards.map((s) => s.agent)).size).toBeGreaterThanOrEqual(2);
    expect(a.job.frames).toBe(60);
    expect(outputOf(a.job, 'png-frames').frames).toBe(60);
    expect(outputOf(a.job, 'webp').frames).toBe(60);
    // Every frame is there, and frames past the end are refused.
    const last = await rgbOf(await jobBytes(three.client, a.job.id, { format: 'png-frames', frame: 59 }));
    expect([last.width, last.height]).toEqual([SIZE, SIZE]);
    await expect(jobBytes(three.client, a.job.id, { format: 'png-frames', frame: 60 })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    });

    const one = await farm([{ name: 'solo', vramGb: 24 }]);
    const b = await runVideo(one, req);
    expect(outputOf(b.job, 'png-frames').sha256).toBe(outputOf(a.job, 'png-frames').sha256);
    expect(outputOf(b.job, 'webp').sha256).toBe(outputOf(a.job, 'webp').sha256);
  });

  it('a chained job runs its batches strictly in order and gives the same bytes with 1 agent and 3', async () => {
    const req = {
      ...base,
      formats: [...base.formats],
      image,
      totalFrames: 40,
      framesPerBatch: 10,
      overlap: 2,
      mode: 'chained' as const,
    };
    const three = await farm([
      { name: 'c1', vramGb: 24 },
      { name: 'c2', vramGb: 24 },
      { name: 'c3', vramGb: 16 },
    ]);
    const a = await runVideo(three, req);
    const n = a.job.shards.length;
    expect(n).toBeGreaterThanOrEqual(4);
    expect(a.maxLeased).toBe(1);
    for (let k = 1; k < n; k++) {
      expect(a.job.shards[k].dependsOn).toBe(k - 1);
      // batch k is leased only after batch k-1's result was committed
      expect(a.order.indexOf(`${k}:SHARD_STATE_LEASED`)).toBeGreaterThan(a.order.indexOf(`${k - 1}:SHARD_STATE_DONE`));
    }
    const one = await farm([{ name: 'c-solo', vramGb: 16 }]);
    const b = await runVideo(one, req);
    expect(outputOf(b.job, 'png-frames').sha256).toBe(outputOf(a.job, 'png-frames').sha256);
  });

  it('the VAE decode chunk follows the agent class (16 GB → 2, 24 GB → 8) without changing the frames', async () => {
    // One farm per class: which agent of a mixed farm runs which batch is placement's choice (a fast
    // agent may run them all), and this test is about what each class does with a batch.
    const f16 = await farm([{ name: 'd16', vramGb: 16 }]);
    const f24 = await farm([{ name: 'd24', vramGb: 24 }]);
    const req = {
      ...base,
      formats: ['png-frames' as const],
      image,
      totalFrames: 60,
      framesPerBatch: 10,
      overlap: 2,
      mode: 'keyframed' as const,
    };
    const a16 = await runVideo(f16, req);
    const a24 = await runVideo(f24, req);
    expect(a16.job.shards.length).toBeGreaterThanOrEqual(3);
    for (const s of a16.job.shards) expect([s.agentVramClass, s.decodeChunk]).toEqual(['16gb', 2]);
    for (const s of a24.job.shards) expect([s.agentVramClass, s.decodeChunk]).toEqual(['24gb', 8]);
    expect(outputOf(a24.job, 'png-frames').sha256).toBe(outputOf(a16.job, 'png-frames').sha256);
    const pinned = await runVideo(f24, { ...req, decodeChunk: 1 });
    expect(pinned.job.shards.every((s) => s.decodeChunk === 1)).toBe(true);
    expect(outputOf(pinned.job, 'png-frames').sha256).toBe(outputOf(a16.job, 'png-frames').sha256);
  });

  it('an agent killed during a batch: the batch reruns elsewhere and the clip is byte-identical', async () => {
    const req = {
      ...base,
      formats: ['png-frames' as const],
      image,
      totalFrames: 48,
      framesPerBatch: 16,
      overlap: 2,
      mode: 'keyframed' as const,
      steps: 12,
    };
    const ref = await runVideo(await farm([{ name: 'ref', vramGb: 24 }]), req);
    const f = await farm([
      { name: 'victim', vramGb: 16 },
      { name: 'v2', vramGb: 24 },
    ]);
    const job = await f.client.submitVideo(req);
    const held = await waitFor(
      async () =>
        (await f.client.getJob(job.id)).shards.find(
          (s) => s.agent === 'victim' && s.state === ShardState.SHARD_STATE_LEASED,
        ),
      30_000,
      'the victim to lease a batch',
      10,
    );
    await f.agents.get('victim')!.stop('SIGKILL');
    const done = await f.client.waitForJob(job.id);
    expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
    const full = await f.client.getJob(job.id);
    expect(full.shards[held.index].attempts).toBeGreaterThan(held.attempts);
    expect(full.shards[held.index].agent).toBe('v2');
    expect(outputOf(full, 'png-frames').sha256).toBe(outputOf(ref.job, 'png-frames').sha256);
  });

  it('outputs: the animated WebP has the frame count and delay; the MP4 the frame count (ffprobe)', async () => {
    const f = await farm([{ name: 'o1', vramGb: 24 }]);
    const ffmpeg = await ffmpegAvailable();
    const formats = ['webp', 'png-frames', ...(ffmpeg ? ['mp4' as const] : [])] as ('webp' | 'png-frames' | 'mp4')[];
    if (!ffmpeg) expect(process.env.CI, 'ffmpeg must be installed under CI').toBeFalsy();
    const { job } = await runVideo(f, { ...base, formats, image, totalFrames: 30, fps: 10, mode: 'keyframed' });
    const webp = await jobBytes(f.client, job.id, { format: 'webp' });
    const meta = await sharp(webp, { pages: -1 }).metadata();
    expect(meta.pages).toBe(30);
    expect(meta.delay).toEqual(Array(30).fill(100));
    expect(job.outputs[0].format).toBe('webp');
    if (formats.includes('mp4')) {
      const dir = mkdtempSync(join(tmpdir(), 'tessera-mp4-'));
      const file = join(dir, 'clip.mp4');
      writeFileSync(file, await jobBytes(f.client, job.id, { format: 'mp4' }));
      const { stdout } = await run('ffprobe', [
        '-v',
        'error',
        '-count_frames',
        '-select_streams',
        'v:0',
        '-show_entries',
        'stream=nb_read_frames',
        '-of',
        'csv=p=0',
        file,
      ]);
      expect(Number(stdout.trim())).toBe(30);
    }
  });

  it('a video upscale of a real clip equals the per-frame single pass byte for byte', async () => {
    const clip = await panZoomClip(baboonPng(), { frames: 12, width: 48, height: 40 });
    const frames = await Promise.all(
      clip.map((f) =>
        sharp(f, { raw: { width: 48, height: 40, channels: 3 } })
          .png()
          .toBuffer(),
      ),
    );
    const f = await farm([
      { name: 'u1', vramGb: 8 },
      { name: 'u2', vramGb: 24 },
    ]);
    const job = await f.client.submitVideoUpscale({
      frames,
      model: 'esrgan-slim-x4',
      framesPerBatch: 3,
      formats: ['png-frames'],
    });
    const done = await f.client.waitForJob(job.id);
    expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect((await f.client.getJob(job.id)).shards).toHaveLength(4);
    const single = await Upscaler.load('esrgan-slim-x4');
    try {
      let max = 0;
      for (let i = 0; i < 12; i++) {
        const farmFrame = await rgbOf(await jobBytes(f.client, job.id, { format: 'png-frames', frame: i }));
        const ref = await single.run({ width: 48, height: 40, data: clip[i] });
        expect([farmFrame.width, farmFrame.height]).toEqual([192, 160]);
        max = Math.max(max, diffStats(farmFrame.data, ref.data).max);
        expect(Buffer.compare(farmFrame.data, ref.data), `frame ${i}`).toBe(0);
      }
      console.log(`video upscale (12 frames, 2 agents) vs per-frame single pass: max diff ${max}/255`);
      expect(max).toBe(0);
    } finally {
      await single.close();
    }
  });
});
