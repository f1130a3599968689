import { describe, expect, it } from 'vitest';
import { ShardQueue } from './queue.js';
import { assign, bestAgentFor, waitingReason, type IdleAgent, type QueuedShard } from './scheduler.js';

const shard = (index: number, requiredClassGb: number, extra: Partial<QueuedShard> = {}): QueuedShard => ({
  key: `j.${index}`,
  jobId: 'j',
  index,
  requiredClassGb,
  priority: 0,
  jobCreatedMs: 0,
  failedOn: [],
  ...extra,
});
const agent = (agentId: string, classGb: number, waitingSince = 0): IdleAgent => ({ agentId, classGb, waitingSince });
const label = (gb: number) => (gb === 0 ? 'cpu' : `${gb}gb`);

describe('scheduler', () => {
  it('never places a shard on an agent whose class is too small', () => {
    expect(bestAgentFor(shard(0, 8), [agent('a6', 6)])).toBeNull();
    expect(assign([shard(0, 8), shard(1, 8)], [agent('a6', 6)])).toEqual([]);
  });

  it('prefers the smallest fitting class while it is free', () => {
    const idle = [agent('a24', 24, 0), agent('a8', 8, 1), agent('a6', 6, 2)];
    const got = assign([shard(0, 8)], idle);
    expect(got.map((a) => a.agent.agentId)).toEqual(['a8']);
  });

  it('is work-conserving: the bigger agent takes work when the best fit is busy', () => {
    const got = assign([shard(0, 8), shard(1, 8), shard(2, 8)], [agent('a24', 24), agent('a8', 8), agent('a6', 6)]);
    expect(got.map((a) => [a.shard.index, a.agent.agentId])).toEqual([
      [0, 'a8'],
      [1, 'a24'],
    ]);
  });

  it('breaks class ties by waiting time', () => {
    expect(bestAgentFor(shard(0, 0), [agent('late', 8, 5), agent('early', 8, 2)])?.agentId).toBe('early');
  });

  it('serves priority first, then age, then index', () => {
    const got = assign(
      [
        shard(3, 0, { jobId: 'old', jobCreatedMs: 1 }),
        shard(1, 0, { jobId: 'vip', priority: 5, jobCreatedMs: 9 }),
        shard(0, 0, { jobId: 'old', jobCreatedMs: 1 }),
      ],
      [agent('a', 0, 0), agent('b', 0, 1), agent('c', 0, 2)],
    );
    expect(got.map((a) => `${a.shard.jobId}.${a.shard.index}`)).toEqual(['vip.1', 'old.0', 'old.3']);
  });

  it('avoids an agent that failed the shard unless it is the only one', () => {
    const s = shard(0, 0, { failedOn: ['bad'] });
    expect(bestAgentFor(s, [agent('bad', 0, 0), agent('good', 24, 1)])?.agentId).toBe('good');
    expect(bestAgentFor(s, [agent('bad', 0, 0)])?.agentId).toBe('bad');
  });

  it('prefers, within a class, an agent that has the model loaded', () => {
    const s = shard(0, 8, { model: 'esrgan-slim-x4' });
    const cold = { ...agent('cold', 8, 0), modelsLoaded: [] };
    const warm = { ...agent('warm', 8, 5), modelsLoaded: ['esrgan-slim-x4'] };
    expect(bestAgentFor(s, [cold, warm])?.agentId).toBe('warm');
    // …but never over a smaller fitting class, and a model directory counts by its last part.
    const small = { ...agent('small', 8, 9), modelsLoaded: ['/models/sdxl'] };
    const bigWarm = { ...agent('big', 24, 0), modelsLoaded: ['/models/sdxl'] };
    expect(bestAgentFor(shard(1, 8, { model: 'sdxl' }), [bigWarm, small, cold])?.agentId).toBe('small');
  });

  it('explains why work waits', () => {
    expect(waitingReason(8, [6, 6], label)).toBe('no agent of VRAM class 8gb or larger is connected (fleet: 6gb)');
    expect(waitingReason(8, [], label)).toContain('fleet: none');
    expect(waitingReason(8, [6, 24], label)).toBe('');
  });

  it('blocklisted agents never get a shard of the job, even when they are the only fitting ones', () => {
    const s = shard(0, 0, { blocked: ['bad'] });
    expect(bestAgentFor(s, [{ ...agent('id-bad', 0, 0), name: 'bad' }])).toBeNull();
    expect(bestAgentFor(s, [{ ...agent('id-bad', 0, 0), name: 'bad' }, agent('ok', 24, 1)])?.agentId).toBe('ok');
  });

  it('shares agents between owners of equal priority by weight, priority first', () => {
    const many = (jobId: string, owner: string, n: number, extra: Partial<QueuedShard> = {}) =>
      Array.from({ length: n }, (_, i) =>
        shard(i, 0, { jobId, owner, key: `${jobId}.${i}`, jobCreatedMs: jobId === 'old' ? 1 : 2, ...extra }),
      );
    const idle = Array.from({ length: 6 }, (_, i) => agent(`a${i}`, 0, i));
    const weights = new Map([['alice', 2]]);
    const fair = { running: new Map<string, number>(), weight: (o: string) => weights.get(o) ?? 1 };
    // Alice's job is older, but with equal weights each owner gets half.
    const even = assign([...many('old', 'alice', 10), ...many('new', 'bob', 10)], idle);
    expect(even.filter((a) => a.shard.owner === 'alice')).toHaveLength(3);
    // Weight 2 to alice: two shards for her per one of bob's.
    const weighted = assign([...many('old', 'alice', 10), ...many('new', 'bob', 10)], idle, fair);
    expect(weighted.filter((a) => a.shard.owner === 'alice')).toHaveLength(4);
    // Shards already running count: bob runs 3, so alice gets the next ones.
    const busy = assign([...many('old', 'alice', 10), ...many('new', 'bob', 10)], idle.slice(0, 2), {
      running: new Map([['bob', 3]]),
      weight: () => 1,
    });
    expect(busy.map((a) => a.shard.owner)).toEqual(['alice', 'alice']);
    // Priority dominates fair share: carol's urgent job takes everything it can.
    const urgent = assign([...many('old', 'alice', 10), ...many('vip', 'carol', 4, { priority: 5 })], idle, {
      running: new Map([['carol', 50]]),
      weight: () => 1,
    });
    expect(urgent.map((a) => a.shard.owner)).toEqual(['carol', 'carol', 'carol', 'carol', 'alice', 'alice']);
  });
});

