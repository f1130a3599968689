/**
 * The simulator is the production core: one scenario — one upscale job of 7 tiles, three agents of
 * different VRAM classes, each shard taking its agent's duration — run in the discrete-event
 * simulator and on a real farm (the coordinator binary, a real nats-server, zero-work agent slots
 * that sleep the given durations) places the same shards on the same agents in the same order.
 * The durations keep every two decisions ≥ 0.6 s apart, so the farm's own overhead cannot reorder them.
 * Speculative backups are off on the farm (`--speculation-budget 0`): the simulator of the production
 * core runs without them, and here a backup would add a placement.
 */
import pino from 'pino';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadHardwareTable, usableVramGb, vramClassOf } from '@tessera/hardware';
import { JobState } from '@tessera/protocol';
import { startZeroWorkLoadTestAgents, type ZeroWorkAgents } from '../services/agent/src/zero-work-engine.js';
import { simulate } from '../services/coordinator/src/sim/simulator.js';
import { startFarm, type Farm } from './helpers/farm.js';
import { waitFor } from './helpers/process.js';

const TILES = 7;
const AGENTS = [
  { name: 'small', vramGb: 8, workMs: 1500 },
  { name: 'mid', vramGb: 12, workMs: 3900 },
  { name: 'big', vramGb: 16, workMs: 6150 },
];

describe('simulator and real farm agree on placements', () => {
  let farm: Farm;
  const groups: ZeroWorkAgents[] = [];

  beforeAll(async () => {
    farm = await startFarm({
      agents: [],
      coordinatorArgs: ['--lease-ms', '60000', '--agent-silence-ms', '30000', '--speculation-budget', '0'],
    });
    for (const a of AGENTS)
      groups.push(
        await startZeroWorkLoadTestAgents({
          natsUrl: farm.nats.url,
          farm: farm.farmPrefix,
          count: 1,
          namePrefix: a.name,
          vramGb: a.vramGb,
          workMs: a.workMs,
          heartbeatMs: 250,
          waitMs: 30_000,
          log: pino({ level: 'warn' }),
        }),
      );
  });

  afterAll(async () => {
    for (const g of groups) await g.drain();
    await farm?.close();
  });

  it('gives the same shard → agent sequence', async () => {
    const table = loadHardwareTable();
    const classGb = (gb: number) => vramClassOf(table, usableVramGb(table, gb));
    const sim = simulate({
      seed: 1,
      jobs: [{ id: 'job', shards: TILES, classOf: () => 0 }],
      agents: AGENTS.map((a) => ({ name: `${a.name}-0`, classGb: classGb(a.vramGb) })),
      durationMs: (_s, agent) => AGENTS.find((a) => `${a.name}-0` === agent.name)!.workMs,
      recordPlacements: true,
    });
    expect(new Set(AGENTS.map((a) => classGb(a.vramGb))).size).toBe(AGENTS.length);
    const simPlaced = sim.placements.map((p) => [Number(p.key.split('.')[1]), p.agent]);
    // Every agent got work, the small one most (the scenario is not trivial).
    expect(new Set(simPlaced.map(([, a]) => a)).size).toBe(3);

    // Every agent slot parked its work request before the job arrives.
    await waitFor(
      async () => (await farm.client.listAgents({ includeLost: false })).length === AGENTS.length,
      20_000,
      'three agents registered',
    );
    await new Promise((r) => setTimeout(r, 1000));
    const image = await sharp({ create: { width: 16 * TILES, height: 16, channels: 3, background: '#4a7' } })
      .png()
      .toBuffer();
    const job = await farm.client.submitUpscale({ image, model: 'esrgan-slim-x2', tile: 16, overlap: 10, name: 'sim' });
    expect(job.shardsTotal).toBe(TILES);
    const done = await farm.client.waitForJob(job.id);
    expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
    const full = await farm.client.getJob(job.id);
    // Grants go out in index order (the lowest queued index first), so index order is grant order.
    const farmPlaced = full.shards.map((s) => [s.index, s.agent]);
    expect(full.shards.every((s) => s.attempts === 1)).toBe(true);
    expect(farmPlaced).toEqual(simPlaced);
  });
});
