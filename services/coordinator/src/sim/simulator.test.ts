/** The simulator: deterministic for a seed, and the farm's rules hold under virtual time. */
import { describe, expect, it } from 'vitest';
import { randomScenario, simulate } from './simulator.js';

describe('discrete-event simulator', () => {
  it('gives the same trace digest run after run, another for another seed', () => {
    const a = simulate(randomScenario({ shards: 3_000, seed: 7, agents: 40 }));
    const b = simulate(randomScenario({ shards: 3_000, seed: 7, agents: 40 }));
    const c = simulate(randomScenario({ shards: 3_000, seed: 8, agents: 40 }));
    expect(b).toEqual(a);
    expect(c.digest).not.toBe(a.digest);
    // Every shard completes although agents are lost midway and 1 % of attempts fail.
    expect(a).toMatchObject({ lifecycles: 3_000, jobsSucceeded: 30, jobsFailed: 0 });
    expect(a.attempts).toBeGreaterThan(3_000);
  });

  it('requeues a lost agent’s shard after the silence limit and places it elsewhere', () => {
    const r = simulate({
      seed: 1,
      jobs: [{ id: 'j', shards: 2 }],
      agents: [
        { name: 'a', classGb: 8, loseMs: 1_000 },
        { name: 'b', classGb: 12 },
      ],
      durationMs: (s) => (s.index === 0 ? 5_000 : 100),
      recordPlacements: true,
    });
    // Shard 0 goes to the smaller class; b takes shard 1, then shard 0 once a is found silent
    // (10 s without a heartbeat after its last one at 0 s … and a sweep).
    expect(r.placements).toEqual([
      { key: 'j.0', agent: 'a' },
      { key: 'j.1', agent: 'b' },
      { key: 'j.0', agent: 'b' },
    ]);
    expect(r.makespanMs).toBeGreaterThan(10_000);
    expect(r.jobsSucceeded).toBe(1);
  });

  it('runs a chain’s ready link before an older job’s tiles: the chain is the critical path (HEFT rank)', () => {
    // Four agents; an older job of 40 one-second tiles, then a clip of 10 chained one-second batches
    // from the same owner. In age order the clip starts when the tiles are done (20 s); ranked by
    // remaining critical path, its links run beside the tiles (the tiles take 40 / 3 rounds).
    const scenario = (chainRanks: boolean) =>
      simulate({
        seed: 3,
        jobs: [
          { id: 'tiles', shards: 40, createdMs: 0 },
          { id: 'clip', shards: 10, createdMs: 1, chained: true },
        ],
        agents: ['a', 'b', 'c', 'd'].map((name) => ({ name, classGb: 8 })),
        durationMs: () => 1_000,
        recordPlacements: true,
        chainRanks,
      });
    const ranked = scenario(true);
    const aged = scenario(false);
    expect(ranked.jobsSucceeded).toBe(2);
    expect(aged.jobsSucceeded).toBe(2);
    expect(aged.makespanMs).toBeGreaterThanOrEqual(20_000);
    expect(ranked.makespanMs).toBeLessThanOrEqual(14_000);
    // The clip's first batch goes with the first wave, not after the 40 tiles.
    expect(ranked.placements.slice(0, 4).map((p) => p.key)).toContain('clip.0');
    expect(aged.placements.findIndex((p) => p.key === 'clip.0')).toBeGreaterThanOrEqual(40);
  });
});