describe('queue index', () => {
  it('makes the same decisions as the reference assign() on random queues', () => {
    // mulberry32: a small seeded generator, so a failing round can be replayed.
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
    };
    const classes = [0, 6, 8, 24];
    for (let round = 0; round < 300; round++) {
      const owners = ['', 'alice', 'bob', 'carol'].slice(0, 1 + rnd(4));
      const weight = (o: string) => (o === 'alice' ? 2 : o === 'bob' ? 3 : 1);
      const running = new Map(owners.map((o) => [o, rnd(4)] as [string, number]));
      const agentNames = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
      const queue = new ShardQueue(weight);
      for (const [o, n] of running) for (let i = 0; i < n; i++) queue.runningStarted(o);
      const shards: QueuedShard[] = [];
      const failed = new Map<string, string[]>();
      const jobs = 1 + rnd(6);
      for (let j = 0; j < jobs; j++) {
        const jobId = `j${j}`;
        const meta = {
          id: jobId,
          priority: rnd(3),
          createdMs: rnd(4),
          owner: owners[rnd(owners.length)],
          model: 'm',
          blocked: rnd(3) === 0 ? [agentNames[rnd(7)], agentNames[rnd(7)]] : [],
          // Jobs with chains carry their remaining critical path; the others rank 0.
          rank: rnd(3) === 0 ? 1 + rnd(3) : 0,
        };
        queue.setJob(meta);
        const n = 1 + rnd(8);
        for (let i = 0; i < n; i++) {
          const key = `${jobId}.${i}`;
          const requiredClassGb = classes[rnd(4)];
          const failedOn = rnd(4) === 0 ? [agentNames[rnd(7)]] : [];
          failed.set(key, failedOn);
          // Some shards are gated or delayed: the index must not dispatch them.
          const gated = rnd(6) === 0;
          const notBeforeMs = rnd(6) === 0 ? 100 : 0;
          queue.add(key, jobId, i, requiredClassGb, { gated, notBeforeMs, nowMs: 50 });
          if (gated || notBeforeMs) continue;
          shards.push({
            key,
            jobId,
            index: i,
            requiredClassGb,
            priority: meta.priority,
            jobCreatedMs: meta.createdMs,
            failedOn,
            model: 'm',
            owner: meta.owner,
            blocked: meta.blocked,
            jobRank: meta.rank,
          });
        }
        // A listed job whose rank changes (a link committed) moves in its owner's list.
        if (rnd(4) === 0) {
          const rank = rnd(4);
          queue.setJob({ ...meta, rank });
          for (const sh of shards) if (sh.jobId === jobId) Object.assign(sh, { jobRank: rank });
        }
      }
      const idle = Array.from({ length: 1 + rnd(6) }, (_, i) => ({
        ...agent(`id-${agentNames[i]}`, classes[rnd(4)], rnd(10)),
        name: agentNames[i],
      }));
      const want = assign(shards, idle, { running, weight }).map((a) => `${a.shard.key}→${a.agent.name}`);
      const got = queue.take(idle, (k) => failed.get(k) ?? []).map((t) => `${t.key}→${t.agent.name}`);
      expect(got, `round ${round}`).toEqual(want);
    }
  });

  it('holds gated and delayed shards back until released, and counts every queued shard', () => {
    const q = new ShardQueue();
    q.setJob({ id: 'v', priority: 0, createdMs: 0, owner: '', model: 'm', blocked: [] });
    q.add('v.0', 'v', 0, 8, { nowMs: 0 });
    q.add('v.1', 'v', 1, 8, { gated: true });
    q.add('v.2', 'v', 2, 24, { notBeforeMs: 1000, nowMs: 0 });
    expect(q.size).toBe(3);
    expect(q.byClass()).toEqual(
      new Map([
        [8, 2],
        [24, 1],
      ]),
    );
    expect(q.jobQueued('v')).toEqual({ count: 3, maxClassGb: 24 });
    const idle = [agent('x', 24, 0), agent('y', 24, 1)];
    expect(q.take(idle, () => []).map((t) => t.key)).toEqual(['v.0']);
    expect(q.take(idle, () => [])).toEqual([]);
    q.release('v.1', 0);
    expect(q.releaseDue(999)).toBe(0);
    expect(q.take(idle, () => []).map((t) => t.key)).toEqual(['v.1']);
    expect(q.releaseDue(1000)).toBe(1);
    expect(q.take(idle, () => []).map((t) => t.key)).toEqual(['v.2']);
    expect(q.size).toBe(0);
    // A released shard whose backoff has not passed waits for it.
    q.add('v.1', 'v', 1, 8, { gated: true, notBeforeMs: 500 });
    q.release('v.1', 100);
    expect(q.take(idle, () => [])).toEqual([]);
    q.releaseDue(500);
    expect(q.take(idle, () => []).map((t) => t.key)).toEqual(['v.1']);
  });

  it('looks only at queue heads: a pass over 100,000 queued shards touches a handful', () => {
    const q = new ShardQueue();
    for (let j = 0; j < 1000; j++) {
      q.setJob({ id: `j${j}`, priority: 0, createdMs: j, owner: `u${j % 7}`, model: 'm', blocked: [] });
      for (let i = 0; i < 100; i++) q.add(`j${j}.${i}`, `j${j}`, i, 0);
    }
    let lookups = 0;
    const got = q.take(
      Array.from({ length: 10 }, (_, i) => agent(`a${i}`, 0, i)),
      () => (lookups++, []),
    );
    expect(got).toHaveLength(10);
    expect(lookups).toBe(10);
    expect(q.size).toBe(100_000 - 10);
  });
});
