/**
 * Speculative backups through the farm core: events in, effects out, time passed by hand. Each test
 * reads as a shard's transitions with a backup in flight.
 */
import { describe, expect, it } from 'vitest';
import type { AgentAdvert, LeaseRef } from '@tessera/protocol';
import { newJob, newShard, shardKey, type ShardRecord } from '../model.js';
import { SPECULATION_DEFAULTS } from '../placement/speculate.js';
import type { IdleAgent } from '../scheduler.js';
import { FarmCore, judgeResult, type CoreOptions, type Effect } from './core.js';
import { FarmState } from './farm.js';
import * as shards from './shard.js';
import type { SpeculationView } from './speculation.js';
import { isRefusal, type Verdict } from './verdict.js';
import { simAdvert } from '../sim/sim-shell.js';

const T = { startMs: 30_000, runtimeMs: 3_600_000, stallMs: 600_000 };
const OPTIONS: CoreOptions = {
  leaseMs: 20_000,
  agentSilenceMs: 10_000,
  retentionMs: 0,
  timeouts: { upscale_tile: T, upscale_frames: T, svd_batch: T, sd_stage: T },
  speculation: SPECULATION_DEFAULTS,
};

const advert = (name: string): AgentAdvert => simAdvert(`${name}-id`, name, 8);

/**
 * The estimates: every shard is 10 s of work; agents `slow…` run at speed 0.1 (100 s a shard), every
 * other agent at 1 (10 s). A running attempt's remaining time is its expected run less its age.
 */
function view(now: () => number, gpuS = 1_000): SpeculationView {
  const speed = (agentId: string) => (agentId.startsWith('slow') ? 0.1 : 1);
  return {
    running: (_k, rec) => ({
      model: 'm',
      workS: 10,
      remainingS: Math.max(0, 10 / speed(rec.agentId) - (now() - rec.leasedMs) / 1000),
    }),
    idleSpeed: (idle) => speed(idle.agentId),
    jobGpuS: () => gpuS,
  };
}

