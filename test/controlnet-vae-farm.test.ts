/**
 * Issue 13 (part B) through the farm, against a real nats-server and real coordinator / agent processes: ControlNet
 * for SD 1.5 and SDXL (control images travel in the job's input blob; Canny / blur preprocessing on the agent) and
 * the VAE swap (kl-f8-anime2) on tiny models. A Canny control image changes the output; conditioning scale 0 gives
 * the bytes of the same job without ControlNet; same bytes with 1 agent and with 3; `tessera-agent run txt2img`
 * with the same ControlNet / VAE equals the farm; attachments that do not fit the model are refused at submit.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { writeTinyControlNet, writeTinySdModel, writeTinyVae } from '@tessera/engine';
import { JobState } from '@tessera/protocol';
import { TesseraModels, type SubmitImageRequest } from '@tessera/client';
import { MODEL_MARKER } from '@tessera/models';
import { AGENT_BIN, CLI_BIN, jobBytes, startFarm, type AgentSpec, type Farm } from './helpers/farm.js';
import { startNats, type TestNats } from './helpers/nats-server.js';
import { repoRoot } from './helpers/process.js';
import { baboonPng, rgbOf } from './helpers/images.js';

const run = promisify(execFile);

async function image(farm: Farm, req: SubmitImageRequest): Promise<Buffer> {
  const submitted = await farm.client.submitImage(req);
  const done = await farm.client.waitForJob(submitted.id);
  expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
  return jobBytes(farm.client, submitted.id);
}

async function refusal(farm: Farm, req: SubmitImageRequest): Promise<{ code: string; details: string } | undefined> {
  return farm.client.submitImage(req).then(
    () => undefined,
    (e: { code: string; details: string }) => e,
  );
}

describe('ControlNet and VAE swap image jobs on the farm', () => {
  let nats: TestNats;
  let models: string;
  let control: Buffer;
  let controlFile: string;
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
    models = mkdtempSync(join(tmpdir(), 'tessera-cn-models-'));
    await writeTinySdModel(join(models, 'sd15'), { family: 'sd15', controlnet: true });
    await writeTinySdModel(join(models, 'sdxl'), { family: 'sdxl-base', controlnet: true });
    await writeTinySdModel(join(models, 'sd35m'), { family: 'sd3' });
    await writeTinyControlNet(join(models, 'controlnet-canny-sd15'), { base: 'sd15', seed: 901 });
    await writeTinyControlNet(join(models, 'controlnet-depth-sd15'), { base: 'sd15', seed: 902 });
    await writeTinyControlNet(join(models, 'controlnet-blur-sdxl'), { base: 'sdxl-base', seed: 903 });
    await writeTinyVae(join(models, 'kl-f8-anime2'), { seed: 811 });
    control = await sharp(baboonPng()).resize(64, 64).png().toBuffer();
    controlFile = join(models, 'control.png');
    writeFileSync(controlFile, control);
    three = await farm([
      { name: 'c6', vramGb: 6 },
      { name: 'c8', vramGb: 8 },
      { name: 'c12', vramGb: 12 },
    ]);
    one = await farm([{ name: 'c-solo', vramGb: 12 }]);
  });
  afterAll(async () => {
    for (const f of farms) await f.close();
    await nats?.stop();
  });

  const base: SubmitImageRequest = {
    model: 'sd15',
    prompt: 'a baboon in a forest',
    negativePrompt: 'blurry',
    width: 64,
    height: 64,
    steps: 4,
    guidanceScale: 5,
    seed: 11,
  };
  const canny = (extra: object = {}) => ({
    model: 'controlnet-canny-sd15',
    image: control,
    preprocess: 'canny',
    ...extra,
  });

  it('SD 1.5 ControlNet: Canny changes the output, scale 0 equals no ControlNet byte for byte, two ControlNets differ from one, 1 agent = 3 agents', async () => {
    const plain = await image(three, base);
    const a = await image(three, { ...base, controlNets: [canny()] });
    expect(Buffer.compare(plain, a)).not.toBe(0);
    expect(Buffer.compare(a, await image(one, { ...base, controlNets: [canny()] }))).toBe(0);
    expect(Buffer.compare(plain, await image(three, { ...base, controlNets: [canny({ scale: 0 })] }))).toBe(0);
    const two = [canny(), { model: 'controlnet-depth-sd15', image: control, preprocess: 'blur', scale: 0.6 }];
    const b = await image(three, { ...base, controlNets: two });
    expect(Buffer.compare(a, b)).not.toBe(0);
    expect(Buffer.compare(b, await image(one, { ...base, controlNets: two }))).toBe(0);
    // The stage holds the model and its ControlNet: 6 + 0.7 GB needs the 8 GB class (never the 6 GB agent).
    const placed = await three.client.getJob((await three.client.submitImage({ ...base, controlNets: [canny()] })).id);
    await three.client.waitForJob(placed.id);
    const shard = (await three.client.getJob(placed.id)).shards[0];
    expect(shard.requiredVramClass).toBe('8gb');
    expect(['c8', 'c12']).toContain(shard.agent);
    // img2img with a ControlNet (StableDiffusionControlNetImg2ImgPipeline): init image and control image both travel.
    const i2i: SubmitImageRequest = { ...base, initImage: control, strength: 0.7 };
    const c = await image(three, { ...i2i, controlNets: [canny()] });
    expect(Buffer.compare(c, await image(three, i2i))).not.toBe(0);
    expect(Buffer.compare(c, await image(one, { ...i2i, controlNets: [canny()] }))).toBe(0);
  });

  it('SDXL ControlNet (blur) runs on the farm and changes the output', async () => {
    const req: SubmitImageRequest = { ...base, model: 'sdxl' };
    const plain = await image(three, req);
    const cn = { model: 'controlnet-blur-sdxl', image: control, preprocess: 'blur', guidanceEnd: 0.5 };
    const a = await image(three, { ...req, controlNets: [cn] });
    expect(Buffer.compare(plain, a)).not.toBe(0);
    expect(Buffer.compare(a, await image(one, { ...req, controlNets: [cn] }))).toBe(0);
  });

  it('VAE swap: kl-f8-anime2 changes the decode (txt2img and img2img), same bytes with 1 agent and with 3', async () => {
    for (const init of [undefined, control]) {
      const req: SubmitImageRequest = { ...base, ...(init ? { initImage: init, strength: 0.6 } : {}) };
      const own = await image(three, req);
      const swapped = await image(three, { ...req, vae: 'kl-f8-anime2' });
      expect(Buffer.compare(own, swapped)).not.toBe(0);
      expect(Buffer.compare(swapped, await image(one, { ...req, vae: 'kl-f8-anime2' }))).toBe(0);
    }
  });

  it('tessera-agent run txt2img with the same ControlNet and VAE equals the farm', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'tessera-cn-run-')), 'out.png');
    await run(process.execPath, [
      join(repoRoot, AGENT_BIN),
      'run',
      'txt2img',
      '--model',
      join(models, 'sd15'),
      '--prompt',
      base.prompt,
      '--negative',
      base.negativePrompt!,
      '--width',
      '64',
      '--height',
      '64',
      '--steps',
      '4',
      '--guidance',
      '5',
      '--seed',
      '11',
      '--controlnet',
      join(models, 'controlnet-canny-sd15'),
      '--control-image',
      controlFile,
      '--control-preprocess',
      'canny',
      '--control-scale',
      '0.8',
      '--vae',
      join(models, 'kl-f8-anime2'),
      '--output',
      out,
    ]);
    const farmBytes = await image(three, { ...base, controlNets: [canny({ scale: 0.8 })], vae: 'kl-f8-anime2' });
    expect(Buffer.compare((await rgbOf(farmBytes)).data, (await rgbOf(readFileSync(out))).data)).toBe(0);
  });

  it('tessera submit image --controlnet … --vae … gives the bytes of the same job from the client', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'tessera-cn-cli-')), 'out.png');
    await run(process.execPath, [
      join(repoRoot, CLI_BIN),
      '--server',
      three.grpcAddr,
      'submit',
      'image',
      '--model',
      'sd15',
      '--prompt',
      base.prompt,
      '--negative',
      base.negativePrompt!,
      '--width',
      '64',
      '--height',
      '64',
      '--steps',
      '4',
      '--guidance',
      '5',
      '--seed',
      '11',
      '--controlnet',
      `controlnet-canny-sd15=${controlFile},preprocess=canny,scale=0.8`,
      '--vae',
      'kl-f8-anime2',
      '--output',
      out,
    ]);
    const farmBytes = await image(three, { ...base, controlNets: [canny({ scale: 0.8 })], vae: 'kl-f8-anime2' });
    expect(Buffer.compare((await rgbOf(farmBytes)).data, (await rgbOf(readFileSync(out))).data)).toBe(0);
  });

  it('refuses at submit a ControlNet or VAE that does not fit the model, naming the field', async () => {
    const e1 = await refusal(three, { ...base, model: 'sd35m', controlNets: [canny()] });
    expect(e1?.code).toBe('INVALID_ARGUMENT');
    expect(e1?.details).toMatch(/^image\.controlnets\[0\]\.model: controlnet-canny-sd15 does not fit sd35m/);
    const e2 = await refusal(three, { ...base, vae: 'no-such-vae' });
    expect(e2?.details).toMatch(/^image\.vae: unknown vae "no-such-vae"/);
    const e3 = await refusal(three, { ...base, controlNets: [canny({ preprocess: 'sharpen' })] });
    expect(e3?.details).toMatch(/^image\.controlnets\[0\]\.preprocess/);
  });

  it('a ControlNet and a VAE pushed to the model store are fetched by an agent that lacks them; same bytes', async () => {
    // This agent's --models holds the base model only.
    const own = mkdtempSync(join(tmpdir(), 'tessera-cn-fetch-'));
    cpSync(join(models, 'sd15'), join(own, 'sd15'), { recursive: true });
    const f = await startFarm({ nats, agents: [{ name: 'c-fetch', vramGb: 12 }], agentArgs: ['--models', own] });
    farms.push(f);
    const req: SubmitImageRequest = { ...base, controlNets: [canny()], vae: 'kl-f8-anime2' };
    // Nowhere yet: refused at submit, naming the ControlNet and the push command.
    expect(await refusal(f, req)).toMatchObject({
      code: 'FAILED_PRECONDITION',
      details: expect.stringMatching(/model controlnet-canny-sd15, kl-f8-anime2 .*tessera models push/),
    });
    const store = new TesseraModels(f.grpcAddr);
    try {
      await store.push('controlnet-canny-sd15', join(models, 'controlnet-canny-sd15'));
      await store.push('kl-f8-anime2', join(models, 'kl-f8-anime2'));
    } finally {
      store.close();
    }
    const fetched = await image(f, req);
    expect(existsSync(join(own, 'controlnet-canny-sd15', MODEL_MARKER))).toBe(true);
    expect(existsSync(join(own, 'kl-f8-anime2', MODEL_MARKER))).toBe(true);
    expect(Buffer.compare(fetched, await image(one, req))).toBe(0);
  });
});
