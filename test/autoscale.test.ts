/**
 * The autoscaling component against a live farm (deploy/k8s/components/autoscale-keda):
 * - every KEDA query selects metrics the running coordinator exports, with the labels it matches on;
 * - scale-down loses nothing: KEDA removes an agent pod with SIGTERM and, once the grace period is
 *   over, SIGKILL. A shard still running then (frozen here with SIGSTOP, so it surely outlasts the
 *   grace period) completes on another agent, and the job's output is the same as a clean run's.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobState, ShardState } from '@tessera/protocol';
import { jobBytes, startFarm, type Farm } from './helpers/farm.js';
import { baboonPng } from './helpers/images.js';
import { repoRoot, waitFor } from './helpers/process.js';
import { metricNamesIn, parseExposition, scrape } from './helpers/prometheus.js';

interface ScaledObject {
  metadata: { name: string };
  spec: { triggers: { type: string; metadata: { query: string } }[] };
}

const scaledObjects = parseAllDocuments(
  readFileSync(join(repoRoot, 'deploy/k8s/components/autoscale-keda/scaledobjects.yaml'), 'utf8'),
)
  .map((d) => d.toJS() as ScaledObject)
  .filter(Boolean);

/** Each vector selector of a PromQL expression: metric name and equality matchers. */
function selectors(query: string): { name: string; labels: Record<string, string> }[] {
  const names = new Set(metricNamesIn(query)); // parses with Prometheus' grammar: a typo throws
  const out: { name: string; labels: Record<string, string> }[] = [];
  for (const m of query.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/g)) {
    if (!names.has(m[1])) continue;
    const labels: Record<string, string> = {};
    for (const l of m[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"([^"]*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels });
  }
  return out;
}

describe('autoscaling per VRAM class', () => {
  let farm: Farm;
  beforeAll(async () => {
    farm = await startFarm({ agents: [{ name: 'pool-a', vramGb: 8 }] });
  });
  afterAll(async () => farm?.close());

  it('every KEDA query names metrics the live coordinator exports, with the labels it selects on', async () => {
    expect(scaledObjects.length).toBeGreaterThanOrEqual(2);
    // Queue work while the only agent is paused, so the queue gauge has series too.
    const agent = farm.agents.get('pool-a')!;
    agent.child.kill('SIGSTOP');
    try {
      const image = await sharp(baboonPng()).resize(192, 192).png().toBuffer();
      const job = await farm.client.submitUpscale({ image, model: 'esrgan-slim-x2', tile: 64, overlap: 12 });
      const live = await waitFor(
        async () => {
          const e = parseExposition(await scrape(farm.metricsUrl));
          return e.samples.some((s) => s.name === 'tessera_shards_queued') ? e : undefined;
        },
        20_000,
        'queued shards in /metrics',
      );
      for (const so of scaledObjects) {
        const [trigger] = so.spec.triggers;
        expect(trigger.type).toBe('prometheus');
        for (const sel of selectors(trigger.metadata.query)) {
          const samples = live.samples.filter((s) => s.name === sel.name);
          expect(samples.length, `${so.metadata.name}: ${sel.name} is exported`).toBeGreaterThan(0);
          for (const label of Object.keys(sel.labels))
            expect(
              samples.every((s) => label in s.labels),
              `${so.metadata.name}: ${sel.name} carries label ${label}`,
            ).toBe(true);
        }
      }
      // The class values the queries use are the coordinator's own spelling of a class (e.g. "8gb", "cpu").
      const queued = live.samples.filter((s) => s.name === 'tessera_shards_queued');
      expect(queued.map((s) => s.labels.required_class)).toContain('cpu');
      expect(live.samples.find((s) => s.name === 'tessera_agents')?.labels.vram_class).toBe('8gb');
      await farm.client.cancelJob(job.id);
    } finally {
      agent.child.kill('SIGCONT');
    }
  });

  it("a scaled-down agent's unfinished shard completes on another agent; nothing is lost", async () => {
    const image = await sharp(baboonPng()).resize(256, 256, { kernel: 'lanczos3' }).png().toBuffer();
    const req = { image, model: 'esrgan-slim-x2', tile: 64, overlap: 12 };
    const job = await farm.client.submitUpscale(req);
    const leaving = farm.agents.get('pool-a')!;
    const held = await waitFor(
      async () =>
        (await farm.client.getJob(job.id)).shards.find(
          (s) => s.state === ShardState.SHARD_STATE_LEASED && s.agent === 'pool-a',
        ),
      30_000,
      'a shard leased to pool-a',
      10,
    );
    // The pod is being removed and its shard outlasts the grace period: frozen, then SIGTERM, then SIGKILL.
    leaving.child.kill('SIGSTOP');
    const frozen = (await farm.client.getJob(job.id)).shards[held.index];
    expect(frozen.state).toBe(ShardState.SHARD_STATE_LEASED);
    leaving.child.kill('SIGTERM');
    leaving.child.kill('SIGKILL');
    await leaving.exited();
    await farm.startAgent({ name: 'pool-b', vramGb: 8 });
    const done = await farm.client.waitForJob(job.id);
    expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
    const after = (await farm.client.getJob(job.id)).shards;
    expect(after[held.index].agent).toBe('pool-b');
    expect(after[held.index].attempts).toBeGreaterThan(held.attempts);
    expect(after.every((s) => s.state === ShardState.SHARD_STATE_DONE)).toBe(true);
    // The same job on the surviving agent alone gives the same bytes: nothing lost or doubled.
    const again = await farm.client.submitUpscale(req);
    expect((await farm.client.waitForJob(again.id)).state).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect(Buffer.compare(await jobBytes(farm.client, job.id), await jobBytes(farm.client, again.id))).toBe(0);
  });
});
