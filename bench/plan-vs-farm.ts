/**
 * The simulator predicts a real run (issue 12, done-means 4): a workload of tiled upscales on the
 * real coordinator with zero-work agent slots that each wait a fixed time per work unit (the cost
 * model's input megapixels) — i.e. agents of known speeds — against what `tessera plan` predicts for
 * the same fleet and workload. Target: the farm's makespan within 15 % of the prediction.
 *
 *   npm run bench -- plan-vs-farm [--jobs N] [--size PX] [--tile PX] [--speeds 0.0005,0.0005,0.00025]
 *
 * Speeds are relative to the hardware table's cost model (esrgan-slim-x2: 0.03 s per megapixel at 1.0),
 * so 0.0005 makes a slot take 60 s per input megapixel. The farm's makespan runs from the first
 * submission to the last job's end (its assembly included; outputs are small).
 */
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { loadHardwareTable } from '@tessera/hardware';
import { JobState } from '@tessera/protocol';
import { createLogger } from '@tessera/runtime';
import { planWithTable } from '../services/coordinator/src/sim/index.js';
import { startZeroWorkLoadTestAgents } from '../services/agent/src/zero-work-engine.js';
import { startFarm } from '../test/helpers/farm.js';

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      jobs: { type: 'string', default: '1' },
      size: { type: 'string', default: '640' },
      tile: { type: 'string', default: '64' },
      overlap: { type: 'string', default: '16' },
      speeds: { type: 'string', default: '0.0005,0.0005,0.00025' },
      model: { type: 'string', default: 'esrgan-slim-x2' },
    },
  });
  const jobs = Number(values.jobs);
  const [size, tile, overlap] = [Number(values.size), Number(values.tile), Number(values.overlap)];
  const speeds = values.speeds!.split(',').map(Number);
  const model = values.model!;
  const spu = loadHardwareTable().models.get(model)!.secondsPerUnit!;
  const fleetYaml = `agents:\n${speeds.map((s, i) => `  - { name: z${i}, vram_gb: 8, count: 1, speed: ${s} }\n`).join('')}`;
  const workYaml = `jobs:\n  - { kind: upscale, model: ${model}, width: ${size}, height: ${size}, tile: ${tile}, overlap: ${overlap}, count: ${jobs} }\n`;
  const plan = planWithTable({ text: fleetYaml, file: 'fleet' }, { text: workYaml, file: 'workload' });
  const tiles = new Set(plan.schedule.map((a) => `${a.job}/${a.shard}`)).size;
  console.log(
    `fleet: ${speeds.length} zero-work slots, speeds ${speeds.join(', ')} (${speeds.map((s) => (spu / s).toFixed(1)).join(', ')} s per megapixel); ${jobs} × ${size}² ${model}, tile ${tile}, overlap ${overlap}: ${tiles} shards`,
  );
  console.log(`plan: makespan ${plan.makespan_s.toFixed(2)} s (lower bound ${plan.lower_bound_s.toFixed(2)} s)`);

  process.env.TESSERA_LOG_LEVEL ??= 'warn';
  const image = await sharp({ create: { width: size, height: size, channels: 3, background: '#7a6' } })
    .png()
    .toBuffer();
  const farm = await startFarm({ agents: [], coordinatorArgs: ['--lease-ms', '30000'] });
  const agents = await startZeroWorkLoadTestAgents({
    natsUrl: farm.nats.url,
    farm: farm.farmPrefix,
    count: speeds.length,
    namePrefix: 'z',
    vramGb: 8,
    heartbeatMs: 250,
    secondsPerUnit: speeds.map((s) => spu / s),
    log: createLogger('plan-vs-farm'),
  });
  try {
    const t0 = performance.now();
    const ids = await Promise.all(
      Array.from({ length: jobs }, async () => (await farm.client.submitUpscale({ image, model, tile, overlap })).id),
    );
    for (const id of ids) {
      const done = await farm.client.waitForJob(id);
      if (done.state !== JobState.JOB_STATE_SUCCEEDED) throw new Error(`job ${id} failed: ${done.error}`);
    }
    const farmS = (performance.now() - t0) / 1000;
    const ratio = farmS / plan.makespan_s;
    console.log(
      `farm: makespan ${farmS.toFixed(2)} s; farm / plan ${ratio.toFixed(3)} (target within 15 %: 0.85 … 1.15)`,
    );
    console.log(
      JSON.stringify({
        bench: 'plan-vs-farm',
        model,
        jobs,
        shards: tiles,
        speeds,
        plan_s: +plan.makespan_s.toFixed(4),
        farm_s: +farmS.toFixed(4),
        ratio: +ratio.toFixed(4),
        within_15_percent: Math.abs(ratio - 1) <= 0.15,
      }),
    );
  } finally {
    await agents.drain();
    await farm.close();
  }
}
