/**
 * One job: the image filling in tile by tile as shards commit (thumbnails placed on the output
 * grid, then the blended result), or a video's batches on a timeline and then the clip; every
 * shard with its agent, class, attempts and time; the waiting reason while it waits.
 */
import { useState } from 'preact/hooks';
import { api, useEventStream } from './api.js';
import { navigate } from './link.js';
import {
  age,
  isFinished,
  jobKind,
  jobState,
  progressPercent,
  shardState,
  tileBox,
  tileUrl,
  timeline,
  upsertShard,
  type Job,
} from './model.js';
import { Badge, ErrorLine, Live, Progress } from './status.js';

const outputUrl = (id: string, format = '') =>
  `/api/jobs/${encodeURIComponent(id)}/output${format ? `?format=${format}` : ''}`;

export function JobView(props: { id: string }) {
  const [job, setJob] = useState<Job | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [up, setUp] = useState(false);
  const apply = (j: Job) => setJob((cur) => (cur ? { ...j, shards: cur.shards } : cur));
  useEventStream(props.id, {
    ready: () =>
      void api.job(props.id).then(
        (j) => {
          setJob(j);
          setError(null);
        },
        (e: Error) => setError(e.message),
      ),
    // The end of a job shows with the stored shards: the snapshot taken when the stream connected may
    // have landed after some shard events and undone them.
    job: (j) => (isFinished(j) ? void api.job(props.id).then(setJob, () => apply(j)) : apply(j)),
    shard: (j, s) => setJob((cur) => (cur ? upsertShard({ ...j, shards: cur.shards }, s) : cur)),
    connected: setUp,
  });
  const act = async (what: 'cancel' | 'retry') => {
    try {
      if (what === 'cancel') await api.cancel(props.id);
      else navigate(`/jobs/${(await api.retry(props.id)).jobId}`);
    } catch (e) {
      setError(`${what}: ${(e as Error).message}`);
    }
  };
  if (!job)
    return (
      <section>
        <h1>Job {props.id}</h1>
        <ErrorLine error={error} />
        {error ? null : <p aria-busy="true">Loading…</p>}
      </section>
    );
  const state = jobState(job);
  const kind = jobKind(job);
  return (
    <section aria-labelledby="job-h" data-job={job.id} data-state={state}>
      <div class="title-row">
        <h1 id="job-h">{job.name || `Job ${job.id}`}</h1>
        <Badge state={state} />
        <Live up={up} />
        <span class="spacer" />
        {isFinished(job) ? (
          <button type="button" onClick={() => void act('retry')}>
            Retry
          </button>
        ) : (
          <button type="button" onClick={() => void act('cancel')}>
            Cancel job
          </button>
        )}
      </div>
      <ErrorLine error={error} />
      <dl class="facts">
        <dt>Id</dt>
        <dd class="mono">{job.id}</dd>
        <dt>Kind</dt>
        <dd>{kind}</dd>
        <dt>Model</dt>
        <dd class="mono">{job.model}</dd>
        <dt>Owner</dt>
        <dd>{job.owner || '—'}</dd>
        <dt>Size</dt>
        <dd>
          {job.inputWidth ? `${job.inputWidth}×${job.inputHeight} → ` : ''}
          {job.outputWidth}×{job.outputHeight}
          {job.frames ? `, ${job.frames} frames at ${job.fps} fps` : ''}
        </dd>
        <dt>Age</dt>
        <dd>{age(job.createdUnixMs, Date.now())}</dd>
        <dt>Progress</dt>
        <dd>
          <Progress value={progressPercent(job)} label={`${job.shardsDone} of ${job.shardsTotal} shards done`} />{' '}
          <span data-testid="shards-done">{job.shardsDone}</span>/{job.shardsTotal} shards
        </dd>
      </dl>
      {job.waitingReason && !isFinished(job) ? (
        <p class="waiting" role="status">
          Waiting: {job.waitingReason}
        </p>
      ) : null}
      {job.error ? (
        <p class="error" role="alert">
          {job.error}
        </p>
      ) : null}
      {kind === 'upscale' ? <TileGrid job={job} /> : null}
      {kind === 'video' || kind === 'video upscale' ? <Timeline job={job} /> : null}
      {kind === 'image' && state === 'succeeded' ? (
        <img class="result" src={outputUrl(job.id)} alt={`Result of job ${job.id}`} />
      ) : null}
      <ShardTable job={job} />
    </section>
  );
}

