/**
 * Issue 13 (part A) through the farm, against a real nats-server and real coordinator / agent processes:
 * Stable Cascade C → B → A as three shards on agents of the 16, 12 and 6 GB classes (status --json shows each
 * stage's agent and class), embeddings and latents handed stage to stage; Hunyuan-DiT v1.2 at its binned size;
 * for both the same bytes with 1 agent and with 3 and `tessera-agent run txt2img` equal to the farm; each of the
 * five rows of the seed's hardware table run end to end on an agent of its own class; a model no engine pipeline
 * runs refused at submit, naming it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { writeTinyCascadeModels, writeTinyHunyuanModel, writeTinySdModel } from '@tessera/engine';
import { JobState, ShardState, type Job } from '@tessera/protocol';
import type { SubmitImageRequest } from '@tessera/client';
import { AGENT_BIN, CLI_BIN, jobBytes, startFarm, type AgentSpec, type Farm } from './helpers/farm.js';
import { startNats, type TestNats } from './helpers/nats-server.js';
import { repoRoot } from './helpers/process.js';
import { rgbOf } from './helpers/images.js';

const run = promisify(execFile);

async function image(farm: Farm, req: SubmitImageRequest): Promise<{ job: Job; bytes: Buffer }> {
  const submitted = await farm.client.submitImage(req);
  const done = await farm.client.waitForJob(submitted.id);
  expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
  return { job: await farm.client.getJob(submitted.id), bytes: await jobBytes(farm.client, submitted.id) };
}

/** The bundled table plus an image row naming a pipeline the engine does not have. */
function tableWithUnrunnableRow(): string {
  const doc = parse(readFileSync(join(repoRoot, 'libs/hardware/hardware-table.yaml'), 'utf8'));
  doc.models.push({
    id: 'no-pipeline',
    family: 'test',
    kind: 'image',
    min_vram_gb: 6,
    source: 'test',
    pipeline: 'pixart-x',
  });
  const file = join(mkdtempSync(join(tmpdir(), 'tessera-table-')), 'table.yaml');
  writeFileSync(file, stringify(doc));
  return file;
}

const CASCADE: SubmitImageRequest = {
  model: 'cascade',
  prompt: 'a red astronaut riding a horse',
  negativePrompt: 'blurry',
  width: 128,
  height: 128,
  steps: 5,
  seed: 42,
};

