/**
 * Per-user limits (issue 6) against the real coordinator: unfinished jobs per user and queued
 * shards per user, counted by the owner the token names. No agent at first, so jobs stay queued
 * until the test starts one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TesseraClient } from '@tessera/client';
import { JobState } from '@tessera/protocol';
import { startFarm, type Farm } from './helpers/farm.js';
import { baboonCrop } from './helpers/images.js';

describe('per-user limits', () => {
  let farm: Farm;
  let image: Buffer;
  const clients = new Map<string, TesseraClient>();
  const as = (user: string) => clients.get(user)!;
  beforeAll(async () => {
    image = await baboonCrop(0, 0, 32, 32);
    farm = await startFarm({
      agents: [],
      coordinatorArgs: [
        '--api-tokens',
        'alice:alice-token-1,bob:bob-token-1,carol:carol-token-1',
        '--max-jobs-per-user',
        '1',
        '--max-queued-shards-per-user',
        '4',
      ],
      token: 'alice-token-1',
    });
    for (const user of ['alice', 'bob', 'carol'])
      clients.set(user, new TesseraClient(farm.grpcAddr, { token: `${user}-token-1` }));
  });
  afterAll(async () => {
    for (const c of clients.values()) c.close();
    await farm?.close();
  });

  const small = () => ({ image, model: 'esrgan-slim-x2' });

  it('lets one of three concurrent submissions of a user through at a limit of one job; others still submit', async () => {
    const results = await Promise.allSettled([1, 2, 3].map(() => as('alice').submitUpscale(small())));
    const accepted = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(accepted).toHaveLength(1);
    expect(refused).toHaveLength(2);
    for (const r of refused) {
      expect(r.reason).toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
      expect(String(r.reason.message)).toContain(
        'job: user "alice" has 1 unfinished jobs, the per-user limit (--max-jobs-per-user) is 1',
      );
    }
    const bobs = await as('bob').submitUpscale(small());
    expect(bobs.owner).toBe('bob');
    // Each user lists its own jobs only (ownership: test/ownership.test.ts).
    expect((await as('alice').listJobs()).map((j) => j.owner)).toEqual(['alice']);
    expect((await as('bob').listJobs()).map((j) => j.owner)).toEqual(['bob']);
  });

  it('counts queued shards per user: a job that would exceed them is refused, a smaller one is not', async () => {
    const big = await baboonCrop(0, 0, 128, 128);
    await expect(
      as('carol').submitUpscale({ image: big, model: 'esrgan-slim-x4', tile: 32, overlap: 12 }),
    ).rejects.toMatchObject({
      code: 'RESOURCE_EXHAUSTED',
      message: expect.stringContaining(
        'job: user "carol" has 0 shards queued; 16 more would exceed the per-user limit (--max-queued-shards-per-user) of 4',
      ),
    });
    const job = await as('carol').submitUpscale({ image: big, model: 'esrgan-slim-x4', tile: 64, overlap: 12 });
    expect(job.shardsTotal).toBe(4);
    expect(job.owner).toBe('carol');
  });

  it('admits a user again once its job is cancelled, and once it finishes', async () => {
    const [mine] = (await farm.client.listJobs()).filter((j) => j.owner === 'alice');
    await expect(as('alice').submitUpscale(small())).rejects.toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
    await as('alice').cancelJob(mine!.id);
    const next = await as('alice').submitUpscale(small());
    await expect(as('alice').submitUpscale(small())).rejects.toMatchObject({ code: 'RESOURCE_EXHAUSTED' });

    await farm.startAgent({ name: 'a', vramGb: 8 });
    const done = await as('alice').waitForJob(next.id);
    expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
    const again = await as('alice').submitUpscale(small());
    expect(again.owner).toBe('alice');
  });
});
