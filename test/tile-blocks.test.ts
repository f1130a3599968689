/**
 * Issue 16 part 3, with real processes (nats-server, coordinator, agents): on a farm of a 24 GB and an
 * 8 GB agent, with a hardware table whose upscaler needs VRAM per megapixel, the big agent gets
 * blocks of tiles that only it fits, and the output is the same bytes as the single pass and as a
 * farm of one class (one shard per tile).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobState } from '@tessera/protocol';
import { AGENT_BIN, jobBytes, startFarm } from './helpers/farm.js';
import { startNats, type TestNats } from './helpers/nats-server.js';
import { repoRoot } from './helpers/process.js';
import { baboonCrop, rgbOf } from './helpers/images.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'tessera-blocks-'));

/** The bundled table with esrgan-slim-x4 needing 1,500 GB per megapixel: a 64² tile 8 GB, 3 × 3 tiles 24 GB. */
function tableByPixels(): string {
  const doc = parse(readFileSync(join(repoRoot, 'libs/hardware/hardware-table.yaml'), 'utf8'));
  const row = doc.models.find((m: { id: string }) => m.id === 'esrgan-slim-x4');
  row.upscaler.vram_gb_per_megapixel = 1500;
  const file = join(dir, 'table.yaml');
  writeFileSync(file, stringify(doc));
  return file;
}

describe('tile size by VRAM class', () => {
  let nats: TestNats;
  let image: Buffer;
  let table: string;

  beforeAll(async () => {
    nats = await startNats();
    table = tableByPixels();
    image = await baboonCrop(0, 0, 128, 96);
  });
  afterAll(async () => nats?.stop());

  async function upscaleOn(agents: { name: string; vramGb: number }[]) {
    const farm = await startFarm({ nats, hardwareTable: table, agents });
    try {
      const job = await farm.client.submitUpscale({ image, model: 'esrgan-slim-x4', tile: 32, overlap: 16 });
      const done = await farm.client.waitForJob(job.id);
      expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
      return { job: await farm.client.getJob(job.id), png: await jobBytes(farm.client, job.id) };
    } finally {
      await farm.close();
    }
  }

  it('gives the 24 GB agent blocks of tiles only it fits; same bytes as one class and as the single pass', async () => {
    const mixed = await upscaleOn([
      { name: 'big', vramGb: 24 },
      { name: 'small', vramGb: 8 },
    ]);
    const uniform = await upscaleOn([{ name: 'only', vramGb: 24 }]);
    // 4 × 3 tiles of 32 px (8 GB each); on the mixed farm they go in blocks of up to 3 × 3 tiles, the
    // largest needing 24 GB: fewer, larger shards, and those only the big agent fits ran there.
    expect(uniform.job.shards).toHaveLength(12);
    expect(mixed.job.shards.length).toBeLessThan(12);
    const bigOnly = mixed.job.shards.filter((s) => s.requiredVramClass !== '8gb');
    expect(bigOnly.length).toBeGreaterThan(0);
    for (const s of bigOnly) {
      expect(s.requiredVramClass).toMatch(/^(12|16|24)gb$/);
      expect(s.agent).toBe('big');
    }

    const inFile = join(dir, 'in.png');
    const outFile = join(dir, 'single.png');
    writeFileSync(inFile, image);
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
    const single = await rgbOf(readFileSync(outFile));
    const a = await rgbOf(mixed.png);
    const b = await rgbOf(uniform.png);
    expect([a.width, a.height]).toEqual([512, 384]);
    expect(a.data.equals(b.data)).toBe(true);
    expect(a.data.equals(single.data)).toBe(true);
    expect(Buffer.from(mixed.png).equals(Buffer.from(uniform.png))).toBe(true);
  });
});