/** A farm with one job of `n` shards and a tiny shell that lands every write at once. */
function farm(n = 1, o: Partial<CoreOptions> = {}, gpuS = 1_000) {
  const state = new FarmState(
    (a) => a.vramUsableGb,
    100,
    () => 1,
  );
  let rev = 0;
  let now = 1_000;
  let seq = 0;
  const core = new FarmCore(state, { ...OPTIONS, ...o }, undefined, () => view(() => now, gpuS));
  const job = newJob({
    id: 'j1',
    name: 'j',
    kind: 'upscale',
    model: 'm',
    seed: 1,
    priority: 0,
    maxAttempts: 5,
    createdMs: 0,
    shardsTotal: n,
  });
  state.apply({ type: 'job', rec: { ...job, state: 'running' }, rev: ++rev });
  for (let i = 0; i < n; i++) {
    const rec = newShard({
      jobId: 'j1',
      index: i,
      stage: 'upscale',
      kind: 'upscale_tile',
      requiredClassGb: 8,
      seed: i,
    });
    state.apply({ type: 'shard', rec, rev: ++rev, nowMs: now });
  }
  const agent = (name: string): IdleAgent => ({ agentId: `${name}-id`, classGb: 8, waitingSince: ++seq, name });
  const to = (name: string) => ({
    agentId: `${name}-id`,
    agentName: name,
    agentClassGb: 8,
    nowMs: now,
    leaseMs: 20_000,
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
    handle: (e: Parameters<FarmCore['handle']>[0]) => core.handle(e, now) as Effect[],
    beat: (name: string, leases: LeaseRef[] = []) => w.handle({ type: 'heartbeat', advert: advert(name), leases }),
    /** The agent asks for work: the effects of the pass, and the grant or backup verb landed. */
    ask(name: string): { effect?: Effect; rec?: ShardRecord } {
      const [effect] = w.handle({ type: 'idle', agents: [agent(name)] });
      if (!effect) return {};
      if (effect.type !== 'grant' && effect.type !== 'backup') throw new Error(effect.type);
      const s = state.shard(effect.key)!;
      const verb = effect.type === 'grant' ? shards.grant : shards.grantBackup;
      const rec = w.write(verb(s, to(name)));
      state.apply({ type: 'backup_settled', key: effect.key });
      return { effect, rec };
    },
  };
  return w;
}

const ref = (s: ShardRecord, token = s.attempt): LeaseRef => ({
  jobId: s.jobId,
  shardIndex: s.index,
  fencingToken: token,
});
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

/** A farm whose only shard runs on `slow` for 30 s, then `fast` asks for work and backs it up. */
function straggler(o: Partial<CoreOptions> = {}) {
  const f = farm(1, o);
  f.beat('slow');
  f.beat('fast');
  const primary = f.ask('slow').rec!;
  f.pass(30_000);
  f.beat('slow', [ref(primary)]);
  f.handle({ type: 'renewal', ref: ref(primary), agentId: 'slow-id', progress: 0.3 });
  f.beat('fast');
  const { effect, rec } = f.ask('fast');
  return { f, primary, effect, backed: rec };
}

describe('speculative backups through the core', () => {
  it('queued > leased > backup leased > backup commits > done; the primary’s commit is refused', () => {
    const { f, primary, effect, backed } = straggler();
    expect(primary).toMatchObject({ state: 'leased', attempt: 1, agentName: 'slow' });
    // No queued shard is left for fast: it gets a backup of the straggler, with the next token.
    expect(effect).toMatchObject({ type: 'backup', key: 'j1.0' });
    expect(backed).toMatchObject({ state: 'leased', attempt: 1, agentName: 'slow', lastToken: 2 });
    expect(backed!.backup).toMatchObject({ attempt: 2, agentName: 'fast' });
    expect(f.state.registry.get('fast-id')!.leases.has('j1.0')).toBe(true);
    expect(f.state.registry.get('slow-id')!.leases.has('j1.0')).toBe(true);
    // Both leases are current: each renews.
    expect(f.handle({ type: 'renewal', ref: ref(backed!, 2), agentId: 'fast-id', progress: 0.5 })[0]).toMatchObject({
      ok: true,
    });
    expect(f.handle({ type: 'renewal', ref: ref(backed!), agentId: 'slow-id', progress: 0.3 })[0]).toMatchObject({
      ok: true,
    });
    expect(judgeResult(backed!, 'running', 2, 'fast-id')).toBe('current');
    // backup commits > done: the record now names the backup's attempt and agent.
    const done = f.write(shards.commit(backed!, output, 2));
    expect(done).toMatchObject({ state: 'done', attempt: 2, agentName: 'fast', backup: undefined });
    expect(f.state.shardsDone('j1')).toBe(1);
    expect(f.state.registry.get('slow-id')!.leases.size).toBe(0);
    expect(f.state.registry.get('fast-id')!.leases.size).toBe(0);
    // The primary's late result and renewal are refused; the backup's repeat is a duplicate.
    expect(judgeResult(done, 'running', 1, 'slow-id')).toBe('superseded');
    expect(judgeResult(done, 'running', 2, 'fast-id')).toBe('duplicate');
    expect(isRefusal(shards.commit(done, output, 1))).toBe(true);
    expect(f.handle({ type: 'renewal', ref: ref(primary), agentId: 'slow-id', progress: 0.9 })[0]).toMatchObject({
      ok: false,
      reason: 'superseded',
    });
  });

  it('primary commits > backup cancelled: its renewal and result are refused', () => {
    const { f, backed } = straggler();
    const done = f.write(shards.commit(backed!, output, 1));
    expect(done).toMatchObject({ state: 'done', attempt: 1, agentName: 'slow', backup: undefined, lastToken: 2 });
    expect(judgeResult(done, 'running', 2, 'fast-id')).toBe('superseded');
    expect(f.handle({ type: 'renewal', ref: ref(backed!, 2), agentId: 'fast-id', progress: 0.9 })[0]).toMatchObject({
      ok: false,
      reason: 'superseded',
    });
    // A reopened shard's next attempt never reuses the backup's token.
    const reopened = f.write(shards.reopen(done, 'corrupt'));
    expect(f.ask('fast').rec).toMatchObject({ state: 'leased', attempt: 3, agentName: 'fast' });
    expect(reopened.attempt).toBe(1);
  });

  it('backup fails > primary still leased, and the shard is never backed up twice at once', () => {
    const { f, backed } = straggler();
    // While the backup runs, another idle agent gets no second backup of the shard.
    f.beat('third');
    expect(f.ask('third').effect).toBeUndefined();
    const dropped = f.write(shards.dropAttempt(backed!, 2, 'attempt 2 failed'));
    expect(dropped).toMatchObject({ state: 'leased', attempt: 1, agentName: 'slow', backup: undefined, lastToken: 2 });
    expect(f.state.registry.get('fast-id')!.leases.size).toBe(0);
    expect(f.state.registry.get('slow-id')!.leases.has('j1.0')).toBe(true);
    expect(f.state.queue.size).toBe(0);
    expect(judgeResult(dropped, 'running', 1, 'slow-id')).toBe('current');
    expect(judgeResult(dropped, 'running', 2, 'fast-id')).toBe('superseded');
    // A lone attempt cannot be dropped: it is requeued or failed as before.
    expect(isRefusal(shards.dropAttempt(dropped, 1, 'x'))).toBe(true);
  });

  it('agent of the primary lost > backup continues as the shard’s attempt > commits', () => {
    const { f, backed } = straggler();
    // slow falls silent; fast keeps beating with its backup lease.
    for (let t = 0; t < 6; t++) {
      f.pass(2_000);
      f.beat('fast', [ref(backed!, 2)]);
      f.handle({ type: 'renewal', ref: ref(backed!, 2), agentId: 'fast-id', progress: 0.1 * (t + 1) });
    }
    const effects = f.handle({ type: 'tick' });
    const requeues = effects.filter((e) => e.type === 'requeue');
    // Only the primary's attempt (token 1) ends; the shell drops it alone.
    expect(requeues).toEqual([expect.objectContaining({ key: 'j1.0', attempt: 1, metric: 'agent_lost' })]);
    const promoted = f.write(shards.dropAttempt(f.shard(), 1, 'agent slow lost'));
    expect(promoted).toMatchObject({ state: 'leased', attempt: 2, agentName: 'fast', backup: undefined });
    expect(f.state.registry.get('fast-id')!.leases.has('j1.0')).toBe(true);
    expect(f.state.queue.size).toBe(0);
    expect(f.write(shards.commit(promoted, output, 2))).toMatchObject({ state: 'done', attempt: 2 });
  });

  it('an unrenewed backup lease expires alone; a requeue after it takes a fresh token', () => {
    const { f, backed } = straggler();
    f.pass(20_001);
    f.beat('slow', [ref(backed!)]);
    f.beat('fast', [ref(backed!, 2)]);
    f.handle({ type: 'renewal', ref: ref(backed!), agentId: 'slow-id', progress: 0.4 });
    const requeues = f.handle({ type: 'tick' }).filter((e) => e.type === 'requeue');
    expect(requeues).toEqual([expect.objectContaining({ attempt: 2, metric: 'lease_expired' })]);
    const alone = f.write(shards.dropAttempt(f.shard(), 2, 'lease of attempt 2 expired'));
    const queued = f.write(shards.requeue(alone, 'lost', f.now));
    expect(queued).toMatchObject({ state: 'queued', backup: undefined });
    expect(f.ask('fast').rec).toMatchObject({ attempt: 3, agentName: 'fast' });
  });

  it('a restart reloads a persisted backup: both leases stay current and are judged again', () => {
    const { f, backed } = straggler();
    const state = new FarmState(
      (a) => a.vramUsableGb,
      100,
      () => 1,
    );
    const { resumed } = state.load(
      [{ rec: { ...f.state.job('j1')!, backupSpentS: 12 }, rev: 1 }],
      [{ rec: structuredClone(backed!), rev: 2 }],
      99_000,
      20_000,
    );
    expect(resumed).toHaveLength(1);
    const rec = state.shard('j1.0')!;
    expect(rec.backup).toMatchObject({ attempt: 2, leaseExpiresMs: 119_000 });
    expect(rec.leaseExpiresMs).toBe(119_000);
    expect(shards.holdsLease(rec, 2, 'fast-id') && shards.holdsLease(rec, 1, 'slow-id')).toBe(true);
    // The agents' heartbeats tell the new registry who holds what.
    const core = new FarmCore(state, OPTIONS);
    core.handle({ type: 'heartbeat', advert: advert('fast'), leases: [ref(rec, 2)] }, 99_500);
    expect(state.registry.get('fast-id')!.leases.has('j1.0')).toBe(true);
    expect(state.queue.size).toBe(0);
    // The budget the job's backups spent before the restart stays spent.
    expect(state.backupSpentS('j1')).toBe(12);
  });

  it('caps backups by the job’s budget, and not at all at 0', () => {
    // Two stragglers; the budget (10 % of 150 GPU-seconds = 15 s) pays for one 10 s backup only.
    const f = farm(2, {}, 150);
    for (const n of ['slow', 'slow2', 'fast', 'fast2']) f.beat(n);
    f.ask('slow');
    f.ask('slow2');
    f.pass(30_000);
    // Both shards are stragglers; fast backs up one, and the budget leaves none for fast2.
    const agents = ['fast', 'fast2'].map((n, i) => ({ agentId: `${n}-id`, classGb: 8, waitingSince: i, name: n }));
    const effects = f.handle({ type: 'idle', agents });
    expect(effects).toEqual([expect.objectContaining({ type: 'backup', agent: agents[0] })]);
    expect(f.state.backupSpentS('j1')).toBe(10);

    const off = farm(1, { speculation: { ...SPECULATION_DEFAULTS, budgetFraction: 0 } });
    off.beat('slow');
    off.beat('fast');
    off.ask('slow');
    off.pass(60_000);
    expect(off.ask('fast').effect).toBeUndefined();
    expect(off.core.speculates).toBe(false);
  });

  it('backs up only on an agent that fits, is not blocklisted and is not the primary’s', () => {
    const { f, backed } = straggler();
    const none = f.write(shards.dropAttempt(backed!, 2, 'failed'));
    expect(none.backup).toBeUndefined();
    // The primary's own agent never backs itself up.
    expect(f.ask('slow').effect).toBeUndefined();
    const small = { agentId: 'small-id', classGb: 6, waitingSince: 99, name: 'small' };
    expect(f.handle({ type: 'idle', agents: [small] })).toEqual([]);
    f.state.apply({ type: 'job', rec: { ...f.state.job('j1')!, blockedAgents: ['fast'] }, rev: 99 });
    expect(f.ask('fast').effect).toBeUndefined();
  });
});
