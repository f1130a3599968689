/** The fleet: agents grouped by VRAM class, each with its current shard, speed, models and health. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, useEventStream } from './api.js';
import { Link } from './link.js';
import { age, agentState, groupByClass, type Agent } from './model.js';
import { Badge, ErrorLine, Live } from './status.js';

export function FleetView() {
  const [agents, setAgents] = useState<Agent[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [up, setUp] = useState(false);
  const load = () =>
    void api.agents().then(
      (a) => {
        setAgents(a);
        setError(null);
      },
      (e: Error) => setError(e.message),
    );
  // Reloaded when agents report in (heartbeats) and when shards change hands: at most once a second.
  const pending = useRef<{ last: number; timer?: number }>({ last: 0 });
  const soon = () => {
    const p = pending.current;
    if (p.timer !== undefined) return;
    p.timer = window.setTimeout(
      () => {
        p.timer = undefined;
        p.last = Date.now();
        load();
      },
      Math.max(0, p.last + 1000 - Date.now()),
    );
  };
  useEffect(() => () => window.clearTimeout(pending.current.timer), []);
  useEventStream(undefined, { ready: load, fleet: soon, shard: soon, connected: setUp });
  const now = Date.now();
  return (
    <section aria-labelledby="fleet-h">
      <div class="title-row">
        <h1 id="fleet-h">Fleet</h1>
        <Live up={up} />
      </div>
      <ErrorLine error={error} />
      {agents === null ? <p aria-busy="true">Loading…</p> : null}
      {agents !== null && agents.length === 0 ? <p>No agents have reported in.</p> : null}
      {agents &&
        groupByClass(agents).map((g) => (
          <section class="vram-class" aria-labelledby={`class-${g.vramClass}`} data-class={g.vramClass}>
            <h2 id={`class-${g.vramClass}`}>
              {g.vramClass === 'cpu' ? 'CPU' : g.vramClass.toUpperCase()} <span class="sub">({g.agents.length})</span>
            </h2>
            <table>
              <thead>
                <tr>
                  <th scope="col">Agent</th>
                  <th scope="col">Health</th>
                  <th scope="col">Device</th>
                  <th scope="col">Current shard</th>
                  <th scope="col">Shards done</th>
                  <th scope="col">Speed (since this page opened)</th>
                  <th scope="col">Models held</th>
                  <th scope="col">Last seen</th>
                </tr>
              </thead>
              <tbody>
                {g.agents.map((a) => (
                  <tr key={a.id} data-agent={a.name}>
                    <th scope="row">
                      {a.name}
                      <div class="sub">{a.hostname}</div>
                    </th>
                    <td>
                      <Badge state={agentState(a)} />
                    </td>
                    <td>
                      {a.deviceIndex < 0 ? 'CPU' : `GPU ${a.deviceIndex} ${a.deviceName}`}
                      <div class="sub">
                        {a.vramUsableGb.toFixed(1)} of {a.vramTotalGb.toFixed(1)} GB usable · {a.executionProvider}
                      </div>
                    </td>
                    <td>{a.currentShard ? <CurrentShard shard={a.currentShard} /> : '—'}</td>
                    <td>{a.shardsCompleted}</td>
                    <td>{speed(a, now)}</td>
                    <td class="mono">{a.modelsLoaded.join(', ') || '—'}</td>
                    <td>{a.lastSeenUnixMs ? age(a.lastSeenUnixMs, now) : '—'} ago</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        ))}
    </section>
  );
}

/** "job/shard" as a link to the job. */
function CurrentShard(props: { shard: string }) {
  const [job, shard] = props.shard.split('/');
  return (
    <Link href={`/jobs/${job}`}>
      <span class="mono">{job}</span> #{shard}
    </Link>
  );
}

/** Shards per minute since the console saw the agent first (this page's view of it). */
const firstSeen = new Map<string, { at: number; done: number }>();
function speed(a: Agent, now: number): string {
  const f = firstSeen.get(a.id);
  if (!f) {
    firstSeen.set(a.id, { at: now, done: a.shardsCompleted });
    return '—';
  }
  const min = (now - f.at) / 60_000;
  if (min < 0.05) return '—';
  return `${((a.shardsCompleted - f.done) / min).toFixed(1)} shards/min`;
}
