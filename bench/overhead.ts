/**
 * Farm overhead: the same 4× upscale through the whole farm (gRPC submit → coordinator → NATS →
 * 1 agent → object store → blend → PNG → download) against the single pass. Two comparisons,
 * interleaved run by run, medians of N:
 * - engine level (the strict one, `ratio`): the farm client call against the best single pass:
 *   decode → model → PNG encode in one process with the model already loaded, with onnxruntime's
 *   default threads and with every logical CPU explicitly (the faster median of the two is `single`);
 * - command level (`cli_ratio`, what a user runs): `tessera submit upscale --output` against a warm
 *   farm versus `tessera-agent run upscale`, each a fresh process (the single pass loads the model).
 * Target: farm / single ≤ 1.10.
 *
 *   npm run bench -- overhead [--runs N] [--size PX] [--model esrgan-slim-x4]
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import sharp from 'sharp';
import { decodeToRgb, encodeRgbPng, Upscaler } from '@tessera/engine';
import { JobState } from '@tessera/protocol';
import { AGENT_BIN, CLI_BIN, startFarm } from '../test/helpers/farm.js';
import { repoRoot } from '../test/helpers/process.js';
import { baboonPng } from '../test/helpers/images.js';
import { median } from './stats.js';

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string', default: '5' },
      size: { type: 'string', default: '512' },
      model: { type: 'string', default: 'esrgan-slim-x4' },
    },
  });
  const runs = Number(values.runs);
  const size = Number(values.size);
  const model = values.model!;
  // The real photo (128×128 baboon) enlarged with Lanczos so the model has real work to do.
  const image = await sharp(baboonPng()).resize(size, size, { kernel: 'lanczos3' }).png().toBuffer();
  console.log(`input: baboon photo resized to ${size}×${size}, ${model}, ${runs} timed runs each after one warm-up`);

  // Single pass, in process, model loaded once: onnxruntime's default threads, and every logical CPU.
  const cpus = availableParallelism();
  const singles = [
    { label: 'onnxruntime default threads', up: await Upscaler.load(model), times: [] as number[] },
    { label: `${cpus} threads`, up: await Upscaler.load(model, { intraOpThreads: cpus }), times: [] as number[] },
  ];
  const singleOnce = async (up: Upscaler) => {
    const t0 = performance.now();
    const out = await up.run(await decodeToRgb(image));
    await encodeRgbPng(out);
    return (performance.now() - t0) / 1000;
  };
  // The farm: real nats-server, coordinator and one agent process.
  const farm = await startFarm({ agents: [{ name: 'bench', vramGb: 8 }], agentThreads: 0 });
  let tiles = 0;
  let engineSeconds = 0;
  const farmOnce = async () => {
    const t0 = performance.now();
    const job = await farm.client.submitUpscale({ image, model });
    const done = await farm.client.waitForJob(job.id);
    if (done.state !== JobState.JOB_STATE_SUCCEEDED) throw new Error(`job failed: ${done.error}`);
    for await (const c of farm.client.jobOutput(job.id)) void c;
    const s = (performance.now() - t0) / 1000;
    const full = await farm.client.getJob(job.id);
    tiles = full.shardsTotal;
    engineSeconds = full.shards.reduce((a, sh) => a + sh.runSeconds, 0);
    return s;
  };
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-'));
  const inFile = join(dir, 'in.png');
  writeFileSync(inFile, image);
  const exec = promisify(execFile);
  const timed = async (args: string[]) => {
    const t0 = performance.now();
    await exec(process.execPath, args);
    return (performance.now() - t0) / 1000;
  };
  const cliSingleOnce = () =>
    timed([
      join(repoRoot, AGENT_BIN),
      'run',
      'upscale',
      '--model',
      model,
      '--input',
      inFile,
      '--output',
      join(dir, 'single.png'),
    ]);
  const cliFarmOnce = () =>
    timed([
      join(repoRoot, CLI_BIN),
      '--server',
      farm.grpcAddr,
      'submit',
      'upscale',
      '--model',
      model,
      '--input',
      inFile,
      '--output',
      join(dir, 'farm.png'),
    ]);
  try {
    for (const c of singles) await singleOnce(c.up);
    await farmOnce();
    await cliSingleOnce();
    await cliFarmOnce();
    const cliSingle: number[] = [];
    const cliFarm: number[] = [];
    // Interleaved, so background load on the machine hits both sides alike.
    const farmTimes: number[] = [];
    for (let i = 0; i < runs; i++) {
      for (const c of singles) c.times.push(await singleOnce(c.up));
      farmTimes.push(await farmOnce());
      cliSingle.push(await cliSingleOnce());
      cliFarm.push(await cliFarmOnce());
      console.log(
        `run ${i + 1}: engine level single ${singles.map((c) => `${c.times[i].toFixed(3)} s (${c.label})`).join(', ')}, farm ${farmTimes[i].toFixed(3)} s ` +
          `(agent engine ${engineSeconds.toFixed(3)} s); command level tessera-agent run ${cliSingle[i].toFixed(3)} s, ` +
          `tessera submit ${cliFarm[i].toFixed(3)} s`,
      );
    }
    const best = singles.reduce((a, b) => (median(b.times) < median(a.times) ? b : a));
    const s = median(best.times);
    const f = median(farmTimes);
    console.log(`farm: 1 agent, ${tiles} tile${tiles === 1 ? '' : 's'}`);
    const cs = median(cliSingle);
    const cf = median(cliFarm);
    console.log(
      `engine level: median single ${s.toFixed(3)} s (best: ${best.label}; ` +
        `${singles.map((c) => `${c.label} ${median(c.times).toFixed(3)} s`).join(', ')}), farm ${f.toFixed(3)} s, ` +
        `ratio ${(f / s).toFixed(3)} (target ≤ 1.10)`,
    );
    console.log(
      `command level: median tessera-agent run ${cs.toFixed(3)} s, tessera submit ${cf.toFixed(3)} s, ratio ${(cf / cs).toFixed(3)}`,
    );
    console.log(
      JSON.stringify({
        bench: 'overhead',
        model,
        input: `${size}x${size}`,
        runs,
        tiles,
        single_s: +s.toFixed(4),
        single_best: best.label,
        single_default_threads_s: +median(singles[0].times).toFixed(4),
        single_all_cpus_s: +median(singles[1].times).toFixed(4),
        farm_s: +f.toFixed(4),
        ratio: +(f / s).toFixed(4),
        cli_single_s: +cs.toFixed(4),
        cli_farm_s: +cf.toFixed(4),
        cli_ratio: +(cf / cs).toFixed(4),
        target: 1.1,
      }),
    );
  } finally {
    for (const c of singles) await c.up.close();
    await farm.close();
  }
}
