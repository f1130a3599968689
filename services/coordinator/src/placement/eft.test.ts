import { describe, expect, it } from 'vitest';
import { aheadDoneS, fasterFinishS, shouldTake, type FleetAgent } from './eft.js';
import { pickBackup, type RunningAttempt } from './speculate.js';

const fast = (id: string, freeInS = 0): FleetAgent => ({ agentId: id, speed: 1, freeInS });

describe('aheadDoneS and fasterFinishS', () => {
  it('fills the agents with the work ahead as they free up', () => {
    expect(aheadDoneS(4, [fast('a'), fast('b')])).toBe(2);
    expect(aheadDoneS(1, [fast('a', 5), { agentId: 'b', speed: 0.5, freeInS: 0 }])).toBe(2);
    expect(aheadDoneS(4, [fast('a', 1), fast('b', 3)])).toBe(4);
    expect(aheadDoneS(0, [fast('a', 3)])).toBe(0);
    expect(aheadDoneS(1, [])).toBe(Infinity);
  });

  it('finishes the shard on the faster agent that is first free after the work ahead', () => {
    expect(fasterFinishS(2, 0, [fast('a', 5), fast('b', 1)])).toBe(3);
    expect(fasterFinishS(2, 4, [fast('a'), fast('b')])).toBe(4);
  });
});

describe('shouldTake', () => {
  const slow = { agentId: 's', speed: 0.1 };
  it('lets a slow agent take work while the queue is long enough to need it', () => {
    // 20 tiles of 1 s: the fast agent alone needs 20 s, the slow one 10 s for one.
    expect(shouldTake(1, slow, [fast('f')], 19)).toBe(true);
    // Near the end the fast agent finishes the last tile before the slow one could.
    expect(shouldTake(1, slow, [fast('f')], 6)).toBe(false);
    // The finish times are compared as they are: one tile later than break-even, it waits; at break-even
    // (the fast agent would end it at 10 s too) it takes it.
    expect(shouldTake(1, slow, [fast('f')], 8)).toBe(false);
    expect(shouldTake(1, slow, [fast('f')], 9)).toBe(true);
    expect(shouldTake(1, { agentId: 'g', speed: 0.85 }, [fast('f')], 0)).toBe(true);
    expect(shouldTake(1, slow, [fast('f', 0.5)], 0)).toBe(false);
  });

  it('always lets the fastest fitting agent take it, and ignores slower or equal ones', () => {
    expect(shouldTake(1, { agentId: 'f', speed: 1 }, [fast('f'), { agentId: 's', speed: 0.1, freeInS: 0 }], 0)).toBe(
      true,
    );
    expect(shouldTake(1, { agentId: 'g', speed: 1 }, [fast('f', 100)], 0)).toBe(true);
  });

  it('takes a shard when the faster agents are busy long enough', () => {
    expect(shouldTake(1, slow, [fast('f', 30)], 0)).toBe(true);
    expect(shouldTake(1, slow, [fast('f', 5)], 0)).toBe(false);
  });
});

describe('pickBackup', () => {
  const run = (key: string, remainingS: number, extra: Partial<RunningAttempt> = {}): RunningAttempt => ({
    key,
    jobId: 'j',
    workS: 2,
    remainingS,
    hasBackup: false,
    fits: true,
    idleSpeed: 1,
    ...extra,
  });
  const roomy = () => ({ gpuS: 100, backupS: 0 });

  it('backs up the attempt whose remaining time exceeds the idle agent’s full run by the margin', () => {
    expect(pickBackup([run('a', 2.4), run('b', 10), run('c', 6)], roomy)?.key).toBe('b');
    // 2.4 s left vs 2 s on the idle agent: saves 0.4 s, under the 1 s minimum.
    expect(pickBackup([run('a', 2.4)], roomy)).toBeNull();
  });

  it('skips attempts already backed up, not fitting the idle agent, or over the job’s budget', () => {
    expect(pickBackup([run('a', 10, { hasBackup: true }), run('b', 10, { fits: false })], roomy)).toBeNull();
    expect(pickBackup([run('a', 10)], () => ({ gpuS: 100, backupS: 9 }))).toBeNull();
    expect(pickBackup([run('a', 10)], () => ({ gpuS: 100, backupS: 7 }))?.key).toBe('a');
    expect(pickBackup([run('a', 10)], roomy, { margin: 0.25, minSavingS: 1, budgetFraction: 0 })).toBeNull();
  });
});
