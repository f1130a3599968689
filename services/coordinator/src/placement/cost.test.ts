import { describe, expect, it } from 'vitest';
import { loadHardwareTable } from '@tessera/hardware';
import { newJob, newShard, type ImageParams } from '../model.js';
import { shardWork } from './cost.js';
import { agentSpeed, speedSamples } from './speeds.js';

const table = loadHardwareTable();
const head = { id: 'j1', name: 'n', seed: 1, priority: 0, maxAttempts: 3, createdMs: 0 };

describe('shardWork', () => {
  it('counts an upscale tile in input megapixels', () => {
    const job = newJob({ ...head, kind: 'upscale', model: 'esrgan-slim-x4' });
    const s = newShard({ jobId: 'j1', index: 0, stage: 'upscale', kind: 'upscale_tile', requiredClassGb: 0, seed: 1 });
    s.input = { x: 0, y: 0, width: 500, height: 400 };
    const w = shardWork(table, job, s);
    expect(w.units).toBeCloseTo(0.2);
    expect(w.workS).toBeCloseTo(0.2 * 0.03);
  });

  it('splits SDXL steps between base and refiner at high_noise_frac', () => {
    const image = {
      width: 1000,
      height: 1000,
      steps: 30,
      strength: 1,
      stages: ['base', 'refiner'],
      highNoiseFrac: 0.8,
      img2img: false,
    };
    const job = newJob({ ...head, kind: 'image', model: 'sdxl', image: image as unknown as ImageParams });
    const base = newShard({ jobId: 'j1', index: 0, stage: 'base', kind: 'sd_stage', requiredClassGb: 8, seed: 1 });
    const refiner = newShard({
      jobId: 'j1',
      index: 1,
      stage: 'refiner',
      kind: 'sd_stage',
      requiredClassGb: 8,
      seed: 1,
    });
    expect(shardWork(table, job, base).units).toBeCloseTo(24);
    expect(shardWork(table, job, refiner).units).toBeCloseTo(6);
    expect(shardWork(table, job, base).workS).toBeCloseTo(24 * 0.14);
  });

  it('counts a video batch in frame-steps and an unknown model as one second', () => {
    const job = newJob({ ...head, kind: 'video', model: 'svd-xt' });
    job.video = { steps: 25 } as never;
    const s = newShard({ jobId: 'j1', index: 0, stage: 'video', kind: 'svd_batch', requiredClassGb: 16, seed: 1 });
    s.frameCount = 25;
    expect(shardWork(table, job, s).units).toBe(625);
    expect(shardWork(table, { ...job, model: 'nope' }, s)).toEqual({ model: 'nope', units: 1, workS: 1 });
  });
});

describe('agentSpeed', () => {
  it('uses the measurement when there is one, else the class default', () => {
    const measured = [{ model: 'sdxl', unitsPerSecond: 10, samples: 3 }];
    expect(agentSpeed(table, 24, measured, 'sdxl')).toEqual({ speed: 10 * 0.14, source: 'measured' });
    expect(agentSpeed(table, 8, measured, 'sd15')).toEqual({ speed: 0.45, source: 'table' });
    expect(agentSpeed(table, 0, [], 'esrgan-slim-x4')).toEqual({ speed: 0.005, source: 'table' });
    expect(speedSamples(table, { name: 'a', classGb: 24, modelSpeeds: measured })).toEqual([
      { agent: 'a', model: '*', source: 'table', speed: 1 },
      { agent: 'a', model: 'sdxl', source: 'measured', speed: 10 * 0.14 },
    ]);
  });
});
