/**
 * Job ownership over gRPC and the CLI: a job belongs to its submitter. Another user gets NOT_FOUND
 * on get, watch, output and cancel, and does not see it in ListJobs; an admin sees and cancels
 * everything; a viewer reads everything and changes nothing (PERMISSION_DENIED).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TesseraClient } from '@tessera/client';
import { JobState } from '@tessera/protocol';
import { CLI_BIN, jobBytes, startFarm, type Farm } from './helpers/farm.js';
import { repoRoot } from './helpers/process.js';
import { baboonCrop } from './helpers/images.js';

const run = promisify(execFile);

const TOKENS = {
  alice: 'alice-secret-1',
  eve: 'eve-secret-1',
  root: 'root-secret-1',
  vic: 'vic-secret-1',
};

describe('job ownership', () => {
  let farm: Farm;
  let dir: string;
  const clients: Record<string, TesseraClient> = {};
  let jobA: string; // alice's, runs once an agent joins
  let jobB: string; // alice's, cancelled by the admin while queued

  /** The CLI as `user`: exit code, stdout and stderr. */
  const cli = (user: keyof typeof TOKENS, ...args: string[]) =>
    run(process.execPath, [join(repoRoot, CLI_BIN), '--server', farm.grpcAddr, '--token', TOKENS[user], ...args]).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-owners-'));
    const tokensFile = join(dir, 'tokens');
    writeFileSync(
      tokensFile,
      [
        '# user token [role]',
        `alice ${TOKENS.alice}`,
        `eve ${TOKENS.eve} user`,
        `root ${TOKENS.root} admin`,
        `vic ${TOKENS.vic} viewer`,
        '',
      ].join('\n'),
    );
    // No agent yet: alice's jobs stay queued while the others try to touch them.
    farm = await startFarm({ agents: [], coordinatorArgs: ['--api-tokens-file', tokensFile], token: TOKENS.alice });
    for (const [user, token] of Object.entries(TOKENS)) clients[user] = new TesseraClient(farm.grpcAddr, { token });
    const image = await baboonCrop(0, 0, 24, 24);
    jobA = (await clients.alice.submitUpscale({ image, model: 'esrgan-slim-x2', name: 'alice-a' })).id;
    jobB = (await clients.alice.submitUpscale({ image, model: 'esrgan-slim-x2', name: 'alice-b' })).id;
  });
  afterAll(async () => {
    for (const c of Object.values(clients)) c.close();
    await farm?.close();
  });

  it('another user can neither see nor touch the job over gRPC: NOT_FOUND, as for a job that does not exist', async () => {
    const eve = clients.eve;
    const unknown = await eve.getJob('no-such-job').catch((e: { code: string; details: string }) => e);
    const got = await eve.getJob(jobA).catch((e: { code: string; details: string }) => e);
    expect(got).toMatchObject({ code: 'NOT_FOUND', details: `job "${jobA}" not found` });
    expect(unknown).toMatchObject({ code: 'NOT_FOUND' });
    await expect(eve.cancelJob(jobA)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(
      (async () => {
        for await (const _ of eve.watchJob(jobA)) void _;
      })(),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(
      (async () => {
        for await (const _ of eve.jobOutput(jobA)) void _;
      })(),
    ).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect((await eve.listJobs()).map((j) => j.id)).toEqual([]);
    // Eve's own job is hers to see, and still not alice's.
    const own = await eve.submitUpscale({ image: await baboonCrop(0, 0, 16, 16), model: 'esrgan-slim-x2' });
    expect((await eve.listJobs()).map((j) => j.id)).toEqual([own.id]);
    expect((await clients.alice.listJobs()).map((j) => j.id).sort()).toEqual([jobA, jobB].sort());
    expect((await clients.alice.getJob(jobA)).state).toBe(JobState.JOB_STATE_QUEUED);
  });

  it('a viewer reads every job but can neither cancel nor submit: PERMISSION_DENIED', async () => {
    const vic = clients.vic;
    expect((await vic.getJob(jobA)).owner).toBe('alice');
    expect((await vic.listJobs()).map((j) => j.owner).sort()).toEqual(['alice', 'alice', 'eve']);
    await expect(vic.cancelJob(jobA)).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
      details: `user vic has role viewer: it may not cancel job ${jobA}`,
    });
    await expect(
      vic.submitUpscale({ image: await baboonCrop(0, 0, 16, 16), model: 'esrgan-slim-x2' }),
    ).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    expect((await vic.getJob(jobA)).state).toBe(JobState.JOB_STATE_QUEUED);
  });

  it('an admin sees everything and cancels any job', async () => {
    expect((await clients.root.listJobs()).length).toBe(3);
    expect((await clients.root.cancelJob(jobB)).state).toBe(JobState.JOB_STATE_CANCELLED);
    expect((await clients.alice.getJob(jobB)).state).toBe(JobState.JOB_STATE_CANCELLED);
  });

  it('the same over the CLI: status, jobs, cancel and get', async () => {
    for (const args of [
      ['status', jobA],
      ['cancel', jobA],
      ['watch', jobA],
      ['get', jobA, '--output', join(dir, 'x.png')],
    ]) {
      const r = await cli('eve', ...args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toContain(`NOT_FOUND: job "${jobA}" not found`);
    }
    expect(JSON.parse((await cli('eve', 'jobs', '--json')).stdout).map((j: { owner: string }) => j.owner)).toEqual([
      'eve',
    ]);
    const viewerCancel = await cli('vic', 'cancel', jobA);
    expect(viewerCancel.code).toBe(1);
    expect(viewerCancel.stderr).toContain('PERMISSION_DENIED: user vic has role viewer');
    expect(JSON.parse((await cli('vic', 'status', jobA, '--json')).stdout).owner).toBe('alice');
    expect(JSON.parse((await cli('root', 'jobs', '--json')).stdout)).toHaveLength(3);
    expect((await cli('alice', 'status', jobA, '--json')).code).toBe(0);
  });

  it("once it ran, the owner and the admin download the job's output; the other user still cannot", async () => {
    await farm.startAgent({ name: 'a', vramGb: 8 });
    expect((await clients.alice.waitForJob(jobA)).state).toBe(JobState.JOB_STATE_SUCCEEDED);
    const mine = await jobBytes(clients.alice, jobA);
    expect(Buffer.compare(await jobBytes(clients.root, jobA), mine)).toBe(0);
    expect(Buffer.compare(await jobBytes(clients.vic, jobA), mine)).toBe(0);
    await expect(jobBytes(clients.eve, jobA)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const out = join(dir, 'root.png');
    expect((await cli('root', 'get', jobA, '--output', out)).code).toBe(0);
    expect(Buffer.compare(readFileSync(out), mine)).toBe(0);
    const r = await cli('eve', 'get', jobA, '--output', join(dir, 'eve.png'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('NOT_FOUND');
  });
});
