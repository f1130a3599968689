/**
 * The jobs of the chaos suite (chaos.test.ts) and the audit of what the farm holds afterwards: the
 * specs fed during the faults, the fault-free reference of each, the lock that keeps submissions and
 * faults apart, and the per-shard checks (committed, by the current attempt, never by another).
 */
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import type { KV } from '@nats-io/kv';
import type { TesseraClient } from '@tessera/client';
import { JobState, ShardState, blobKeys, type Job } from '@tessera/protocol';
import type { LoggedCommit } from './chaos.js';
import { jobBytes, type Farm } from './farm.js';
import { baboonCrop, baboonPng } from './images.js';
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

export type Submit = (farm: Farm, name: string) => Promise<Job>;
/** A kind of job the suite feeds: a name and how to submit one. */
export interface Spec {
  id: string;
  submit: Submit;
}

/** What a fault-free run of a spec produced. */
export interface Reference {
  shardsTotal: number;
  outputs: Map<string, string>;
  primarySha256: string;
}

/** A one-call lock: faults are not injected while a submission is in flight, nor the reverse. */
export class Gate {
  private tail = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const out = this.tail.then(fn);
    this.tail = out.then(
      () => undefined,
      () => undefined,
    );
    return out;
  }
}

/** The four specs: two tiled upscales and two SVD videos (keyframed, chained). */
export async function chaosSpecs(): Promise<Spec[]> {
  const upA = await sharp(baboonPng()).resize(128, 96).png().toBuffer();
  const upB = await baboonCrop(20, 40, 90, 70);
  const still = await sharp(baboonPng()).resize(64, 64).png().toBuffer();
  const key = await baboonCrop(32, 32, 64, 64);
  const video = { model: 'svd-xt', width: 64, height: 64, steps: 3, seed: 5, image: still };
  return [
    {
      // 30 tiles of 32 px
      id: 'upscale-x2',
      submit: (f, name) =>
        f.client.submitUpscale({ name, image: upA, model: 'esrgan-slim-x2', tile: 32, overlap: 12, seed: 1 }),
    },
    {
      // 20 tiles of 28 px, 4× each
      id: 'upscale-x4',
      submit: (f, name) =>
        f.client.submitUpscale({ name, image: upB, model: 'esrgan-slim-x4', tile: 28, overlap: 10, seed: 2 }),
    },
    {
      // 4 batches at once, the second conditioned on a keyframe
      id: 'video-keyframed',
      submit: (f, name) =>
        f.client.submitVideo({
          name,
          ...video,
          keyframes: [key],
          totalFrames: 24,
          framesPerBatch: 8,
          overlap: 2,
          mode: 'keyframed',
          formats: ['webp', 'png-frames'],
        }),
    },
    {
      // 4 batches one after the other, each starting from the previous one's output
      id: 'video-chained',
      submit: (f, name) =>
        f.client.submitVideo({
          name,
          ...video,
          seed: 9,
          totalFrames: 24,
          framesPerBatch: 8,
          overlap: 2,
          mode: 'chained',
          formats: ['png-frames'],
        }),
    },
  ];
}

/** What is wrong, by kind (counted) and in words. */
export type Problem = (
  kind: 'jobsNotSucceeded' | 'outputsDiffering' | 'lostShards' | 'supersededCommits',
  text: string,
) => void;

/**
 * Checks every job against the reference of its spec and every shard against its stored record and
 * the commits the coordinator logged; reports each finding through `problem`.
 */
export async function auditJobs({
  jobs,
  references,
  kv,
  commits,
  client,
  problem,
}: {
  jobs: Job[];
  references: Map<string, Reference>;
  kv: KV;
  commits: readonly LoggedCommit[];
  client: TesseraClient;
  problem: Problem;
}): Promise<{ shardsChecked: number; shardsWithLoggedCommit: number }> {
  let checked = 0;
  let withLoggedCommit = 0;
  const commitsByShard = new Map<string, Set<number>>();
  for (const c of commits) {
    const k = `${c.job}/${c.shard}`;
    commitsByShard.set(k, (commitsByShard.get(k) ?? new Set()).add(c.attempt));
  }
  for (const job of jobs) {
    const ref = references.get(job.name.split('#')[0]);
    const what = `${job.name} (${job.id})`;
    if (!ref) throw new Error(`${what}: a job of no known spec`);
    if (job.state !== JobState.JOB_STATE_SUCCEEDED)
      problem('jobsNotSucceeded', `${what}: ${JobState[job.state]} ${job.error}`);
    if (job.shardsTotal !== ref.shardsTotal || job.shards.length !== ref.shardsTotal)
      problem('lostShards', `${what}: ${job.shards.length}/${job.shardsTotal} shards, reference ${ref.shardsTotal}`);
    if (job.state === JobState.JOB_STATE_SUCCEEDED) {
      const formats = new Set(job.outputs.map((o) => o.format));
      for (const [format, sha] of ref.outputs)
        if (!formats.has(format) || job.outputs.find((o) => o.format === format)?.sha256 !== sha)
          problem('outputsDiffering', `${what}: ${format} differs from the fault-free run`);
      if (sha256(await jobBytes(client, job.id)) !== ref.primarySha256)
        problem('outputsDiffering', `${what}: the downloaded output differs from the fault-free run`);
    }
    for (const s of job.shards) {
      checked++;
      const entry = await kv.get(`shard.${job.id}.${s.index}`);
      const rec = entry && (JSON.parse(new TextDecoder().decode(entry.value)) as Record<string, unknown>);
      if (s.state !== ShardState.SHARD_STATE_DONE || rec?.state !== 'done') {
        const stored = rec ? String(rec.state) : 'missing';
        problem('lostShards', `${what} shard ${s.index}: ${ShardState[s.state]}, stored record ${stored}`);
        continue;
      }
      // The committed output is the one written under the record's own attempt (fencing token).
      const attempt = Number(rec.attempt);
      if (rec.outputKey !== blobKeys.shardOutput(job.id, s.index, attempt))
        problem(
          'supersededCommits',
          `${what} shard ${s.index}: ${String(rec.outputKey)} committed by attempt ${attempt}`,
        );
      // And the coordinator never logged a commit by another attempt of the shard.
      const logged = commitsByShard.get(`${job.id}/${s.index}`) ?? new Set<number>();
      if (logged.size) withLoggedCommit++;
      for (const a of logged)
        if (a !== attempt)
          problem('supersededCommits', `${what} shard ${s.index}: commit logged for attempt ${a}, current ${attempt}`);
    }
  }
  return { shardsChecked: checked, shardsWithLoggedCommit: withLoggedCommit };
}
