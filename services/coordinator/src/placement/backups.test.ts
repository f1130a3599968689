import { describe, expect, it } from 'vitest';
import { loadHardwareTable } from '@tessera/hardware';
import { newJob, newShard, type ShardRecord } from '../model.js';
import { speculationView, type SpeedHolder } from './backups.js';

const table = loadHardwareTable();
// esrgan-slim-x4: 0.03 s per megapixel at speed 1; the tile below (1000×1000 input) is 1 unit.
const job = newJob({
  id: 'j',
  name: 'j',
  kind: 'upscale',
  model: 'esrgan-slim-x4',
  seed: 0,
  priority: 0,
  maxAttempts: 3,
  createdMs: 0,
});
const tile = (index: number, patch: Partial<ShardRecord> = {}): ShardRecord => ({
  ...newShard({ jobId: 'j', index, stage: 'upscale', kind: 'upscale_tile', requiredClassGb: 0, seed: index }),
  input: { x: 0, y: 0, width: 1000, height: 1000 },
  ...patch,
});
const holder = (agentId: string, unitsPerSecond?: number): SpeedHolder => ({
  classGb: 0,
  liveness: 'live',
  advert: {
    agentId,
    modelSpeeds: unitsPerSecond ? [{ model: 'esrgan-slim-x4', unitsPerSecond, samples: 3 }] : [],
  },
});

describe('the speculation view of the coordinator', () => {
  const agents = [holder('slow', 1), holder('fast', 100), holder('new')];
  const progress = new Map<string, number>();
  const shards = [
    tile(0, { state: 'done', runSeconds: 2 }),
    tile(1, { state: 'leased', agentId: 'slow', attempt: 1, leasedMs: 0 }),
    tile(2),
  ];
  const view = speculationView(
    table,
    {
      agent: (id) => agents.find((a) => a.advert.agentId === id),
      agents: () => agents,
      progressOf: (k) => progress.get(k),
      jobShards: () => shards,
    },
    10_000,
  );

  it('estimates a running attempt from its progress (LATE), else from its expected run', () => {
    // slow: 1 unit/s × 0.03 s/unit = speed 0.03; the tile is 1 s there, and 10 s have passed: late by 9 s.
    expect(view.running('j.1', shards[1], job)).toMatchObject({ model: 'esrgan-slim-x4', remainingS: 9 });
    progress.set('j.1', 0.25);
    // A quarter done in 10 s: 30 s to go at its own rate.
    expect(view.running('j.1', shards[1], job).remainingS).toBeCloseTo(30);
    expect(view.running('j.1', shards[1], job).workS).toBeCloseTo(0.03);
  });

  it('gives an idle agent a speed only once it has measured the model', () => {
    expect(view.idleSpeed({ agentId: 'fast', classGb: 0, waitingSince: 0 }, 'esrgan-slim-x4')).toBeCloseTo(3);
    expect(view.idleSpeed({ agentId: 'new', classGb: 0, waitingSince: 0 }, 'esrgan-slim-x4')).toBeUndefined();
  });

  it("counts a job's GPU-seconds as spent so far plus the rest at the measured mean speed", () => {
    // 2 s committed + 10 s running + the queued tile at the mean measured speed ((0.03 + 3) / 2).
    expect(view.jobGpuS(job)).toBeCloseTo(2 + 10 + 0.03 / 1.515);
  });
});
