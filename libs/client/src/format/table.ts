import type { AgentInfo, Job } from '@tessera/protocol';
import { agentToJson, jobToJson, type JobJson } from './json.js';

/** Renders rows under a header as left-aligned columns two spaces apart, without trailing blanks. Pure. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** "1.5 KiB", "3.2 MiB". Pure. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = -1;
  do {
    v /= 1024;
    u++;
  } while (v >= 1024 && u < units.length - 1);
  return `${v.toFixed(1)} ${units[u]}`;
}

/** Seconds between two ISO times, "12.3 s"; "" when either is missing. Pure. */
function elapsed(from: string | null, to: string | null): string {
  if (from === null || to === null) return '';
  return `${((Date.parse(to) - Date.parse(from)) / 1000).toFixed(1)} s`;
}

function size(w: number, h: number): string {
  return w > 0 && h > 0 ? `${w}x${h}` : '-';
}

function dash(s: string): string {
  return s === '' ? '-' : s;
}

/** The human `tessera status JOB` view: a key/value block, then one row per shard. Pure. */
export function formatJobStatus(job: Job): string {
  const j: JobJson = jobToJson(job);
  const kv: [string, string][] = [
    ['job', j.name === '' ? j.id : `${j.id} (${j.name})`],
    ['kind', `${j.kind}  model ${j.model}`],
    ['state', `${j.state}  ${j.shardsDone}/${j.shardsTotal} shards done`],
  ];
  // Farms without authentication have no owners.
  if (j.owner !== '') kv.splice(1, 0, ['owner', j.owner]);
  if (j.waitingReason !== '') kv.push(['waiting', j.waitingReason]);
  if (j.error !== '') kv.push(['error', j.error]);
  kv.push(['input', `${size(j.input.width, j.input.height)}  tile ${j.tile}  overlap ${j.overlap}`]);
  if (j.output.bytes > 0) {
    kv.push([
      'output',
      `${size(j.output.width, j.output.height)}  ${formatBytes(j.output.bytes)}  sha256 ${j.output.sha256}`,
    ]);
  } else if (j.output.width > 0) {
    kv.push(['output', size(j.output.width, j.output.height)]);
  }
  kv.push(['created', j.createdAt ?? '-']);
  if (j.startedAt !== null) kv.push(['started', j.startedAt]);
  if (j.finishedAt !== null)
    kv.push(['finished', `${j.finishedAt}  (${elapsed(j.startedAt ?? j.createdAt, j.finishedAt)})`]);
  const head = kv.map(([k, v]) => `${k.padEnd(10)}${v}`).join('\n');
  if (j.shards.length === 0) return head;
  const rows = j.shards.map((s) => [
    String(s.index),
    s.stage,
    s.state,
    String(s.attempts),
    s.backupAgent ? `${dash(s.agent)} +${s.backupAgent} (backup)` : dash(s.agent),
    `${dash(s.agentVramClass)}/${dash(s.requiredVramClass)}`,
    `${s.region.width}x${s.region.height}+${s.region.x}+${s.region.y}`,
    s.runSeconds > 0 ? s.runSeconds.toFixed(2) : '-',
    s.reason,
  ]);
  const shards = renderTable(
    ['SHARD', 'STAGE', 'STATE', 'ATTEMPTS', 'AGENT', 'CLASS/NEEDS', 'REGION', 'RUN(s)', 'REASON'],
    rows,
  );
  return `${head}\n\n${shards}`;
}

/** The human `tessera jobs` table, newest first as the server lists them. Pure. */
export function formatJobsTable(jobs: readonly Job[]): string {
  if (jobs.length === 0) return 'no jobs';
  const rows = jobs.map((job) => {
    const j = jobToJson(job);
    return [
      j.id,
      j.kind,
      j.state,
      j.model,
      `${j.shardsDone}/${j.shardsTotal}`,
      j.createdAt ?? '-',
      dash(j.name),
      j.error !== '' ? j.error : j.waitingReason,
    ];
  });
  return renderTable(['ID', 'KIND', 'STATE', 'MODEL', 'SHARDS', 'CREATED', 'NAME', 'NOTE'], rows);
}

/** The human `tessera agents` table. Pure. */
export function formatAgentsTable(agents: readonly AgentInfo[]): string {
  if (agents.length === 0) return 'no agents';
  const rows = agents.map((agent) => {
    const a = agentToJson(agent);
    return [
      a.name === '' ? a.id : a.name,
      a.hostname,
      a.deviceIndex < 0 ? 'cpu' : `${a.deviceIndex}: ${a.deviceName}`,
      `${a.vramGb} GB (${a.usableVramGb} usable)`,
      a.vramClass,
      a.state,
      a.executionProvider,
      String(a.shardsCompleted),
      dash(a.currentShard),
      a.modelsLoaded.join(',') || '-',
    ];
  });
  return renderTable(['AGENT', 'HOST', 'DEVICE', 'VRAM', 'CLASS', 'STATE', 'EP', 'DONE', 'CURRENT', 'MODELS'], rows);
}