/** The output grid: committed tiles as thumbnails at their place, running ones outlined; then the result. */
function TileGrid(props: { job: Job }) {
  const { job } = props;
  const tiles = job.shards.filter((s) => s.stage === 'upscale');
  const done = tiles.filter((s) => shardState(s) === 'done');
  const succeeded = jobState(job) === 'succeeded';
  return (
    <figure class="grid-figure">
      <div
        class="tile-grid"
        style={{ aspectRatio: `${job.outputWidth} / ${job.outputHeight}` }}
        data-tiles-done={done.length}
        data-tiles-total={tiles.length}
      >
        {tiles.map((s) => {
          const box = tileBox(s.region, job.outputWidth, job.outputHeight);
          if (!box) return null;
          const st = shardState(s);
          const style = { left: `${box.left}%`, top: `${box.top}%`, width: `${box.width}%`, height: `${box.height}%` };
          return st === 'done' ? (
            <img
              key={`${s.index}-${s.attempts}`}
              class="tile done"
              style={style}
              src={tileUrl(job.id, s)}
              alt={`Tile ${s.index}, by ${s.agent || 'an agent'}`}
            />
          ) : (
            <div key={s.index} class={`tile ${st}`} style={style} title={`Tile ${s.index}: ${st}`} />
          );
        })}
        {succeeded ? (
          <img class="result-overlay" src={outputUrl(job.id)} alt={`Blended result of job ${job.id}`} />
        ) : null}
      </div>
      <figcaption>
        {succeeded
          ? `The blended result, ${job.outputWidth}×${job.outputHeight}.`
          : `${done.length} of ${tiles.length} tiles committed.`}
      </figcaption>
    </figure>
  );
}

/** A video job's batches on the clip's timeline, cross-fade spans hatched; then the clip. */
function Timeline(props: { job: Job }) {
  const { job } = props;
  const batches = timeline(job.shards, job.frames);
  const mp4 = job.outputs.find((o) => o.format === 'mp4');
  const webp = job.outputs.find((o) => o.format === 'webp');
  return (
    <figure class="timeline-figure">
      <div class="timeline" role="list" aria-label="Frame batches">
        {batches.map((b) => (
          <div
            role="listitem"
            class={`batch ${b.state}`}
            style={{ left: `${b.left}%`, width: `${b.width}%` }}
            aria-label={`Batch ${b.index}: frames ${b.firstFrame} to ${b.firstFrame + b.frameCount - 1}, ${b.state}`}
          >
            <span aria-hidden="true">{b.index}</span>
          </div>
        ))}
        {batches
          .filter((b) => b.fadeWidth > 0)
          .map((b) => (
            <div class="fade" style={{ left: `${b.fadeLeft}%`, width: `${b.fadeWidth}%` }} aria-hidden="true" />
          ))}
      </div>
      <figcaption>
        {job.frames} frames in {batches.length} batches
        {batches.some((b) => b.fadeWidth > 0) ? '; hatched spans are cross-faded between batches' : ''}.
      </figcaption>
      {jobState(job) === 'succeeded' && mp4 ? (
        <video class="result" src={outputUrl(job.id, 'mp4')} controls autoplay muted loop playsInline />
      ) : jobState(job) === 'succeeded' && webp ? (
        <img class="result" src={outputUrl(job.id, 'webp')} alt={`Clip of job ${job.id}`} />
      ) : null}
    </figure>
  );
}

function ShardTable(props: { job: Job }) {
  return (
    <details class="shards" open={props.job.shards.length <= 64}>
      <summary>Shards ({props.job.shards.length})</summary>
      <table>
        <thead>
          <tr>
            <th scope="col">#</th>
            <th scope="col">Stage</th>
            <th scope="col">State</th>
            <th scope="col">Agent</th>
            <th scope="col">Class (needs)</th>
            <th scope="col">Attempts</th>
            <th scope="col">Engine time</th>
            <th scope="col">Reason</th>
          </tr>
        </thead>
        <tbody>
          {props.job.shards.map((s) => (
            <tr key={s.index} data-shard={s.index}>
              <th scope="row">{s.index}</th>
              <td>{s.stage}</td>
              <td>
                <Badge state={shardState(s)} />
              </td>
              <td>
                {s.agent || '—'}
                {s.backupAgent ? ` + ${s.backupAgent} (backup)` : ''}
              </td>
              <td>
                {s.agentVramClass || '—'} ({s.requiredVramClass})
              </td>
              <td>{s.attempts}</td>
              <td>{s.runSeconds ? `${s.runSeconds.toFixed(2)} s` : '—'}</td>
              <td>{s.reason}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}
