/**
 * Issue 4, "Operate it" — metrics side, against a real farm (nats-server, coordinator and an agent
 * as processes) and the Debian `promtool` and `prometheus` binaries:
 *  - the live /metrics of the coordinator and of an agent, scraped while a job runs, pass
 *    `promtool check metrics`;
 *  - every PromQL expression in deploy/prometheus/tessera-rules.yaml and in the Grafana dashboards
 *    parses with promtool, and every metric name it selects is exported by the coordinator or agent;
 *  - a real Prometheus server scrapes the farm and a query over its data returns the completed jobs.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { JobState } from '@tessera/protocol';
import { AGENT_BIN, startFarm, type Farm } from './helpers/farm.js';
import { baboonPng } from './helpers/images.js';
import { freePort, repoRoot, spawnBin, waitFor, type Proc } from './helpers/process.js';
import {
  metricNamesIn,
  parseExposition,
  runTool,
  scrape,
  startPrometheus,
  sumOf,
  toolGate,
  type Exposition,
  type TestPrometheus,
} from './helpers/prometheus.js';

const RULES = join(repoRoot, 'deploy/prometheus/tessera-rules.yaml');
const DASHBOARDS = join(repoRoot, 'deploy/grafana/dashboards');
const gate = toolGate('ops-metrics', ['promtool', 'prometheus']);

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
}

/** Every rule of a Prometheus rule file. */
function rulesOf(file: string): Rule[] {
  const doc = parseYaml(readFileSync(file, 'utf8')) as { groups: { rules: Rule[] }[] };
  return doc.groups.flatMap((g) => g.rules);
}

/** Every `expr` of every panel target of every dashboard, with Grafana's variables given sample values. */
function dashboardExprs(): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  for (const f of readdirSync(DASHBOARDS).filter((n) => n.endsWith('.json'))) {
    const d = JSON.parse(readFileSync(join(DASHBOARDS, f), 'utf8')) as {
      panels: { title: string; targets?: { expr?: string }[] }[];
      templating?: { list: { name: string; query?: unknown; type: string }[] };
    };
    for (const p of d.panels) {
      for (const t of p.targets ?? [])
        if (t.expr) out.push({ where: `${f}: ${p.title}`, expr: grafanaToPromql(t.expr) });
    }
    for (const v of d.templating?.list ?? []) {
      const q =
        v.type === 'query'
          ? typeof v.query === 'string'
            ? v.query
            : (v.query as { query?: string })?.query
          : undefined;
      const m = q && /^label_values\((.+),\s*\w+\)$/.exec(q);
      if (m) out.push({ where: `${f}: variable ${v.name}`, expr: m[1] });
    }
  }
  return out;
}

/** Replaces Grafana's macros and template variables with values PromQL accepts. */
function grafanaToPromql(expr: string): string {
  return expr.replace(/\$__(rate_interval|interval|range)/g, '5m').replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, () => '.*');
}

/** Names a service exports: every sample name plus every declared family (labelled series appear on first use). */
function exportedNames(...scrapes: Exposition[]): Set<string> {
  const names = new Set<string>();
  for (const e of scrapes) {
    for (const n of e.names) names.add(n);
    for (const [family, type] of e.types) {
      if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(family + s);
      else if (type === 'summary') for (const s of ['', '_sum', '_count']) names.add(family + s);
      else names.add(family);
    }
  }
  return names;
}

