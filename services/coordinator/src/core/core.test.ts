/**
 * The farm core without NATS, sockets or timers: events in, effects out, time passed by hand.
 * Each test reads as a shard's (or job's) transitions.
 */
import { describe, expect, it } from 'vitest';
import type { AgentAdvert, LeaseRef } from '@tessera/protocol';
import { newJob, newShard, shardKey, type ShardRecord } from '../model.js';
import type { IdleAgent } from '../scheduler.js';
import { FarmCore, type CoreOptions, type Effect } from './core.js';
import { FarmState } from './farm.js';
import * as jobs from './job.js';
import * as policy from './policy.js';
import * as shards from './shard.js';
import { isRefusal, type Verdict } from './verdict.js';
import { simAdvert } from '../sim/sim-shell.js';

const T = { startMs: 30_000, runtimeMs: 3_600_000, stallMs: 600_000 };
const OPTIONS: CoreOptions = {
  leaseMs: 20_000,
  agentSilenceMs: 10_000,
  retentionMs: 0,
  timeouts: { upscale_tile: T, upscale_frames: T, svd_batch: T, sd_stage: T },
};

const advert = (name: string, gb = 8): AgentAdvert => simAdvert(`${name}-id`, name, gb);

/** A farm with one job of `n` shards, and a tiny shell that lands every write at once. */
function farm(n = 1, o: Partial<CoreOptions> = {}) {
  const state = new FarmState(
    (a) => a.vramUsableGb,
    100,
    () => 1,
  );
  const core = new FarmCore(state, { ...OPTIONS, ...o });
  let rev = 0;
  let now = 1_000;
  let seq = 0;
  state.apply({
    type: 'job',
    rec: newJob({
      id: 'j1',
      name: 'j',
      kind: 'upscale',
      model: 'm',
      seed: 1,
      priority: 0,
      maxAttempts: 5,
      createdMs: 0,
      owner: 'ann',
      shardsTotal: n,
    }),
    rev: ++rev,
  });
  for (let i = 0; i < n; i++)
    state.apply({
      type: 'shard',
      rec: newShard({ jobId: 'j1', index: i, stage: 'upscale', kind: 'upscale_tile', requiredClassGb: 8, seed: i }),
      rev: ++rev,
      nowMs: now,
    });
  const w = {
    state,
    core,
    get now() {
      return now;
    },
    pass(ms: number) {
      now += ms;
    },
    shard: (i = 0) => state.shard(shardKey('j1', i))!,
    write(v: Verdict<ShardRecord>): ShardRecord {
      if (isRefusal(v)) throw new Error(v.refused);
      state.apply({ type: 'shard', rec: v, rev: ++rev, nowMs: now });
      return v;
    },
    handle: <A extends IdleAgent>(e: Parameters<FarmCore['handle']>[0]) => core.handle(e, now) as Effect<A>[],
    /** The agent is seen (heartbeat) with the leases it holds. */
    beat(name: string, leases: LeaseRef[] = []) {
      return w.handle({ type: 'heartbeat', advert: advert(name), leases });
    },
    /** The agent asks for work; the lease verb lands when the core grants it a shard. */
    ask(name: string): ShardRecord | undefined {
      const [g] = w.handle({
        type: 'idle',
        agents: [{ agentId: `${name}-id`, classGb: 8, waitingSince: ++seq, name }],
      });
      if (!g) return undefined;
      if (g.type !== 'grant') throw new Error(g.type);
      const s = state.shard(g.key)!;
      return w.write(
        shards.grant(s, { agentId: `${name}-id`, agentName: name, agentClassGb: 8, nowMs: now, leaseMs: 20_000 }),
      );
    },
  };
  return w;
}

const ref = (s: ShardRecord): LeaseRef => ({ jobId: s.jobId, shardIndex: s.index, fencingToken: s.attempt });
const output = {
  outputKey: 'o',
  outputSha256: 'x',
  outputBytes: 1,
  outputWidth: 1,
  outputHeight: 1,
  outputFrames: 1,
  outputChannels: 0,
  runSeconds: 1,
};

