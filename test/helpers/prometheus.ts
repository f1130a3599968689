/**
 * Prometheus tooling for the operations tests: finding the Debian binaries (promtool, prometheus,
 * kubectl), parsing the text exposition format, extracting metric names from PromQL with the
 * Prometheus project's own grammar, and running a real Prometheus server on a free port.
 *
 * Missing tools: a test skips with a message only outside CI; under CI (`CI` set) it fails, since
 * `.ci/install-ops.sh` installs them.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { freePort, waitFor } from './process.js';

/** Absolute path of `name` on PATH, or undefined. */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      if (statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** What a suite does about a tool: run, skip (missing, not CI) or fail (missing under CI). */
export interface ToolGate {
  /** True when the suite must be skipped (tool missing and not under CI). */
  skip: boolean;
  /** Throws under CI when the tool is missing; call in beforeAll. */
  require(): void;
}

/** Checks that every tool is on PATH; prints why a suite is skipped. */
export function toolGate(suite: string, tools: string[]): ToolGate {
  const missing = tools.filter((t) => !which(t));
  const ci = !!process.env.CI;
  const message = `${suite}: ${missing.join(', ')} not found on PATH (install with: bash .ci/install-ops.sh)`;
  if (missing.length && !ci) console.warn(`SKIPPED ${message}`);
  return {
    skip: missing.length > 0 && !ci,
    require() {
      if (missing.length) throw new Error(`${message}; CI must have them`);
    },
  };
}

/** Runs a command with optional stdin; resolves with its exit code and combined output. */
export function runTool(
  cmd: string,
  args: string[],
  stdin?: string,
  timeoutMs = 60_000,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(t);
      resolve({ code, output });
    });
    child.stdin.end(stdin ?? '');
  });
}

/** One sample line of the exposition format. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parsed exposition: metric families (from # TYPE) and every sample. */
export interface Exposition {
  types: Map<string, string>;
  samples: Sample[];
  /** Every sample name (histograms contribute `_bucket`, `_sum`, `_count`). */
  names: Set<string>;
}

/** Parses Prometheus text format 0.0.4 (what prom-client writes). Throws naming a line it cannot read. */
export function parseExposition(text: string): Exposition {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      types.set(type[1], type[2]);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    if (!m) throw new Error(`unreadable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return { types, samples, names: new Set(samples.map((s) => s.name)) };
}

/** Sum of the samples named `name` whose labels include `match`. */
export function sumOf(e: Exposition, name: string, match: Record<string, string> = {}): number {
  return e.samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}

/**
 * The q-quantile of histogram `name` (all label sets summed), as PromQL's histogram_quantile computes
 * it: linear within the bucket it falls in (the upper bound of the last finite bucket when it falls
 * in +Inf). NaN without observations.
 */
export function histogramQuantile(e: Exposition, name: string, q: number): number {
  const byLe = new Map<number, number>();
  for (const s of e.samples)
    if (s.name === `${name}_bucket`) {
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      byLe.set(le, (byLe.get(le) ?? 0) + s.value);
    }
  const buckets = [...byLe].sort((a, b) => a[0] - b[0]);
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1e-12, count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

/** GETs a /metrics page. */
export async function scrape(url: string): Promise<string> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return res.text();
}

/**
 * The sum of `name`'s samples whose labels include `labels`, read from a live /metrics page.
 * Throws when the page has no sample of `name` at all, so a metric that vanished fails loudly.
 */
export async function metricValue(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const e = parseExposition(await scrape(url));
  if (!e.names.has(name)) throw new Error(`${url} exports no sample of ${name}`);
  return sumOf(e, name, labels);
}

/**
 * Metric names a PromQL expression selects, read from the syntax tree of the Prometheus project's
 * own grammar (`@prometheus-io/lezer-promql`): the identifier of every vector selector, plus
 * `{__name__="…"}` matchers. Throws when the expression does not parse, so a typo cannot hide.
 */
export function metricNamesIn(expr: string): string[] {
  const tree = parser.parse(expr);
  const names = new Set<string>();
  const cursor = tree.cursor();
  do {
    if (cursor.type.isError) throw new Error(`PromQL syntax error at ${cursor.from} in: ${expr}`);
    if (cursor.name === 'VectorSelector') {
      const node = cursor.node;
      const id = node.getChild('Identifier');
      if (id) names.add(expr.slice(id.from, id.to));
      const text = expr.slice(node.from, node.to);
      for (const m of text.matchAll(/__name__\s*=\s*"([^"]+)"/g)) names.add(m[1]);
    }
  } while (cursor.next());
  return [...names];
}

/** A Prometheus server run by a test. */
export interface TestPrometheus {
  url: string;
  /** Instant query; returns the result vector. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]>;
  /** Scrape targets as Prometheus sees them. */
  targets(): Promise<{ scrapeUrl: string; health: string; lastError: string }[]>;
  /** Waits until every configured target has been scraped successfully (discovery takes ~5 s). */
  allTargetsUp(timeoutMs?: number): Promise<void>;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts the `prometheus` binary on a free loopback port with a generated config scraping
 * `jobs` every `scrapeIntervalS`, its TSDB in a temp dir (deleted on stop).
 */
export async function startPrometheus(jobs: Record<string, string[]>, scrapeIntervalS = 1): Promise<TestPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-prom-'));
  const port = await freePort();
  const scrapeConfigs = Object.entries(jobs)
    .map(
      ([job, targets]) =>
        `  - job_name: ${job}\n    static_configs:\n      - targets: [${targets.map((t) => `'${t}'`).join(', ')}]`,
    )
    .join('\n');
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    `global:\n  scrape_interval: ${scrapeIntervalS}s\n  evaluation_interval: ${scrapeIntervalS}s\nscrape_configs:\n${scrapeConfigs}\n`,
  );
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    'prometheus',
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const append = (d: Buffer) => (out = (out + d.toString()).slice(-20_000));
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.error ?? res.status}`);
    return body.data;
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}: ${out.slice(-2000)}`);
        return (await fetch(`${url}/-/ready`)).ok;
      },
      30_000,
      'prometheus to be ready',
      100,
    );
  } catch (e) {
    await stop();
    throw e;
  }
  const targets = async () =>
    (await api<{ activeTargets: { scrapeUrl: string; health: string; lastError: string }[] }>('/api/v1/targets'))
      .activeTargets;
  return {
    url,
    query: async (expr) =>
      (
        await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
          `/api/v1/query?query=${encodeURIComponent(expr)}`,
        )
      ).result,
    targets,
    async allTargetsUp(timeoutMs = 30_000) {
      const expected = Object.values(jobs).flat().length;
      await waitFor(
        async () => {
          const t = await targets();
          return t.length === expected && t.every((x) => x.health === 'up');
        },
        timeoutMs,
        `prometheus to scrape all ${expected} targets`,
        200,
      );
    },
    output: () => out,
    stop,
  };
}
