/**
 * Issue 2, end to end against a real nats-server, the real coordinator and agent binaries:
 * a tiled 4× upscale of a real photo equals the single pass, is identical with 1 and 3 agents,
 * status --json reports every shard's agent and classes, and upscale output formats (PNG, tiled TIFF)
 * reach the store through the CLI (issue 16).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobState } from '@tessera/protocol';
import { AGENT_BIN, CLI_BIN, startFarm, type Farm } from './helpers/farm.js';
import { startNats, type TestNats } from './helpers/nats-server.js';
import { repoRoot } from './helpers/process.js';
import { baboonCrop, diffStats, rgbOf } from './helpers/images.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'tessera-e2e-'));

async function farmUpscale(
  farm: Farm,
  image: Buffer,
  tile: number,
  overlap: number,
): Promise<{ png: Buffer; jobId: string }> {
  const job = await farm.client.submitUpscale({ image, model: 'esrgan-slim-x4', tile, overlap, seed: 7 });
  const done = await farm.client.waitForJob(job.id);
  expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
  const file = join(dir, `${job.id}.png`);
  await farm.client.downloadOutput(job.id, file);
  return { png: readFileSync(file), jobId: job.id };
}

describe('tiled upscale through the farm', () => {
  let nats: TestNats;
  let input: Buffer;
  let single: Awaited<ReturnType<typeof rgbOf>>;
  let three: { png: Buffer; jobId: string };
  let farm3: Farm;

  beforeAll(async () => {
    nats = await startNats();
    // A 123×101 crop of the 128×128 photo: neither side is a multiple of the 48 px tile.
    input = await baboonCrop(3, 20, 123, 101);
    const inFile = join(dir, 'in.png');
    const outFile = join(dir, 'single.png');
    writeFileSync(inFile, input);
    await run(process.execPath, [
      join(repoRoot, AGENT_BIN),
      'run',
      'upscale',
      '--model',
      'esrgan-slim-x4',
      '--input',
      inFile,
      '--output',
      outFile,
    ]);
    single = await rgbOf(readFileSync(outFile));
    farm3 = await startFarm({
      nats,
      agents: [
        { name: 'a6', vramGb: 6 },
        { name: 'a8', vramGb: 8 },
        { name: 'a24', vramGb: 24 },
      ],
    });
    three = await farmUpscale(farm3, input, 48, 12);
  });

  afterAll(async () => {
    await farm3?.close();
    await nats?.stop();
  });

  it('equals the single pass byte for byte (docs: "equal")', async () => {
    const tiled = await rgbOf(three.png);
    expect([tiled.width, tiled.height]).toEqual([492, 404]);
    expect([single.width, single.height]).toEqual([492, 404]);
    const d = diffStats(tiled.data, single.data);
    console.log(
      `farm (3 agents, 9 tiles) vs single pass: max diff ${d.max}/255, mean ${d.mean.toExponential(3)}, ${d.differing} of ${tiled.data.length} values differ`,
    );
    expect(d.max).toBe(0);
    expect(Buffer.compare(tiled.data, single.data)).toBe(0);
  });

  it('spread the shards over several agents, each of a fitting class', async () => {
    const job = await farm3.client.getJob(three.jobId);
    expect(job.shards).toHaveLength(9);
    const agents = new Set(job.shards.map((s) => s.agent));
    expect(agents.size).toBeGreaterThan(1);
    for (const s of job.shards) {
      expect(s.agentVramClass).not.toBe('');
      expect(s.requiredVramClass).toBe('cpu');
    }
  });

  it('gives identical pixels with 1 agent and with 3', async () => {
    const farm1 = await startFarm({ nats, agents: [{ name: 'solo', vramGb: 8 }] });
    try {
      const one = await farmUpscale(farm1, input, 48, 12);
      const a = await rgbOf(one.png);
      const b = await rgbOf(three.png);
      expect(Buffer.compare(a.data, b.data)).toBe(0);
      const job = await farm1.client.getJob(one.jobId);
      expect(new Set(job.shards.map((s) => s.agent))).toEqual(new Set(['solo']));
    } finally {
      await farm1.close();
    }
  });

  it('stores a tiled pyramidal TIFF when asked (tessera submit upscale --formats tiff,png), same pixels', async () => {
    const inFile = join(dir, 'in-formats.png');
    writeFileSync(inFile, input);
    const tif = join(dir, 'formats.tif');
    const cli = (...args: string[]) =>
      run(process.execPath, [join(repoRoot, CLI_BIN), '--server', farm3.grpcAddr, ...args]);
    const { stdout } = await cli(
      'submit',
      'upscale',
      '--input',
      inFile,
      '--model',
      'esrgan-slim-x4',
      '--tile',
      '48',
      '--overlap',
      '12',
      '--seed',
      '7',
      '--formats',
      'tiff,png',
      '--output',
      tif,
    );
    const jobId = stdout.trim();
    const job = await farm3.client.getJob(jobId);
    expect(job.outputs.map((o) => [o.format, o.contentType])).toEqual([
      ['tiff', 'image/tiff'],
      ['png', 'image/png'],
    ]);
    const png = join(dir, 'formats.png');
    await cli('get', jobId, '--format', 'png', '--output', png);
    const meta = await sharp(readFileSync(tif)).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['tiff', 492, 404]);
    const fromTiff = await rgbOf(readFileSync(tif));
    // The same job spec as the 3-agent run above: the same bytes, whichever format carries them.
    expect(fromTiff.data.equals((await rgbOf(three.png)).data)).toBe(true);
    expect(readFileSync(png).equals(three.png)).toBe(true);
  });

  it('status --json reports each shard with its state, attempts, agent and classes', async () => {
    const { stdout } = await run(process.execPath, [
      join(repoRoot, CLI_BIN),
      '--server',
      farm3.grpcAddr,
      'status',
      three.jobId,
      '--json',
    ]);
    const st = JSON.parse(stdout);
    expect(st.state).toBe('succeeded');
    expect(st.shards).toHaveLength(9);
    for (const s of st.shards) {
      expect(s.state).toBe('done');
      expect(s.attempts).toBeGreaterThanOrEqual(1);
      expect(['a6', 'a8', 'a24']).toContain(s.agent);
      expect(s.agentVramClass).toMatch(/^(6gb|8gb|24gb)$/);
      expect(s.requiredVramClass).toBe('cpu');
    }
    const { stdout: agentsJson } = await run(process.execPath, [
      join(repoRoot, CLI_BIN),
      '--server',
      farm3.grpcAddr,
      'agents',
      '--json',
    ]);
    const agents = JSON.parse(agentsJson) as { name: string; vramGb: number; vramClass: string }[];
    expect(agents.map((a) => [a.name, a.vramGb, a.vramClass]).sort()).toEqual([
      ['a24', 24, '24gb'],
      ['a6', 6, '6gb'],
      ['a8', 8, '8gb'],
    ]);
  });
});
