/** The console's entry: a small router over three views (jobs, one job, the fleet). */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { FleetView } from './fleet.js';
import { JobView } from './job.js';
import { JobsView } from './jobs.js';
import { Link } from './link.js';

function App() {
  const [path, setPath] = useState(location.pathname);
  const [me, setMe] = useState<{ user: string; auth: boolean } | null>(null);
  useEffect(() => {
    const on = () => setPath(location.pathname);
    addEventListener('popstate', on);
    api.me().then(setMe, () => undefined);
    return () => removeEventListener('popstate', on);
  }, []);
  const job = /^\/jobs\/([A-Za-z0-9_-]+)$/.exec(path)?.[1];
  const page = job ? 'job' : path === '/fleet' ? 'fleet' : 'jobs';
  useEffect(() => {
    document.title = `${page === 'fleet' ? 'Fleet' : job ? `Job ${job}` : 'Jobs'} · Tessera`;
    document.getElementById('main')?.focus();
  }, [page, job]);
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand" aria-hidden="true">
          ▦
        </span>
        <strong>Tessera</strong>
        <nav aria-label="Sections">
          <Link href="/" class={page !== 'fleet' ? 'active' : ''}>
            Jobs
          </Link>
          <Link href="/fleet" class={page === 'fleet' ? 'active' : ''}>
            Fleet
          </Link>
        </nav>
        <span class="who">
          {me?.auth ? (
            <>
              Signed in as <strong>{me.user}</strong>{' '}
              <button type="button" class="link" onClick={() => void api.signOut()}>
                Sign out
              </button>
            </>
          ) : null}
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        {job ? <JobView id={job} /> : page === 'fleet' ? <FleetView /> : <JobsView />}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