describe('Stable Cascade and the hardware-table rows on the farm', () => {
  let nats: TestNats;
  let models: string;
  const farms: Farm[] = [];
  const farm = async (agents: AgentSpec[], hardwareTable?: string) => {
    const f = await startFarm({ nats, agents, hardwareTable, agentArgs: ['--models', models] });
    farms.push(f);
    return f;
  };

  beforeAll(async () => {
    nats = await startNats();
    models = mkdtempSync(join(tmpdir(), 'tessera-cascade-models-'));
    await writeTinyCascadeModels(models, 'cascade');
    await writeTinySdModel(join(models, 'sd15'), { family: 'sd15' });
    await writeTinySdModel(join(models, 'sdxl'), { family: 'sdxl-base' });
    await writeTinySdModel(join(models, 'sd35m'), { family: 'sd3' });
    await writeTinyHunyuanModel(join(models, 'hunyuan-dit-1.2'));
  });
  afterAll(async () => {
    for (const f of farms) await f.close();
    await nats?.stop();
  });

  it('C → B → A run as three shards on 16, 12 and 6 GB agents; same bytes with 1 agent; status --json shows each stage', async () => {
    const three = await farm([
      { name: 'c16', vramGb: 16 },
      { name: 'b12', vramGb: 12 },
      { name: 'a6', vramGb: 6 },
    ]);
    const { job, bytes } = await image(three, CASCADE);
    expect(job.shards.map((s) => [s.stage, s.requiredVramClass, s.agent, s.agentVramClass, s.dependsOn])).toEqual([
      ['c', '16gb', 'c16', '16gb', -1],
      ['b', '12gb', 'b12', '12gb', 0],
      ['a', '6gb', 'a6', '6gb', 1],
    ]);
    expect(job.shards.every((s) => s.state === ShardState.SHARD_STATE_DONE)).toBe(true);
    const px = await rgbOf(bytes);
    expect([px.width, px.height]).toEqual([128, 128]);
    expect(new Set(px.data).size).toBeGreaterThan(20);

    const { stdout } = await run(process.execPath, [
      join(repoRoot, CLI_BIN),
      '--server',
      three.grpcAddr,
      'status',
      job.id,
      '--json',
    ]);
    const st = JSON.parse(stdout);
    expect(
      st.shards.map(
        (s: { stage: string; agent: string; agentVramClass: string }) => `${s.stage}:${s.agent}:${s.agentVramClass}`,
      ),
    ).toEqual(['c:c16:16gb', 'b:b12:12gb', 'a:a6:6gb']);

    const one = await farm([{ name: 'solo24', vramGb: 24 }]);
    const solo = await image(one, CASCADE);
    expect(solo.job.shards.every((s) => s.agent === 'solo24')).toBe(true);
    expect(Buffer.compare(solo.bytes, bytes)).toBe(0);
    // The seed and the prompt reach the stages.
    expect(Buffer.compare((await image(one, { ...CASCADE, seed: 43 })).bytes, bytes)).not.toBe(0);
    expect(Buffer.compare((await image(one, { ...CASCADE, prompt: 'a blue dog' })).bytes, bytes)).not.toBe(0);

    // tessera-agent run txt2img on the prior directory runs C → B → A locally and equals the farm.
    const out = join(mkdtempSync(join(tmpdir(), 'tessera-cascade-t2i-')), 'out.png');
    const local = await run(process.execPath, [
      join(repoRoot, AGENT_BIN),
      'run',
      'txt2img',
      '--model',
      join(models, 'cascade'),
      '--prompt',
      CASCADE.prompt,
      '--negative',
      CASCADE.negativePrompt!,
      '--steps',
      '5',
      '--width',
      '128',
      '--height',
      '128',
      '--seed',
      '42',
      '--output',
      out,
    ]);
    expect(JSON.parse(local.stdout)).toMatchObject({ width: 128, height: 128, family: 'cascade-prior' });
    expect(Buffer.compare((await rgbOf(readFileSync(out))).data, px.data)).toBe(0);
  });

  it('Hunyuan-DiT v1.2: binned to a trained shape, same bytes with 1 agent and with 3, equal to tessera-agent run txt2img', async () => {
    const req: SubmitImageRequest = {
      model: 'hunyuan-dit-1.2',
      prompt: '一个宇航员在骑马',
      negativePrompt: '模糊',
      width: 800,
      height: 600,
      steps: 3,
      guidanceScale: 5,
      seed: 9,
    };
    const three = await farm([
      { name: 'h24a', vramGb: 24 },
      { name: 'h24b', vramGb: 24 },
      { name: 'h48', vramGb: 48 },
    ]);
    const a = await image(three, req);
    expect([a.job.shards[0].requiredVramClass, a.job.shards[0].agentVramClass]).toEqual(['24gb', '24gb']);
    const px = await rgbOf(a.bytes);
    expect([px.width, px.height]).toEqual([1024, 768]);
    const one = await farm([{ name: 'h-solo', vramGb: 24 }]);
    expect(Buffer.compare((await image(one, req)).bytes, a.bytes)).toBe(0);
    expect(
      Buffer.compare((await image(one, { ...req, prompt: 'an astronaut riding a horse' })).bytes, a.bytes),
    ).not.toBe(0);
    const out = join(mkdtempSync(join(tmpdir(), 'tessera-hunyuan-t2i-')), 'out.png');
    const local = await run(process.execPath, [
      join(repoRoot, AGENT_BIN),
      'run',
      'txt2img',
      '--model',
      join(models, 'hunyuan-dit-1.2'),
      '--prompt',
      req.prompt,
      '--negative',
      req.negativePrompt!,
      '--steps',
      '3',
      '--guidance',
      '5',
      '--width',
      '800',
      '--height',
      '600',
      '--seed',
      '9',
      '--output',
      out,
    ]);
    expect(JSON.parse(local.stdout)).toMatchObject({ width: 1024, height: 768, family: 'hunyuan-dit' });
    expect(Buffer.compare((await rgbOf(readFileSync(out))).data, px.data)).toBe(0);
  });

  it("each of the seed's five hardware-table rows runs end to end on an agent of its own class; an unrunnable model is refused at submit", async () => {
    const f = await farm(
      [
        { name: 'g6', vramGb: 6 },
        { name: 'g8', vramGb: 8 },
        { name: 'g12', vramGb: 12 },
        { name: 'g16', vramGb: 16 },
        { name: 'g24', vramGb: 24 },
      ],
      tableWithUnrunnableRow(),
    );
    const rows: [string, number, string[]][] = [
      ['sd15', 64, ['g6']],
      ['sdxl', 64, ['g8']],
      ['sd35m', 64, ['g12']],
      ['cascade', 128, ['g16', 'g12', 'g6']],
      ['hunyuan-dit-1.2', 1024, ['g24']],
    ];
    for (const [model, size, agents] of rows) {
      const { job, bytes } = await image(f, {
        model,
        prompt: 'a photo of a cat',
        width: size,
        height: size,
        steps: 3,
        seed: 7,
      });
      expect(
        job.shards.map((s) => s.agent),
        model,
      ).toEqual(agents);
      const px = await rgbOf(bytes);
      expect([px.width, px.height], model).toEqual([size, size]);
    }
    // A row no engine pipeline runs (here one naming a pipeline the engine lacks) is refused at submit.
    const err = await f.client.submitImage({ model: 'no-pipeline', prompt: 'a cat', seed: 1 }).then(
      () => undefined,
      (e: { code: number; details: string }) => e,
    );
    expect(err?.details).toMatch(/^image\.model: model no-pipeline: no engine pipeline runs it/);
    expect((await f.client.listJobs()).some((j) => j.model === 'no-pipeline')).toBe(false);
  });
});