describe('shard lifecycle through the core', () => {
  it('queued > leased > agent lost > queued > leased > done', () => {
    const f = farm();
    f.beat('a');
    f.beat('b');
    expect(f.shard().state).toBe('queued');
    // queued > leased (to a)
    const leased = f.ask('a')!;
    expect(leased).toMatchObject({ state: 'leased', attempt: 1, agentName: 'a' });
    expect(f.state.registry.get('a-id')!.leases.has('j1.0')).toBe(true);
    expect(f.state.queue.running().get('ann')).toBe(1);
    // a falls silent; b keeps beating.
    for (let t = 0; t < 6; t++) {
      f.pass(2_000);
      f.beat('b');
    }
    f.pass(1);
    const effects = f.handle({ type: 'tick' });
    expect(effects).toContainEqual(expect.objectContaining({ type: 'agent_lost' }));
    const requeue = effects.find((e) => e.type === 'requeue');
    expect(requeue).toMatchObject({ key: 'j1.0', attempt: 1, metric: 'agent_lost' });
    // leased > (agent lost) > queued
    const queued = f.write(shards.requeue(f.shard(), 'agent a lost', f.now));
    expect(queued).toMatchObject({ state: 'queued', attempt: 1 });
    expect(f.state.registry.get('a-id')!.leases.size).toBe(0);
    expect(f.state.queue.running().get('ann')).toBeUndefined();
    expect(f.state.queue.size).toBe(1);
    // queued > leased (to b, fencing token 2)
    const again = f.ask('b')!;
    expect(again).toMatchObject({ state: 'leased', attempt: 2, agentName: 'b' });
    // The late result of a's attempt 1 no longer holds the lease.
    expect(shards.holdsLease(again, 1, 'a-id')).toBe(false);
    // leased > done, and the job can be assembled.
    f.write(shards.commit(again, output));
    expect(f.state.shardsDone('j1')).toBe(1);
    expect(f.handle({ type: 'committed', jobId: 'j1', index: 0 })).toEqual([{ type: 'assemble', jobId: 'j1' }]);
  });

  it('done > corrupt output > queued, and the job goes back to running', () => {
    const f = farm(2);
    f.beat('a');
    const s0 = f.write(shards.commit(f.ask('a')!, output));
    const s1 = f.write(shards.commit(f.ask('a')!, output));
    expect([s0.state, s1.state, f.state.shardsDone('j1')]).toEqual(['done', 'done', 2]);
    const job = jobs.assemble(f.state.job('j1')!);
    expect(job).toMatchObject({ state: 'assembling' });
    // done > (corrupt output) > queued
    const reopened = f.write(shards.reopen(f.shard(1), 'digest mismatch'));
    expect(reopened).toMatchObject({ state: 'queued', outputKey: '', reason: 'digest mismatch', attempt: 1 });
    expect(f.state.shardsDone('j1')).toBe(1);
    expect(f.state.queue.size).toBe(1);
    expect(jobs.reopen(job as never)).toMatchObject({ state: 'running' });
    // queued > leased (attempt 2) > done
    expect(f.ask('a')).toMatchObject({ index: 1, attempt: 2 });
  });

  it('verbs refuse transitions that do not apply, as values', () => {
    const f = farm();
    const q = f.shard();
    expect(isRefusal(shards.commit(q, output))).toBe(true);
    expect(isRefusal(shards.reopen(q, 'x'))).toBe(true);
    expect(isRefusal(shards.requeue(q, 'x', 0))).toBe(true);
    f.beat('a');
    const l = f.ask('a')!;
    expect(shards.grant(l, { agentId: 'b', agentName: 'b', agentClassGb: 8, nowMs: 0, leaseMs: 1 })).toEqual({
      refused: 'cannot grant a leased record',
    });
    expect(isRefusal(shards.cancel(f.write(shards.commit(l, output)), 'x'))).toBe(true);
    const done = jobs.finish('succeeded', '', 5)(f.state.job('j1')!);
    expect(isRefusal(jobs.finish('cancelled', '', 6)(done as never))).toBe(true);
  });
});

