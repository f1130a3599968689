import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tessera } from '../fixtures/cli.js';

const scenario = (f: string) => fileURLToPath(new URL(`../../../docs/plan-scenarios/${f}`, import.meta.url));

describe.concurrent('tessera plan', () => {
  it('--json prints the contract fields, per agent and per attempt', async () => {
    const r = await tessera([
      'plan',
      '--fleet',
      scenario('chains-fleet.yaml'),
      '--workload',
      scenario('chains-work.yaml'),
      '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const p = JSON.parse(r.stdout) as Record<string, unknown> & {
      agents: Record<string, unknown>[];
      schedule: Record<string, unknown>[];
      marginal: Record<string, unknown>[];
    };
    for (const k of ['makespan_s', 'lower_bound_s', 'fifo_makespan_s']) expect(typeof p[k]).toBe('number');
    expect(p.agents[0]).toEqual({ name: 'a100-0', vram_gb: 80, speed: 3 });
    expect(p.agents.map((a) => a.name)).toContain('r3060-2');
    for (const a of p.schedule)
      for (const k of [
        'job',
        'shard',
        'model',
        'agent',
        'start_s',
        'end_s',
        'work_s',
        'required_gb',
        'depends_on',
        'submit_at_s',
      ])
        expect(a).toHaveProperty(k);
    expect(p.schedule.some((a) => (a.depends_on as string[]).length > 0)).toBe(true);
    expect(p.marginal.map((m) => m.add_vram_gb)).toEqual([80, 24, 12, 16]);
    for (const m of p.marginal) expect(typeof m.makespan_s).toBe('number');
    expect(p.speculation).toBe(true);
    const off = await tessera([
      'plan',
      '--fleet',
      scenario('chains-fleet.yaml'),
      '--workload',
      scenario('chains-work.yaml'),
      '--json',
      '--no-speculation',
    ]);
    expect(JSON.parse(off.stdout).speculation).toBe(false);
  });

  it('prints a readable table without --json', async () => {
    const r = await tessera([
      'plan',
      '--fleet',
      scenario('hetero-fleet.yaml'),
      '--workload',
      scenario('hetero-work.yaml'),
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^makespan\s+[\d.]+ s\s+\([\d.]+ × the lower bound [\d.]+ s\)/m);
    expect(r.stdout).toMatch(/^FIFO any-fit/m);
    expect(r.stdout).toMatch(/^12gb\s+4\s+[\d.]+ %/m);
    expect(r.stdout).toMatch(/^\+ fast \(24 GB, speed 4\)/m);
  });

  it('names an unknown key or model and exits 2', async () => {
    const r = await tessera([
      'plan',
      '--fleet',
      scenario('hetero-work.yaml'),
      '--workload',
      scenario('hetero-work.yaml'),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/hetero-work\.yaml: jobs is not a known key \(known: agents\)/);
    const missing = await tessera(['plan', '--fleet', scenario('hetero-fleet.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/plan needs --workload FILE/);
  });
});
