/**
 * Issue 13 (part B) through the farm, against a real nats-server and real coordinator / agent processes, on tiny
 * models with the real exports' signatures: FLUX.1 [schnell] and [dev] txt2img and img2img, SD 3.5 Large on the
 * SD3 pipeline under its own id, PixArt-α and PixArt-Σ txt2img (resolution binning: 64 px requested, generated at
 * the 256-px bin and resized back). Each: the same bytes with 1 agent and with 3, the stage on an agent of its
 * table row's class, and `tessera-agent run txt2img` equal to the farm.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { writeTinyFluxModel, writeTinyPixArtModel, writeTinySdModel } from '@tessera/engine';
import { JobState, type Job } from '@tessera/protocol';
import type { SubmitImageRequest } from '@tessera/client';
import { AGENT_BIN, jobBytes, startFarm, type AgentSpec, type Farm } from './helpers/farm.js';
import { startNats, type TestNats } from './helpers/nats-server.js';
import { repoRoot } from './helpers/process.js';
import { baboonPng, rgbOf } from './helpers/images.js';

const run = promisify(execFile);

async function image(farm: Farm, req: SubmitImageRequest): Promise<{ job: Job; bytes: Buffer }> {
  const submitted = await farm.client.submitImage(req);
  const done = await farm.client.waitForJob(submitted.id);
  expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
  return { job: await farm.client.getJob(submitted.id), bytes: await jobBytes(farm.client, submitted.id) };
}

/** `tessera-agent run txt2img` on `dir`; returns the decoded pixels. */
async function agentRun(dir: string, args: string[]): Promise<Buffer> {
  const out = join(mkdtempSync(join(tmpdir(), 'tessera-t2i-')), 'out.png');
  const { stdout } = await run(process.execPath, [
    join(repoRoot, AGENT_BIN),
    'run',
    'txt2img',
    '--model',
    dir,
    ...args,
    '--output',
    out,
  ]);
  expect(JSON.parse(stdout)).toMatchObject({ width: 64, height: 64 });
  return (await rgbOf(readFileSync(out))).data;
}

describe('Flux, SD 3.5 Large and PixArt image jobs on the farm', () => {
  let nats: TestNats;
  let models: string;
  let init: Buffer;
  let three: Farm;
  let one: Farm;
  const farms: Farm[] = [];
  const farm = async (agents: AgentSpec[]) => {
    const f = await startFarm({ nats, agents, agentArgs: ['--models', models] });
    farms.push(f);
    return f;
  };

  beforeAll(async () => {
    nats = await startNats();
    models = mkdtempSync(join(tmpdir(), 'tessera-b-models-'));
    await writeTinyFluxModel(join(models, 'flux-schnell'), { variant: 'schnell' });
    await writeTinyFluxModel(join(models, 'flux-dev'), { variant: 'dev' });
    await writeTinySdModel(join(models, 'sd35l'), { family: 'sd3', t5: true });
    await writeTinyPixArtModel(join(models, 'pixart-alpha'), { variant: 'alpha' });
    await writeTinyPixArtModel(join(models, 'pixart-sigma'), { variant: 'sigma' });
    init = await sharp(baboonPng()).resize(64, 64).png().toBuffer();
    three = await farm([
      { name: 'f24', vramGb: 24 },
      { name: 'f48', vramGb: 48 },
      { name: 'f80', vramGb: 80 },
    ]);
    one = await farm([{ name: 'f-solo', vramGb: 80 }]);
  });
  afterAll(async () => {
    for (const f of farms) await f.close();
    await nats?.stop();
  });

  const cases: [string, string, Partial<SubmitImageRequest>][] = [
    ['flux-schnell', '48gb', { steps: 4 }],
    ['flux-dev', '48gb', { steps: 5, guidanceScale: 3.5 }],
    ['sd35l', '24gb', { steps: 4, guidanceScale: 4.5, negativePrompt: 'blurry' }],
    ['pixart-alpha', '12gb', { steps: 4, negativePrompt: 'blurry' }],
    ['pixart-sigma', '12gb', { steps: 4 }],
  ];
  /** diffusers has no PixArt img2img pipeline. */
  const txt2imgOnly = new Set(['pixart-alpha', 'pixart-sigma']);

  it.each(cases)(
    '%s: txt2img (and img2img), same bytes with 1 agent and with 3, on its class',
    async (model, cls, extra) => {
      for (const withInit of txt2imgOnly.has(model) ? [false] : [false, true]) {
        const req: SubmitImageRequest = {
          model,
          prompt: 'a baboon in a forest',
          width: 64,
          height: 64,
          seed: 42,
          ...extra,
          ...(withInit ? { initImage: init, strength: 0.6 } : {}),
        };
        const label = `${model}${withInit ? ' img2img' : ''}`;
        const a = await image(three, req);
        const b = await image(one, req);
        expect(Buffer.compare(a.bytes, b.bytes), label).toBe(0);
        expect(
          a.job.shards.map((s) => s.requiredVramClass),
          label,
        ).toEqual([cls]);
        const px = await rgbOf(a.bytes);
        expect([px.width, px.height], label).toEqual([64, 64]);
        const c = await image(one, { ...req, seed: 43 });
        expect(Buffer.compare(a.bytes, c.bytes), label).not.toBe(0);
      }
    },
  );

  it('an img2img job for a txt2img-only model (PixArt) is refused at submit, naming the field', async () => {
    const err = await three.client
      .submitImage({ model: 'pixart-alpha', prompt: 'a cat', initImage: init, strength: 0.5 })
      .then(
        () => undefined,
        (e: { code: string; details: string }) => e,
      );
    expect(err?.code).toBe('INVALID_ARGUMENT');
    expect(err?.details).toMatch(/^image\.init_image: pixart-alpha has no img2img pipeline/);
  });

  it.each(cases)('%s: tessera-agent run txt2img equals the farm', async (model, _cls, extra) => {
    const args = ['--prompt', 'a red dog', '--width', '64', '--height', '64', '--seed', '7'];
    if (extra.steps) args.push('--steps', String(extra.steps));
    if (extra.guidanceScale) args.push('--guidance', String(extra.guidanceScale));
    if (extra.negativePrompt) args.push('--negative', extra.negativePrompt);
    const local = await agentRun(join(models, model), args);
    const { bytes } = await image(three, {
      model,
      prompt: 'a red dog',
      width: 64,
      height: 64,
      seed: 7,
      ...extra,
    });
    expect(Buffer.compare((await rgbOf(bytes)).data, local)).toBe(0);
  });
});
