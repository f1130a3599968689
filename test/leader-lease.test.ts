/**
 * The leader lease (services/coordinator/src/leader.ts) against a real JetStream KV: one leader at a
 * time; a standby takes over only after the leader stopped renewing for a whole lease; a paused
 * leader fences itself before that and steps down when it finds its lease taken; a graceful stop
 * hands the lease over at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import pino from 'pino';
import { LeaderLease, type LeaderRecord } from '../services/coordinator/src/leader.js';
import { startNats, type TestNats } from './helpers/nats-server.js';
import { waitFor } from './helpers/process.js';

const log = pino({ level: 'silent' });

interface Replica {
  lease: LeaderLease;
  elected: LeaderRecord[];
  lost: string[];
}

function replica(kv: KV, id: string, leaseMs: number): Replica {
  const r: Replica = { elected: [], lost: [], lease: undefined as never };
  r.lease = new LeaderLease(
    kv,
    { id, grpcAddr: `${id}:50051`, leaseMs },
    {
      elected: async (rec) => {
        r.elected.push(rec);
      },
      lost: (why) => r.lost.push(why),
    },
    log,
  );
  return r;
}

describe('leader lease on JetStream KV', () => {
  let nats: TestNats;
  let nc: NatsConnection;
  let kv: KV;

  beforeAll(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    kv = await new Kvm(jetstream(nc)).create('lease-test', { history: 1 } as never);
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it('elects one leader; a standby takes over only when renewals stop, and the old leader steps down', async () => {
    const leaseMs = 1000;
    const a = replica(kv, 'a', leaseMs);
    const b = replica(kv, 'b', leaseMs);
    a.lease.start();
    await waitFor(() => a.elected.length === 1, 10_000, 'a elected');
    b.lease.start();
    // b sees a as leader and, while a renews, never takes over (several leases long).
    await waitFor(() => b.lease.leader()?.id === 'a', 10_000, 'b to see a');
    const renewalsSeen = async () => (await kv.get('leader'))!.revision;
    const r0 = await renewalsSeen();
    await waitFor(async () => (await renewalsSeen()) >= r0 + 10, 20_000, 'a to renew ten times');
    expect(b.elected).toEqual([]);
    expect(a.lease.isLeader()).toBe(true);
    expect(b.lease.isLeader()).toBe(false);

    // Pause a's renewals as a stalled process would (its timers stop; nothing is deleted).
    (a.lease as unknown as { stopped: boolean }).stopped = true;
    // a fences itself first: after 3/4 of a lease without a renewal it no longer counts as leader...
    await waitFor(() => !a.lease.isLeader(), 10_000, 'a to fence itself');
    expect(b.elected).toEqual([]);
    // ...and b takes over after a whole lease without a change.
    await waitFor(() => b.elected.length === 1, 10_000, 'b elected');
    expect(b.elected[0].term).toBe(a.elected[0].term + 1);
    expect(b.lease.isLeader()).toBe(true);

    // a wakes up: its next renewal loses the compare-and-set and it steps down.
    (a.lease as unknown as { stopped: boolean }).stopped = false;
    a.lease.start();
    await waitFor(() => a.lost.length === 1, 10_000, 'a to step down');
    expect(a.lease.isLeader()).toBe(false);
    expect(b.lease.isLeader()).toBe(true);
    expect(JSON.parse(new TextDecoder().decode((await kv.get('leader'))!.value)).id).toBe('b');

    // A graceful stop hands the lease back: a takes over at its next poll, not a lease later.
    await b.lease.stop();
    await waitFor(() => a.elected.length === 2, 10_000, 'a elected again');
    expect(a.elected[1].term).toBeGreaterThan(b.elected[0].term);
    await a.lease.stop();
  });

  it('of several standbys racing for a lapsed lease exactly one wins', async () => {
    const kv2 = await new Kvm(jetstream(nc)).create('lease-race', { history: 1 } as never);
    const leaseMs = 600;
    const first = replica(kv2, 'first', leaseMs);
    first.lease.start();
    await waitFor(() => first.elected.length === 1, 10_000, 'first elected');
    const standbys = ['s1', 's2', 's3', 's4'].map((id) => replica(kv2, id, leaseMs));
    for (const s of standbys) s.lease.start();
    await waitFor(() => standbys.every((s) => s.lease.leader()?.id === 'first'), 10_000, 'standbys to see first');
    (first.lease as unknown as { stopped: boolean }).stopped = true;
    await waitFor(() => standbys.some((s) => s.elected.length > 0), 10_000, 'a standby elected');
    // Give the others several polls to (wrongly) take it too.
    const winner = standbys.find((s) => s.elected.length > 0)!;
    const r0 = (await kv2.get('leader'))!.revision;
    await waitFor(async () => (await kv2.get('leader'))!.revision >= r0 + 8, 20_000, 'eight renewals by the winner');
    expect(standbys.filter((s) => s.elected.length > 0)).toEqual([winner]);
    expect(standbys.filter((s) => s.lease.isLeader())).toEqual([winner]);
    for (const s of standbys) await s.lease.stop();
  });
});
