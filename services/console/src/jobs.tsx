/** The jobs list: state, owner, model, progress, age; filters; cancel and retry. Live from /api/events. */
import { useState } from 'preact/hooks';
import { api, takeInitialJobs, useEventStream } from './api.js';
import { Link, navigate } from './link.js';
import {
  age,
  filterJobs,
  isFinished,
  jobKind,
  jobState,
  JOB_KINDS,
  progressPercent,
  upsertJob,
  type Job,
  type JobFilter,
} from './model.js';
import { Badge, ErrorLine, Live, Progress } from './status.js';

const STATE_FILTERS = ['', 'active', 'queued', 'running', 'assembling', 'succeeded', 'failed', 'cancelled'];

export function JobsView() {
  const [jobs, setJobs] = useState<Job[] | null>(takeInitialJobs);
  const [filter, setFilter] = useState<JobFilter>({ state: '', text: '', kind: '' });
  const [error, setError] = useState<string | null>(null);
  const [up, setUp] = useState(false);
  const [busy, setBusy] = useState<string | null>(null);
  const load = () =>
    api.jobs().then(
      (j) => {
        setJobs(j);
        setError(null);
      },
      (e: Error) => setError(e.message),
    );
  useEventStream(undefined, {
    ready: () => void load(),
    job: (job) => setJobs((list) => (list ? upsertJob(list, job) : list)),
    shard: (job) => setJobs((list) => (list ? upsertJob(list, job) : list)),
    connected: setUp,
  });
  const act = async (what: 'cancel' | 'retry', job: Job) => {
    setBusy(job.id);
    try {
      if (what === 'cancel') await api.cancel(job.id);
      else navigate(`/jobs/${(await api.retry(job.id)).jobId}`);
      setError(null);
    } catch (e) {
      setError(`${what} ${job.id}: ${(e as Error).message}`);
    } finally {
      setBusy(null);
    }
  };
  const shown = jobs ? filterJobs(jobs, filter) : [];
  const now = Date.now();
  return (
    <section aria-labelledby="jobs-h">
      <div class="title-row">
        <h1 id="jobs-h">Jobs</h1>
        <Live up={up} />
      </div>
      <form class="filters" role="search" aria-label="Filter jobs" onSubmit={(e) => e.preventDefault()}>
        <label>
          State{' '}
          <select value={filter.state} onChange={(e) => setFilter({ ...filter, state: e.currentTarget.value })}>
            {STATE_FILTERS.map((s) => (
              <option value={s}>{s || 'all'}</option>
            ))}
          </select>
        </label>
        <label>
          Kind{' '}
          <select value={filter.kind} onChange={(e) => setFilter({ ...filter, kind: e.currentTarget.value })}>
            {JOB_KINDS.map((k) => (
              <option value={k === 'unspecified' ? '' : k}>{k === 'unspecified' ? 'all' : k}</option>
            ))}
          </select>
        </label>
        <label>
          Search{' '}
          <input
            type="search"
            placeholder="id, name, owner, model"
            value={filter.text}
            onInput={(e) => setFilter({ ...filter, text: e.currentTarget.value })}
          />
        </label>
      </form>
      <ErrorLine error={error} />
      {jobs === null ? (
        <p aria-busy="true">Loading…</p>
      ) : (
        <table class="jobs">
          <caption class="sr-only">
            {shown.length} of {jobs.length} jobs
          </caption>
          <thead>
            <tr>
              <th scope="col">Job</th>
              <th scope="col">State</th>
              <th scope="col">Kind</th>
              <th scope="col">Owner</th>
              <th scope="col">Model</th>
              <th scope="col">Progress</th>
              <th scope="col">Age</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {shown.map((j) => (
              <tr key={j.id} data-job={j.id} data-state={jobState(j)}>
                <th scope="row">
                  <Link href={`/jobs/${j.id}`}>{j.name || j.id}</Link>
                  {j.name ? <div class="sub mono">{j.id}</div> : null}
                </th>
                <td>
                  <Badge state={jobState(j)} />
                  {j.waitingReason && !isFinished(j) ? <div class="sub">{j.waitingReason}</div> : null}
                </td>
                <td>{jobKind(j)}</td>
                <td>{j.owner || '—'}</td>
                <td class="mono">{j.model}</td>
                <td>
                  <Progress value={progressPercent(j)} label={`${j.shardsDone} of ${j.shardsTotal} shards done`} />
                  <span class="sub">
                    {' '}
                    {j.shardsDone}/{j.shardsTotal}
                  </span>
                </td>
                <td>
                  <time dateTime={new Date(j.createdUnixMs).toISOString()}>{age(j.createdUnixMs, now)}</time>
                </td>
                <td class="actions">
                  {isFinished(j) ? (
                    <button type="button" disabled={busy === j.id} onClick={() => void act('retry', j)}>
                      Retry<span class="sr-only"> {j.id}</span>
                    </button>
                  ) : (
                    <button type="button" disabled={busy === j.id} onClick={() => void act('cancel', j)}>
                      Cancel<span class="sr-only"> {j.id}</span>
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {jobs !== null && shown.length === 0 ? <p>No jobs match.</p> : null}
    </section>
  );
}