describe.skipIf(gate.skip)('operations: live metrics, rules, dashboards, a real Prometheus', () => {
  let farm: Farm;
  let agent: Proc;
  let prom: TestPrometheus;
  let agentMetricsUrl: string;
  let coordMid: string;
  let agentMid: string;
  let coordAfter: string;
  let agentAfter: string;
  let shardsOfJob = 0;
  let succeededSeenMidJob: number | undefined;
  const tmp = mkdtempSync(join(tmpdir(), 'tessera-ops-'));

  beforeAll(async () => {
    gate.require();
    farm = await startFarm({ agents: [] });
    const port = await freePort();
    agentMetricsUrl = `http://127.0.0.1:${port}/metrics`;
    agent = spawnBin(
      AGENT_BIN,
      [
        '--nats',
        farm.nats.url,
        '--farm',
        farm.farmPrefix,
        '--name',
        'ops-agent',
        '--vram-gb',
        '24',
        '--metrics',
        `127.0.0.1:${port}`,
        '--heartbeat-ms',
        '250',
        '--threads',
        '1',
      ],
      'ops-agent',
    );
    await waitFor(
      async () => {
        if (agent.child.exitCode !== null) throw new Error(`agent exited: ${agent.output().slice(-2000)}`);
        const joined = (await farm.client.listAgents()).some((a) => a.name === 'ops-agent');
        return joined && (await fetch(agentMetricsUrl.replace('/metrics', '/readyz'))).ok;
      },
      30_000,
      'the agent to join and be ready',
      100,
    );
    const coordTarget = new URL(farm.metricsUrl).host;
    prom = await startPrometheus({ 'tessera-coordinator': [coordTarget], 'tessera-agent': [`127.0.0.1:${port}`] }, 1);
    await prom.allTargetsUp();

    // The whole 512×512 photo on one single-threaded agent: several shards, seconds of work.
    const job = await farm.client.submitUpscale({
      image: baboonPng(),
      model: 'esrgan-slim-x4',
      tile: 64,
      overlap: 12,
      seed: 1,
    });
    // Scrape both while the job is in flight: submitted, not finished, and the agent has run a shard.
    const mid = await waitFor(
      async () => {
        const [c, a] = await Promise.all([scrape(farm.metricsUrl), scrape(agentMetricsUrl)]);
        const ce = parseExposition(c);
        const ae = parseExposition(a);
        const finished = sumOf(ce, 'tessera_jobs_completed_total');
        if (finished > 0) throw new Error('the job finished before a mid-job scrape; make it larger');
        return sumOf(ce, 'tessera_jobs_submitted_total') === 1 && sumOf(ae, 'tessera_agent_shards_total') >= 1
          ? { c, a }
          : undefined;
      },
      60_000,
      'a scrape taken while the job runs',
      50,
    );
    coordMid = mid.c;
    agentMid = mid.a;
    // Prometheus has been scraping since before the submission; it has seen the job, not its end.
    const q = await prom.query('sum(tessera_jobs_completed_total{outcome="succeeded"})');
    succeededSeenMidJob = q.length ? Number(q[0].value[1]) : 0;
    const submittedSeen = await waitFor(
      async () => Number((await prom.query('sum(tessera_jobs_submitted_total)'))[0]?.value[1] ?? 0),
      5_000,
      'Prometheus to see the submission',
      100,
    );
    expect(submittedSeen).toBe(1);
    const done = await farm.client.waitForJob(job.id);
    expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
    shardsOfJob = (await farm.client.getJob(job.id)).shards.length;
    expect(shardsOfJob).toBeGreaterThanOrEqual(2);
    coordAfter = await scrape(farm.metricsUrl);
    agentAfter = await scrape(agentMetricsUrl);
  });

  afterAll(async () => {
    await prom?.stop();
    await agent?.stop('SIGKILL');
    await farm?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('promtool check metrics reports nothing on the coordinator /metrics scraped mid-job', async () => {
    const e = parseExposition(coordMid);
    // Not a vacuous pass: the job is visibly in flight in this very scrape.
    expect(sumOf(e, 'tessera_jobs_submitted_total')).toBe(1);
    expect(sumOf(e, 'tessera_jobs_completed_total')).toBe(0);
    expect(sumOf(e, 'tessera_agents', { vram_class: '24gb' })).toBe(1);
    const r = await runTool('promtool', ['check', 'metrics'], coordMid);
    expect(r.output).toBe('');
    expect(r.code).toBe(0);
  });

  it('promtool check metrics reports nothing on the agent /metrics scraped mid-job', async () => {
    const e = parseExposition(agentMid);
    expect(sumOf(e, 'tessera_agent_shards_total')).toBeGreaterThanOrEqual(1);
    expect(e.names.has('tessera_agent_shard_run_seconds_bucket')).toBe(true);
    const r = await runTool('promtool', ['check', 'metrics'], agentMid);
    expect(r.output).toBe('');
    expect(r.code).toBe(0);
  });

  it('promtool check metrics does flag a bad exposition (the check can fail)', async () => {
    const bad = '# HELP tessera_bad A counter without _total.\n# TYPE tessera_bad counter\ntessera_bad 1\n';
    const r = await runTool('promtool', ['check', 'metrics'], bad);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/_total/);
  });

  it('the rule file passes promtool check rules', async () => {
    const r = await runTool('promtool', ['check', 'rules', RULES]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/SUCCESS: \d+ rules found/);
    expect(rulesOf(RULES).length).toBeGreaterThanOrEqual(4);
  });

  it('the alert rules fire (and stay quiet) as their promtool unit tests expect', async () => {
    const r = await runTool('promtool', ['test', 'rules', join(repoRoot, 'deploy/prometheus/tessera-rules.test.yaml')]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('SUCCESS');
  });

  it('every dashboard expression parses with promtool (as a temporary rule file)', async () => {
    const exprs = dashboardExprs();
    expect(exprs.length).toBeGreaterThan(20);
    const file = join(tmp, 'dashboards-as-rules.yaml');
    writeFileSync(
      file,
      stringifyYaml({
        groups: [
          { name: 'dashboards', rules: exprs.map((e, i) => ({ record: `tessera:dashboard_expr_${i}`, expr: e.expr })) },
        ],
      }),
    );
    const r = await runTool('promtool', ['check', 'rules', file]);
    expect(r.code, `${r.output}\n${exprs.map((e, i) => `${i}: ${e.where}: ${e.expr}`).join('\n')}`).toBe(0);
    expect(r.output).toContain(`SUCCESS: ${exprs.length} rules found`);
  });

  it('every metric name in the rules and dashboards is exported by the coordinator or the agent', () => {
    const exported = exportedNames(...[coordMid, agentMid, coordAfter, agentAfter].map(parseExposition));
    const used = [
      ...rulesOf(RULES).map((r) => ({ where: `rule ${r.alert ?? r.record}`, expr: r.expr })),
      ...dashboardExprs(),
    ];
    const missing: string[] = [];
    let names = 0;
    for (const u of used) {
      const inExpr = metricNamesIn(u.expr);
      expect(inExpr.length, `${u.where} selects no metric: ${u.expr}`).toBeGreaterThan(0);
      names += inExpr.length;
      for (const n of inExpr) if (!exported.has(n)) missing.push(`${n} (${u.where})`);
    }
    expect(missing).toEqual([]);
    expect(names).toBeGreaterThan(used.length - 1);
  });

  it('a real Prometheus scraping the farm returns the number of completed jobs', async () => {
    expect(succeededSeenMidJob).toBe(0);
    // Both series reach their final values once Prometheus has scraped both processes after the job.
    const seen = await waitFor(
      async () => {
        const [jobs, shards] = await Promise.all([
          prom.query('sum(tessera_jobs_completed_total{outcome="succeeded"})'),
          prom.query('sum(tessera_agent_shards_total{outcome="committed"})'),
        ]);
        const v = { jobs: Number(jobs[0]?.value[1] ?? 0), shards: Number(shards[0]?.value[1] ?? 0) };
        return v.jobs >= 1 && v.shards >= shardsOfJob ? v : undefined;
      },
      20_000,
      'Prometheus to have scraped the completed job',
      250,
    );
    expect(seen).toEqual({ jobs: 1, shards: shardsOfJob });
    const targets = await prom.targets();
    expect(
      targets.map((t) => t.health),
      JSON.stringify(targets),
    ).toEqual(['up', 'up']);
  });
});
