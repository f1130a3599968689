/**
 * One conformance suite for StateStore: every implementation (in memory for unit tests and the
 * simulator, JetStream KV in production) must give the same answers — revision-checked creates and
 * updates, StaleRevisionError on a lost race, reads of what was written, loading, deletion.
 */
import { describe, expect, it } from 'vitest';
import { StaleRevisionError } from '../../services/coordinator/src/errors.js';
import { newJob, newShard } from '../../services/coordinator/src/model.js';
import type { StateStore } from '../../services/coordinator/src/state/store.js';

/** Registers the suite for one implementation; `make` gives an empty store. */
export function stateStoreConformance(name: string, make: () => Promise<StateStore>): void {
  let n = 0;
  const ids = () => `j${Date.now().toString(36)}c${n++}`;
  const job = (id: string) =>
    newJob({
      id,
      name: 'n',
      kind: 'upscale',
      model: 'm',
      seed: 1,
      priority: 0,
      maxAttempts: 3,
      createdMs: 1,
      shardsTotal: 2,
    });
  const shard = (jobId: string, index: number) =>
    newShard({ jobId, index, stage: 'upscale', kind: 'upscale_tile', requiredClassGb: 8, seed: index });

  describe(`StateStore conformance: ${name}`, () => {
    it('creates once, updates only at the current revision, reads back what was written', async () => {
      const store = await make();
      const id = ids();
      const r1 = await store.createJob(job(id));
      expect(r1).toBeGreaterThan(0);
      await expect(store.createJob(job(id))).rejects.toBeInstanceOf(StaleRevisionError);
      const r2 = await store.updateJob({ ...job(id), state: 'running' }, r1);
      expect(r2).toBeGreaterThan(r1);
      // A writer that read revision r1 lost the race.
      await expect(store.updateJob({ ...job(id), state: 'cancelled' }, r1)).rejects.toBeInstanceOf(StaleRevisionError);
      expect(await store.getJob(id)).toEqual({ value: { ...job(id), state: 'running' }, revision: r2 });
      expect(await store.getJob(`${id}-missing`)).toBeUndefined();
    });

    it('keeps shard records per job and index, with the same revision rules', async () => {
      const store = await make();
      const id = ids();
      const s0 = await store.createShard(shard(id, 0));
      const s1 = await store.createShard(shard(id, 1));
      await expect(store.createShard(shard(id, 1))).rejects.toBeInstanceOf(StaleRevisionError);
      const leased = { ...shard(id, 0), state: 'leased' as const, attempt: 1, agentId: 'a' };
      const s0b = await store.updateShard(leased, s0);
      await expect(store.updateShard({ ...leased, agentId: 'b' }, s0)).rejects.toBeInstanceOf(StaleRevisionError);
      expect(await store.getShard(id, 0)).toEqual({ value: leased, revision: s0b });
      expect(await store.getShard(id, 1)).toEqual({ value: shard(id, 1), revision: s1 });
      expect(await store.loadShards(id, 3)).toEqual([leased, shard(id, 1)]);
    });

    it('loads everything back with revisions, and deletes a job with its shards', async () => {
      const store = await make();
      const [a, b] = [ids(), ids()];
      const ra = await store.createJob(job(a));
      await store.createJob(job(b));
      const rs = await store.createShard(shard(a, 0));
      await store.createShard(shard(b, 0));
      const all = await store.loadAll();
      expect(all.jobs).toContainEqual({ value: job(a), revision: ra });
      expect(all.shards).toContainEqual({ value: shard(a, 0), revision: rs });
      await store.deleteJob(a, 2);
      expect(await store.getJob(a)).toBeUndefined();
      expect(await store.getShard(a, 0)).toBeUndefined();
      const after = await store.loadAll();
      expect(after.jobs.map((j) => j.value.id)).not.toContain(a);
      expect(after.jobs.map((j) => j.value.id)).toContain(b);
      expect(after.shards.some((s) => s.value.jobId === a)).toBe(false);
      // A deleted job can be created again.
      expect(await store.createJob(job(a))).toBeGreaterThan(0);
    });
  });
}