describe('the sweeper’s rules, through handle({ type: "tick" })', () => {
  const requeues = (effects: Effect[]) =>
    effects.filter((e) => e.type === 'requeue').map((e) => (e as { metric: string }).metric);

  it('a lease never confirmed is requeued after the start timeout', () => {
    const f = farm(1, { timeouts: { ...OPTIONS.timeouts, upscale_tile: { ...T, startMs: 5_000 } } });
    f.beat('a');
    f.ask('a');
    f.pass(5_000);
    f.beat('a'); // alive, but its heartbeat does not list the lease
    expect(requeues(f.handle({ type: 'tick' }))).toEqual([]);
    f.pass(1);
    f.beat('a');
    expect(requeues(f.handle({ type: 'tick' }))).toEqual(['timeout_start']);
  });

  it('a confirmed lease is requeued when it runs too long, stalls, or is not renewed', () => {
    const stall = farm(1, { timeouts: { ...OPTIONS.timeouts, upscale_tile: { ...T, stallMs: 8_000 } } });
    stall.beat('a');
    const s = stall.ask('a')!;
    // Progress keeps it alive; no progress for 8 s ends it.
    stall.pass(4_000);
    stall.handle({ type: 'renewal', ref: ref(s), agentId: 'a-id', progress: 0.1 });
    stall.pass(4_000);
    stall.beat('a', [ref(s)]);
    stall.handle({ type: 'renewal', ref: ref(s), agentId: 'a-id', progress: 0.1 });
    expect(requeues(stall.handle({ type: 'tick' }))).toEqual([]);
    stall.pass(4_001);
    stall.beat('a', [ref(s)]);
    expect(requeues(stall.handle({ type: 'tick' }))).toEqual(['timeout_no_progress']);

    const runtime = farm(1, { timeouts: { ...OPTIONS.timeouts, upscale_tile: { ...T, runtimeMs: 3_000 } } });
    runtime.beat('a');
    const r = runtime.ask('a')!;
    runtime.pass(3_001);
    runtime.beat('a', [ref(r)]);
    expect(requeues(runtime.handle({ type: 'tick' }))).toEqual(['timeout_runtime']);

    const expiry = farm();
    expiry.beat('a');
    const e = expiry.ask('a')!;
    expiry.beat('a', [ref(e)]);
    expiry.pass(20_001);
    expiry.beat('a', [ref(e)]);
    expect(requeues(expiry.handle({ type: 'tick' }))).toEqual(['lease_expired']);
  });

  it('a renewal extends the lease; a superseded or cancelled one is refused', () => {
    const f = farm();
    f.beat('a');
    const s = f.ask('a')!;
    f.pass(1_000);
    expect(f.handle({ type: 'renewal', ref: ref(s), agentId: 'a-id', progress: 0.5 })).toEqual([
      { type: 'renewal_reply', ok: true, expiresMs: f.now + 20_000, reason: '' },
    ]);
    expect(f.handle({ type: 'renewal', ref: { ...ref(s), fencingToken: 9 }, agentId: 'a-id', progress: 0 })).toEqual([
      { type: 'renewal_reply', ok: false, expiresMs: 0, reason: 'superseded' },
    ]);
    f.write(shards.cancel(f.shard(), 'job cancelled'));
    expect(f.handle({ type: 'renewal', ref: ref(s), agentId: 'a-id', progress: 0.6 })[0]).toMatchObject({
      ok: false,
      reason: 'cancelled',
    });
  });

  it('a grant the agent never heard of is requeued from its heartbeat; offline, nothing is judged', () => {
    const f = farm();
    f.beat('a');
    f.ask('a');
    f.pass(10_001);
    expect(requeues(f.beat('a', []))).toEqual(['lease_lost']);
    f.state.apply({ type: 'online', online: false, nowMs: f.now, leaseMs: 20_000 });
    f.pass(60_000);
    expect(f.handle({ type: 'tick' })).toEqual([]);
  });

  it('a retry backoff holds a requeued shard back until a tick releases it', () => {
    const f = farm();
    f.beat('a');
    const s = f.ask('a')!;
    const plan = policy.planFailure(s, 'error', 'a-id', 'a', 'boom', f.now, {
      retryBackoffMs: 1_000,
      retryBackoffMaxMs: 30_000,
      classesGb: [8, 16],
      classLabel: String,
    });
    if (plan.then !== 'requeue') throw new Error('expected a requeue');
    f.write(shards.requeue(s, plan.reason, f.now, plan.patch));
    expect(f.ask('a')).toBeUndefined();
    f.pass(1_000);
    expect(f.handle({ type: 'tick' })).toContainEqual({ type: 'pump' });
    expect(f.ask('a')).toMatchObject({ attempt: 2 });
  });
});

