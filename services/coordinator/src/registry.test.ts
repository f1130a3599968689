import { describe, expect, it } from 'vitest';
import type { AgentAdvert } from '@tessera/protocol';
import { AgentRegistry } from './registry.js';
import { simAdvert } from './sim/sim-shell.js';

const advert = (id: string): AgentAdvert => simAdvert(id, id, 8);

describe('AgentRegistry size cap', () => {
  it('refuses new agents when full of live ones; known agents are always admitted', () => {
    const r = new AgentRegistry(() => 8, 3);
    for (const id of ['a', 'b', 'c']) {
      expect(r.hasRoomFor(id)).toBe(true);
      r.seen(advert(id), 0);
    }
    expect(r.hasRoomFor('forged-1')).toBe(false);
    expect(r.hasRoomFor('b')).toBe(true);
    expect(r.size).toBe(3);
  });

  it('makes room by forgetting the longest-lost agent without leases, never one holding leases', () => {
    const r = new AgentRegistry(() => 8, 3);
    r.seen(advert('a'), 0);
    r.seen(advert('b'), 1000);
    r.seen(advert('c'), 2000);
    r.get('a')!.leases.add('job.0');
    // a and b go silent (a first), c stays live.
    r.sweep(5000, 1000);
    r.seen(advert('c'), 5000);
    expect(r.hasRoomFor('d')).toBe(true);
    expect(r.get('a')).toBeDefined(); // holds a lease
    expect(r.get('b')).toBeUndefined();
    r.seen(advert('d'), 5000);
    expect(r.hasRoomFor('e')).toBe(false);
  });
});
