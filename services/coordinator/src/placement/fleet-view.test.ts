import { describe, expect, it } from 'vitest';
import { loadHardwareTable } from '@tessera/hardware';
import type { ModelSpeed } from '@tessera/protocol';
import { ShardQueue } from '../queue.js';
import type { IdleAgent } from '../scheduler.js';
import { eftNarrow, remainingS, type BusyAgentView } from './fleet-view.js';

const table = loadHardwareTable();
type Agent = IdleAgent & { speeds: ModelSpeed[] };
// esrgan-slim-x4: 0.03 s per megapixel at speed 1; a 1 MP tile is 0.03 reference seconds.
const agent = (agentId: string, unitsPerSecond: number, waitingSince: number): Agent => ({
  agentId,
  classGb: 0,
  waitingSince,
  speeds: [{ model: 'esrgan-slim-x4', unitsPerSecond, samples: 3 }],
});
const fastA = agent('fast', 10, 2);
const slowA = agent('slow', 1, 1);
/** The fast agent, busy for another half second. */
const busyFast: BusyAgentView = { agentId: 'fast', name: 'fast', classGb: 0, modelSpeeds: fastA.speeds, freeInS: 0.5 };

function queueOf(n: number): ShardQueue {
  const q = new ShardQueue();
  q.setJob({ id: 'j', priority: 0, createdMs: 0, owner: '', model: 'esrgan-slim-x4', blocked: [] });
  for (let i = 0; i < n; i++) q.add(`j.${i}`, 'j', i, 0, { gated: false, notBeforeMs: 0, nowMs: 0 });
  return q;
}

describe('placement by expected finish time in a dispatch pass', () => {
  const narrow = (busy: BusyAgentView[]) =>
    eftNarrow<Agent>(
      table,
      (a) => a.speeds,
      () => busy,
      () => ({ model: 'esrgan-slim-x4', workS: 0.03 }),
    );

  it('without the filter the slow agent that waited longest takes the shard', () => {
    const taken = queueOf(1).take([slowA], () => []);
    expect(taken.map((t) => t.agent.agentId)).toEqual(['slow']);
  });

  it('holds the last shard back from a slow agent while a faster one waits or is about to free up', () => {
    expect(
      queueOf(1)
        .take([slowA, fastA], () => [], narrow([]))
        .map((t) => t.agent.agentId),
    ).toEqual(['fast']);
    expect(queueOf(1).take([slowA], () => [], narrow([busyFast]))).toEqual([]);
  });

  it('gives the slow agent work while the queue is long enough to need it', () => {
    expect(
      queueOf(20)
        .take([slowA], () => [], narrow([busyFast]))
        .map((t) => t.agent.agentId),
    ).toEqual(['slow']);
    // Two agents of one speed: nothing is held back.
    const twin = agent('twin', 10, 1);
    expect(
      queueOf(1)
        .take([twin], () => [], narrow([busyFast]))
        .map((t) => t.agent.agentId),
    ).toEqual(['twin']);
  });

  it('never holds back an agent that has not measured the model, nor one within the slack', () => {
    const fresh: Agent = { agentId: 'fresh', classGb: 0, waitingSince: 1, speeds: [] };
    expect(
      queueOf(1)
        .take([fresh, fastA], () => [], narrow([]))
        .map((t) => t.agent.agentId),
    ).toEqual(['fresh']);
    const near = agent('near', 8.5, 1);
    expect(
      queueOf(1)
        .take([near, fastA], () => [], narrow([]))
        .map((t) => t.agent.agentId),
    ).toEqual(['near']);
  });

  it('expects a late attempt to need as long again as it is late', () => {
    expect(remainingS(10, 4)).toBe(6);
    expect(remainingS(10, 13)).toBe(3);
  });

  it('gathers the busy agents once per pass, and not at all when the pass places nothing', () => {
    let gathered = 0;
    const lazy = () =>
      eftNarrow<Agent>(
        table,
        (a) => a.speeds,
        () => (gathered++, [busyFast]),
        () => ({ model: 'esrgan-slim-x4', workS: 0.03 }),
      );
    lazy();
    expect(gathered).toBe(0);
    const n = lazy();
    // Same decision as with the list handed in, for three shards.
    for (const ahead of [0, 5, 50])
      expect(n({ key: 'j.0' } as never, [slowA], ahead)).toEqual(
        narrow([busyFast])({ key: 'j.0' } as never, [slowA], ahead),
      );
    expect(gathered).toBe(1);
  });
});
