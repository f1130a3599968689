/**
 * Out of memory → one VRAM class up (issue 6), against the real binaries. The 6 GB agent runs with
 * the engine worker's test hook TESSERA_TEST_FAULT_OOM_ONCE=1: its first run fails with
 * onnxruntime's allocation-failure message, which the worker classifies, the agent reports as
 * OUT_OF_MEMORY and the coordinator answers by requeueing the shard for the next class (8 GB).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobState, ShardState } from '@tessera/protocol';
import { CLI_BIN, startFarm, type Farm } from './helpers/farm.js';
import { repoRoot, waitFor } from './helpers/process.js';
import { baboonCrop } from './helpers/images.js';
import { parseExposition, sumOf } from './helpers/prometheus.js';

const run = promisify(execFile);

describe('a shard that runs out of memory', () => {
  let farm: Farm;
  beforeAll(async () => {
    farm = await startFarm({
      agents: [{ name: 'small', vramGb: 6, env: { TESSERA_TEST_FAULT_OOM_ONCE: '1' } }],
    });
  });
  afterAll(async () => farm?.close());

  it('is requeued needing the next VRAM class and completes on an 8 GB agent', async () => {
    // One tile; esrgan-slim-x2 needs no particular class, so the 6 GB agent takes it first.
    const job = await farm.client.submitUpscale({ image: await baboonCrop(0, 0, 32, 32), model: 'esrgan-slim-x2' });
    expect(job.shardsTotal).toBe(1);
    expect(job.owner).toBe('');

    // The 6 GB agent failed it: queued again, now needing 8 GB, and nothing of that class is there.
    const waiting = await waitFor(
      async () => {
        const j = await farm.client.getJob(job.id);
        return j.shards[0]?.attempts === 1 && j.shards[0].state === ShardState.SHARD_STATE_QUEUED ? j : undefined;
      },
      60_000,
      'the shard to be requeued after the out-of-memory failure',
    );
    const shard = waiting.shards[0]!;
    expect(shard.requiredVramClass).toBe('8gb');
    expect(shard.reason).toMatch(/^attempt 1 failed on small: .*out of memory: Failed to allocate memory/);
    expect(shard.reason).toContain('TESSERA_TEST_FAULT_OOM_ONCE');
    expect(waiting.state).toBe(JobState.JOB_STATE_RUNNING); // it started once; a requeue does not undo that
    expect(waiting.waitingReason).toBe('no agent of VRAM class 8gb or larger is connected (fleet: 6gb)');

    // `tessera status` shows the reason and the new requirement.
    const { stdout } = await run(process.execPath, [
      join(repoRoot, CLI_BIN),
      '--server',
      farm.grpcAddr,
      'status',
      job.id,
    ]);
    expect(stdout).toMatch(
      /\n0\s+upscale\s+queued\s+1\s+small\s+6gb\/8gb\s+.*attempt 1 failed on small: .*out of memory/,
    );
    expect(stdout).toContain('waiting   no agent of VRAM class 8gb or larger is connected (fleet: 6gb)');

    const metrics = parseExposition(await (await fetch(farm.metricsUrl)).text());
    expect(sumOf(metrics, 'tessera_shard_retries_total', { reason: 'out_of_memory' })).toBe(1);

    await farm.startAgent({ name: 'big', vramGb: 8 });
    const done = await farm.client.waitForJob(job.id);
    expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
    const full = await farm.client.getJob(job.id);
    expect(full.shards.map((s) => [s.agent, s.agentVramClass, s.requiredVramClass, s.attempts])).toEqual([
      ['big', '8gb', '8gb', 2],
    ]);
  });
});