describe('failure policy', () => {
  const p = {
    retryBackoffMs: 1_000,
    retryBackoffMaxMs: 5_000,
    classesGb: [8, 16, 24],
    classLabel: (g: number) => `${g}gb`,
  };
  const leased = (attempt: number, agentClassGb = 8) =>
    ({
      ...newShard({ jobId: 'j', index: 3, stage: 's', kind: 'upscale_tile', requiredClassGb: 8, seed: 0 }),
      state: 'leased',
      attempt,
      agentClassGb,
    }) as ShardRecord;

  it('backs off exponentially, capped, written once for shards and assembly', () => {
    expect([1, 2, 3, 4].map((a) => policy.backoffMs(1_000, 5_000, a))).toEqual([1_000, 2_000, 4_000, 5_000]);
    expect(policy.backoffMs(0, 5_000, 3)).toBe(0);
    expect([1, 2, 5, 6].map(policy.assemblyRetryMs)).toEqual([500, 1_000, 8_000, 8_000]);
    expect(policy.planFailure(leased(2), 'error', 'a', 'a', 'x', 100, p)).toMatchObject({
      then: 'requeue',
      countAgainstAgent: true,
      patch: { notBeforeMs: 2_100, failedOn: ['a'] },
    });
  });

  it('moves an out-of-memory shard one class up, and fails the job on the largest', () => {
    expect(policy.planFailure(leased(1, 8), 'out_of_memory', 'a', 'a', 'oom', 0, p)).toMatchObject({
      then: 'requeue',
      countAgainstAgent: false,
      patch: { requiredClassGb: 16, notBeforeMs: 0 },
    });
    expect(policy.planFailure(leased(1, 24), 'out_of_memory', 'a', 'a', 'oom', 0, p)).toMatchObject({
      then: 'fail',
      jobError: 'shard 3 ran out of memory on class 24gb, the largest',
    });
    expect(policy.planFailure(leased(1), 'fatal', 'a', 'a', 'bad input', 0, p)).toMatchObject({ then: 'fail' });
  });

  it('blocklists an agent after N failures on a job, once', () => {
    let job = newJob({
      id: 'j',
      name: 'j',
      kind: 'upscale',
      model: 'm',
      seed: 0,
      priority: 0,
      maxAttempts: 9,
      createdMs: 0,
    });
    const seen: boolean[] = [];
    for (let i = 0; i < 4; i++) {
      const c = policy.countAgentFailure(job, 'a', 3);
      seen.push(c.blockedNow);
      job = { ...job, ...c.patch };
    }
    expect(seen).toEqual([false, false, true, false]);
    expect(job.blockedAgents).toEqual(['a']);
    expect(policy.someAgentCanRun([{ name: 'a', classGb: 24 }], job.blockedAgents, 8)).toBe(false);
    expect(policy.someAgentCanRun([{ name: 'b', classGb: 8 }], job.blockedAgents, 8)).toBe(true);
    expect(policy.retryOrFail(leased(9), 9, 'lost')).toEqual({
      then: 'fail',
      jobError: 'shard 3 failed after 9 attempts: lost',
    });
  });
});
