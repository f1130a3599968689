/**
 * Mixed-speed fleet (issue 12, done-means 1): the same tiled 4× upscale on one agent, then on that
 * agent plus a slow one (a second agent process slowed by the test-only engine delay
 * TESSERA_TEST_ENGINE_SLOWDOWN, each tile taking `--slowdown` × its engine time), then on two equal
 * agents. Real nats-server, coordinator and agent processes; each configuration gets one warm-up job
 * (models load, agents measure their speed) and then `--runs` timed jobs, medians compared. Outputs
 * must be byte-identical across all three. Targets: both / one ≤ 1.05; two equal / one < 1.
 *
 *   npm run bench -- mixed-speed [--runs N] [--slowdown F] [--width PX] [--height PX] [--tile PX]
 */
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { JobState } from '@tessera/protocol';
import { jobBytes, startFarm, type Farm } from '../test/helpers/farm.js';
import { baboonPng } from '../test/helpers/images.js';
import { median } from './stats.js';

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string', default: '3' },
      slowdown: { type: 'string', default: '10' },
      width: { type: 'string', default: '451' },
      height: { type: 'string', default: '300' },
      tile: { type: 'string', default: '96' },
      model: { type: 'string', default: 'esrgan-slim-x4' },
    },
  });
  const runs = Number(values.runs);
  const slowdown = Number(values.slowdown);
  const [width, height, tile] = [Number(values.width), Number(values.height), Number(values.tile)];
  const model = values.model!;
  const image = await sharp(baboonPng()).resize(width, height, { kernel: 'lanczos3' }).png().toBuffer();
  console.log(
    `input: baboon photo resized to ${width}×${height}, ${model}, tile ${tile}; slow agent ×${slowdown}; ${runs} timed runs per fleet after one warm-up`,
  );
  const farm = await startFarm({ agents: [{ name: 'fast', vramGb: 8 }] });
  const outputs = new Set<string>();
  let tiles = 0;
  const once = async (f: Farm): Promise<{ s: number; byAgent: Map<string, number> }> => {
    const t0 = performance.now();
    const job = await f.client.submitUpscale({ image, model, tile });
    const done = await f.client.waitForJob(job.id);
    if (done.state !== JobState.JOB_STATE_SUCCEEDED) throw new Error(`job failed: ${done.error}`);
    const bytes = await jobBytes(f.client, job.id);
    const s = (performance.now() - t0) / 1000;
    outputs.add(createHash('sha256').update(bytes).digest('hex'));
    const full = await f.client.getJob(job.id);
    tiles = full.shardsTotal;
    const byAgent = new Map<string, number>();
    for (const sh of full.shards) byAgent.set(sh.agent, (byAgent.get(sh.agent) ?? 0) + 1);
    const lone = full.shards.filter((sh) => sh.agent !== 'fast');
    const fastRun = full.shards.filter((sh) => sh.agent === 'fast').reduce((a, sh) => a + sh.runSeconds, 0);
    if (process.env.TESSERA_BENCH_VERBOSE)
      console.log(
        `  fast engine total ${fastRun.toFixed(2)} s; others: ${lone.map((sh) => `#${sh.index} ${sh.agent} ${sh.runSeconds.toFixed(2)} s (attempts ${sh.attempts})`).join(', ')}`,
      );
    return { s, byAgent };
  };
  const measure = async (label: string): Promise<number> => {
    await once(farm);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const r = await once(farm);
      times.push(r.s);
      const split = [...r.byAgent].map(([a, n]) => `${a} ${n}`).join(', ');
      console.log(`${label} run ${i + 1}: ${r.s.toFixed(3)} s (tiles: ${split})`);
    }
    return median(times);
  };
  try {
    const one = await measure('one agent');
    await farm.startAgent({ name: 'slow', vramGb: 8, env: { TESSERA_TEST_ENGINE_SLOWDOWN: String(slowdown) } });
    const withSlow = await measure('+ slow agent');
    const speeds = (await (await fetch(farm.metricsUrl)).text())
      .split('\n')
      .filter((l) => l.startsWith('tessera_agent_speed{'));
    console.log(`coordinator's view of the fleet:\n  ${speeds.join('\n  ')}`);
    await farm.agents.get('slow')!.stop('SIGTERM');
    farm.agents.delete('slow');
    // Let the coordinator see it gone before the twin joins (silence deadline 1.5 s in test timings).
    await new Promise((r) => setTimeout(r, 2500));
    await farm.startAgent({ name: 'twin', vramGb: 8 });
    const two = await measure('two equal agents');
    const slowRatio = withSlow / one;
    const equalRatio = two / one;
    console.log(
      `${tiles} tiles; median: one agent ${one.toFixed(3)} s, + slow ${withSlow.toFixed(3)} s, two equal ${two.toFixed(3)} s`,
    );
    console.log(
      `ratio with a slow agent: ${slowRatio.toFixed(3)} (target ≤ 1.05); two equal agents: ${equalRatio.toFixed(3)} (target < 1)`,
    );
    console.log(`outputs: ${outputs.size === 1 ? 'byte-identical in every run' : `${outputs.size} different outputs`}`);
    console.log(
      JSON.stringify({
        bench: 'mixed-speed',
        model,
        input: `${width}x${height}`,
        tile,
        tiles,
        slowdown,
        runs,
        one_s: +one.toFixed(4),
        with_slow_s: +withSlow.toFixed(4),
        two_equal_s: +two.toFixed(4),
        ratio_with_slow: +slowRatio.toFixed(4),
        ratio_two_equal: +equalRatio.toFixed(4),
        identical: outputs.size === 1,
      }),
    );
    if (outputs.size !== 1) process.exitCode = 1;
  } finally {
    await farm.close();
  }
}
