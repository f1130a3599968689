import { describe, expect, it } from 'vitest';
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
});
