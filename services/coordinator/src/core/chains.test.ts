/** HEFT upward ranks of jobs with chains: the remaining critical path the queue orders them by. */
import { describe, expect, it } from 'vitest';
import { newJob, newShard, type ShardRecord } from '../model.js';
import { ChainRanks } from './chains.js';

const job = (shardsTotal: number) =>
  newJob({
    id: 'j',
    name: 'j',
    kind: 'video',
    model: 'svd-xt',
    seed: 1,
    priority: 0,
    maxAttempts: 3,
    createdMs: 0,
    shardsTotal,
  });
const shard = (index: number, dependsOn: number): ShardRecord =>
  newShard({ jobId: 'j', index, stage: 'video', kind: 'svd_batch', requiredClassGb: 8, seed: index, dependsOn });

describe('chain ranks', () => {
  it('ranks a chain by the work left along it, dropping as links commit', () => {
    // 0 → 1 → 2 → 3, link i costs i + 1 s: the whole path is 10 s.
    const shards = [0, 1, 2, 3].map((i) => shard(i, i - 1));
    const ranks = new ChainRanks((_, s) => s.index + 1);
    const j = job(4);
    expect(ranks.rank(j, (i) => shards[i])).toBe(10);
    shards[0].state = 'done';
    expect(ranks.rank(j, (i) => shards[i])).toBe(9);
    shards[1].state = 'done';
    shards[2].state = 'done';
    expect(ranks.rank(j, (i) => shards[i])).toBe(4);
    expect(ranks.current('j')).toBe(4);
  });

  it('takes the longest of several chains, and a stage fanning out to the longest branch', () => {
    // Two chains: 0 → 2 → 4 and 1 → 3; plus 5 waiting for 0 (a branch). 1 s each.
    const deps = [-1, -1, 0, 1, 2, 0];
    const shards = deps.map((d, i) => shard(i, d));
    const ranks = new ChainRanks();
    expect(ranks.rank(job(6), (i) => shards[i])).toBe(3);
    shards[0].state = 'done';
    shards[2].state = 'done';
    // Left: 4 (1 s), 5 (1 s), 1 → 3 (2 s).
    expect(ranks.rank(job(6), (i) => shards[i])).toBe(2);
  });

  it('ranks a job without chains 0, and keeps its rank until its last shard is written', () => {
    const ranks = new ChainRanks();
    const tiles = [0, 1, 2].map((i) => shard(i, -1));
    expect(ranks.rank(job(3), (i) => tiles[i])).toBe(0);
    const chain = [0, 1, 2].map((i) => shard(i, i - 1));
    const partly = new ChainRanks();
    // Only shard 0 written so far (intake writes them in order): the graph is not known whole.
    expect(partly.rank(job(3), (i) => (i === 0 ? chain[0] : undefined))).toBe(0);
    expect(partly.rank(job(3), (i) => chain[i])).toBe(3);
    partly.forget('j');
    expect(partly.current('j')).toBe(0);
  });

  it('walks a chain thousands of links long without deep recursion', () => {
    const n = 5_000;
    const shards = Array.from({ length: n }, (_, i) => shard(i, i - 1));
    expect(new ChainRanks().rank(job(n), (i) => shards[i])).toBe(n);
  });
});
