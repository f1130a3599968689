import { describe, expect, it } from 'vitest';
import {
  age,
  classOrder,
  filterJobs,
  groupByClass,
  progressPercent,
  tileBox,
  tileUrl,
  timeline,
  upsertJob,
  upsertShard,
  type Agent,
  type Job,
  type Shard,
} from './model.js';

const job = (over: Partial<Job>): Job => ({
  id: 'j1',
  name: '',
  kind: 1,
  state: 2,
  model: 'esrgan-slim-x4',
  priority: 0,
  createdUnixMs: 1000,
  startedUnixMs: 0,
  finishedUnixMs: 0,
  shardsTotal: 4,
  shardsDone: 1,
  waitingReason: '',
  error: '',
  inputWidth: 0,
  inputHeight: 0,
  outputWidth: 0,
  outputHeight: 0,
  tile: 0,
  overlap: 0,
  shards: [],
  outputs: [],
  frames: 0,
  fps: 0,
  owner: '',
  ...over,
});

const shard = (over: Partial<Shard>): Shard => ({
  index: 0,
  stage: 'upscale',
  state: 1,
  attempts: 0,
  agent: '',
  agentVramClass: '',
  requiredVramClass: 'cpu',
  reason: '',
  runSeconds: 0,
  firstFrame: 0,
  frameCount: 0,
  dependsOn: -1,
  ...over,
});

const agent = (name: string, vramClass: string): Agent => ({
  id: name,
  name,
  hostname: 'h',
  deviceIndex: -1,
  deviceName: '',
  vramTotalGb: 0,
  vramUsableGb: 0,
  vramClass,
  state: 1,
  executionProvider: 'cpu',
  modelsLoaded: [],
  lastSeenUnixMs: 0,
  shardsCompleted: 0,
  currentShard: '',
  version: '',
});

describe('console view logic', () => {
  it('progress counts shards and is 100 once succeeded', () => {
    expect(progressPercent(job({ shardsDone: 1, shardsTotal: 3 }))).toBe(33);
    expect(progressPercent(job({ shardsDone: 0, shardsTotal: 0 }))).toBe(0);
    expect(progressPercent(job({ state: 4, shardsDone: 3, shardsTotal: 4 }))).toBe(100);
  });

  it('ages read in the largest fitting unit', () => {
    expect(age(0, 30_000)).toBe('30 s');
    expect(age(0, 10 * 60_000)).toBe('10 min');
    expect(age(0, 5 * 3600_000)).toBe('5 h');
    expect(age(0, 3 * 86400_000)).toBe('3 d');
    expect(age(5000, 0)).toBe('0 s');
  });

  it('filters by state (active = not finished), kind and text, newest first', () => {
    const jobs = [
      job({ id: 'a', state: 4, createdUnixMs: 1, owner: 'alice' }),
      job({ id: 'b', state: 2, createdUnixMs: 3, name: 'big upscale' }),
      job({ id: 'c', state: 1, createdUnixMs: 2, kind: 2, model: 'svd-xt' }),
    ];
    expect(filterJobs(jobs, { state: '', text: '', kind: '' }).map((j) => j.id)).toEqual(['b', 'c', 'a']);
    expect(filterJobs(jobs, { state: 'active', text: '', kind: '' }).map((j) => j.id)).toEqual(['b', 'c']);
    expect(filterJobs(jobs, { state: 'succeeded', text: '', kind: '' }).map((j) => j.id)).toEqual(['a']);
    expect(filterJobs(jobs, { state: '', text: 'ALICE', kind: '' }).map((j) => j.id)).toEqual(['a']);
    expect(filterJobs(jobs, { state: '', text: 'svd', kind: 'video' }).map((j) => j.id)).toEqual(['c']);
    expect(filterJobs(jobs, { state: '', text: '', kind: 'image' })).toEqual([]);
  });

  it('merges job and shard changes, keeping known shards when a change carries none', () => {
    const withShards = job({ shards: [shard({ index: 0 }), shard({ index: 2 })] });
    const merged = upsertJob([withShards], job({ shardsDone: 3 }));
    expect(merged[0].shardsDone).toBe(3);
    expect(merged[0].shards).toHaveLength(2);
    expect(upsertJob([withShards], job({ id: 'new' })).map((j) => j.id)).toEqual(['new', 'j1']);
    const s = upsertShard(withShards, shard({ index: 1, state: 3 }));
    expect(s.shards.map((x) => x.index)).toEqual([0, 1, 2]);
    expect(upsertShard(s, shard({ index: 1, state: 2 })).shards[1].state).toBe(2);
  });

  it('groups agents by VRAM class, cpu first then by size', () => {
    expect(['24gb', 'cpu', '8gb', '6gb', '80gb'].sort(classOrder)).toEqual(['cpu', '6gb', '8gb', '24gb', '80gb']);
    const groups = groupByClass([agent('z', '8gb'), agent('b', '24gb'), agent('a', '8gb'), agent('c', 'cpu')]);
    expect(groups.map((g) => [g.vramClass, g.agents.map((a) => a.name)])).toEqual([
      ['cpu', ['c']],
      ['8gb', ['a', 'z']],
      ['24gb', ['b']],
    ]);
  });

  it('places a tile by its region in percent of the output', () => {
    expect(tileBox({ x: 128, y: 0, width: 128, height: 64 }, 512, 256)).toEqual({
      left: 25,
      top: 0,
      width: 25,
      height: 25,
    });
    expect(tileBox(undefined, 512, 512)).toBeNull();
    expect(tileBox({ x: 0, y: 0, width: 0, height: 0 }, 512, 512)).toBeNull();
    expect(tileUrl('job-1', { index: 3, attempts: 2 })).toBe('/api/jobs/job-1/tiles/3?a=2');
  });

  it('lays video batches on the timeline with their cross-fade spans', () => {
    const batches = timeline(
      [
        shard({ index: 1, firstFrame: 20, frameCount: 25, state: 2 }),
        shard({ index: 0, firstFrame: 0, frameCount: 25, state: 3 }),
      ],
      45,
    );
    expect(batches.map((b) => [b.index, b.state])).toEqual([
      [0, 'done'],
      [1, 'leased'],
    ]);
    expect(batches[0].fadeWidth).toBe(0);
    // Frames 20..24 are shared by both batches: 5 of 45.
    expect(batches[1].fadeLeft).toBeCloseTo((100 * 20) / 45);
    expect(batches[1].fadeWidth).toBeCloseTo((100 * 5) / 45);
    expect(batches[1].left + batches[1].width).toBeCloseTo(100);
  });
});
