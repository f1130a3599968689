import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadHardwareTable } from '@tessera/hardware';
import { checkSchedule } from './check.js';
import { expandFleet, type SimJob } from './expand.js';
import { planFromFiles, type PlanReport } from './plan.js';
import { PlanInputError } from './scenario.js';
import { simulateOnCore } from './core-run.js';

const table = loadHardwareTable();
const dir = fileURLToPath(new URL('../../../../docs/plan-scenarios/', import.meta.url));
const file = (name: string) => ({ text: readFileSync(dir + name, 'utf8'), file: name });
const plan = (name: string) => planFromFiles(table, file(`${name}-fleet.yaml`), file(`${name}-work.yaml`));

describe('tessera plan on three mixed scenarios', () => {
  const reports = new Map<string, PlanReport>();
  for (const name of ['hetero', 'chains', 'video']) {
    it(`${name}: a valid schedule within 1.05 × the lower bound`, () => {
      const p = plan(name);
      reports.set(name, p);
      console.log(
        `${name}: makespan ${p.makespan_s.toFixed(1)} s, lower bound ${p.lower_bound_s.toFixed(1)} s (×${(p.makespan_s / p.lower_bound_s).toFixed(3)}), FIFO any-fit ${p.fifo_makespan_s.toFixed(1)} s (×${(p.fifo_makespan_s / p.makespan_s).toFixed(2)}), ${p.schedule.length} attempts`,
      );
      expect(checkSchedule(table, p)).toEqual([]);
      expect(p.makespan_s).toBeGreaterThanOrEqual(p.lower_bound_s - 1e-6);
      expect(p.makespan_s).toBeLessThanOrEqual(1.05 * p.lower_bound_s);
      // Every shard of every job completed, and the marginal agents never make it slower.
      const shards = new Set(p.schedule.filter((a) => !a.cancelled).map((a) => `${a.job}/${a.shard}`));
      expect(shards.size).toBe(p.schedule.filter((a) => !a.cancelled).length);
      expect(p.marginal.length).toBeGreaterThan(0);
      for (const m of p.marginal) expect(m.makespan_s).toBeLessThanOrEqual(p.makespan_s * 1.05);
    });
  }

  it('hetero (the most heterogeneous): FIFO any-fit is at least 1.3 × worse', () => {
    const p = reports.get('hetero') ?? plan('hetero');
    expect(p.fifo_makespan_s).toBeGreaterThanOrEqual(1.3 * p.makespan_s);
  });

  it('the checker finds an overlap, a class misfit, a broken dependency and a wrong duration', () => {
    const p = structuredClone(reports.get('chains') ?? plan('chains'));
    const chained = p.schedule.find((a) => a.depends_on.length > 0)!;
    const dep = p.schedule.find((a) => `${a.job}/${a.shard}` === chained.depends_on[0] && !a.cancelled)!;
    chained.start_s = dep.end_s - 1;
    const sd15 = p.schedule.find((a) => a.model === 'sd15')!;
    sd15.end_s += 0.5;
    const big = p.schedule.find((a) => a.required_gb >= 16)!;
    big.agent = p.agents.find((a) => a.vram_gb === 12)!.name;
    const problems = checkSchedule(table, p).join('\n');
    expect(problems).toMatch(/started at .* before .* ended/);
    expect(problems).toMatch(/took .* work_s \/ speed/);
    expect(problems).toMatch(/needs 16 GB but ran on/);
    expect(problems).toMatch(/at once/);
  });
});

describe('plan inputs', () => {
  const fleet = 'agents:\n  - { name: a, vram_gb: 24, count: 1 }\n';
  const run = (f: string, w: string) => () =>
    planFromFiles(table, { text: f, file: 'f.yaml' }, { text: w, file: 'w.yaml' });

  it('names unknown keys and unknown models', () => {
    const work = 'jobs:\n  - { kind: image, model: sd15, count: 1 }\n';
    expect(run('agents:\n  - { name: a, vram_gb: 24, colour: red }\n', work)).toThrow(
      /f\.yaml: agents\[0\]\.colour is not a known key/,
    );
    expect(run(fleet, 'jobs:\n  - { kind: image, model: sd99 }\n')).toThrow(
      /w\.yaml: jobs\[0\]\.model "sd99" is not a model/,
    );
    expect(run('agents:\n  - { name: a, vram_gb: 24, speed: { sd99: 2 } }\n', work)).toThrow(
      /agents\[0\]\.speed\.sd99 is not a model of the hardware table/,
    );
    expect(run(fleet, 'jobs:\n  - { kind: image, model: sd15, stpes: 3 }\n')).toThrow(
      /jobs\[0\]\.stpes is not a known key/,
    );
    expect(run(fleet, 'jobs:\n  - { kind: video, model: sd15, frames: 3 }\n')).toThrow(
      /sd15 is a image model, not usable for kind video/,
    );
    expect(run(fleet, 'work:\n  - {}\n')).toThrow(PlanInputError);
    expect(run(fleet, 'jobs:\n  - { kind: image, model: sd15, priority: 1001 }\n')).toThrow(
      /jobs\[0\]\.priority must be an integer in -1000\.\.1000, got 1001/,
    );
    expect(run(fleet, 'jobs:\n  - { kind: image, model: sd15, owner: "a b" }\n')).toThrow(
      /jobs\[0\]\.owner must be a name/,
    );
  });

  it('serves owners by fair share and jobs by priority, as the coordinator does', () => {
    const agents = 'agents:\n  - { name: a, vram_gb: 8, count: 4 }\n';
    // Alice queues four 64-tile upscales (0.03 s a tile) at 0 s; a fifth job arrives at 0.1 s.
    const work = (late: string) =>
      `jobs:\n  - { kind: upscale, model: esrgan-slim-x4, width: 8192, height: 8192, tile: 1024, overlap: 0, count: 4, owner: alice }\n` +
      `  - { kind: upscale, model: esrgan-slim-x4, width: 8192, height: 8192, tile: 1024, overlap: 0, submit_at_s: 0.1, name: late, ${late} }\n`;
    const lateDone = (w: string) => {
      const p = run(agents, w)();
      const late = p.schedule.filter((a) => a.job === 'late-0' && !a.cancelled);
      return { p, end: Math.max(...late.map((a) => a.end_s)) };
    };
    const sameOwner = lateDone(work('owner: alice'));
    const otherOwner = lateDone(work('owner: bob'));
    const urgent = lateDone(work('owner: alice, priority: 10'));
    // Same owner, same priority: it waits behind the four older jobs and ends last.
    expect(sameOwner.end).toBeCloseTo(sameOwner.p.makespan_s, 6);
    // Another owner gets half the agents at once: done long before alice's last job.
    expect(otherOwner.end).toBeLessThan(0.6 * otherOwner.p.makespan_s);
    expect(otherOwner.p.owners.map((o) => [o.owner, o.jobs])).toEqual([
      ['alice', 4],
      ['bob', 1],
    ]);
    expect(otherOwner.p.owners[1].max_completion_s).toBeCloseTo(otherOwner.end - 0.1, 6);
    // Higher priority: every agent as soon as it frees up, ahead of the older jobs.
    expect(urgent.end).toBeLessThan(otherOwner.end);
  });

  it('expands the fleet per agent and keeps the speed as written', () => {
    const p = planFromFiles(
      table,
      { text: 'agents:\n  - { name: big, vram_gb: 24, count: 2, speed: { sdxl: 2 } }\n', file: 'f' },
      { text: 'jobs:\n  - { kind: image, model: sdxl, refine: true, steps: 30, count: 2 }\n', file: 'w' },
    );
    expect(p.agents).toEqual([
      { name: 'big-0', vram_gb: 24, speed: { sdxl: 2 } },
      { name: 'big-1', vram_gb: 24, speed: { sdxl: 2 } },
    ]);
    // base (24 steps) → refiner (6 steps), 1024² at 0.14 s per megapixel-step.
    const base = p.schedule.find((a) => a.shard === 0)!;
    expect(base.work_s).toBeCloseTo(1.048576 * 24 * 0.14, 5);
    expect(p.schedule.find((a) => a.shard === 1)!.depends_on).toEqual([`${base.job}/0`]);
    expect(p.makespan_s).toBeCloseTo((1.048576 * 30 * 0.14) / 2, 5);
  });
});

describe('speculative backups in the farm core, simulated', () => {
  it('one agent 5× slower: p99 job completion over 20 seeds ≤ 1.3 × p50, backups ≤ 10 % of GPU-seconds', () => {
    const times: number[] = [];
    const without: number[] = [];
    let gpuS = 0;
    let backupS = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const slow = seed % 5;
      const agents = expandFleet(
        table,
        Array.from({ length: 5 }, (_, i) => ({ name: `g${i}`, vramGb: 12, count: 1, speed: i === slow ? 0.2 : 1 })),
      );
      const job: SimJob = {
        id: 'tiles',
        submitAtS: 0,
        shards: Array.from({ length: 12 }, (_, index) => ({
          job: 'tiles',
          index,
          model: 'sd15',
          workS: 10,
          requiredGb: 6,
          dependsOn: [],
        })),
      };
      const o = { learnSpeeds: true, jitter: { seed, sigma: 0.15 } };
      const r = simulateOnCore(table, agents, [job], o);
      times.push(r.jobDoneS.get('tiles')!);
      without.push(simulateOnCore(table, agents, [job], { ...o, speculation: false }).jobDoneS.get('tiles')!);
      for (const a of r.attempts) {
        gpuS += a.endS - a.startS;
        if (a.backup) backupS += a.endS - a.startS;
      }
    }
    const pct = (xs: number[], q: number) =>
      [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.ceil(q * xs.length) - 1)];
    console.log(
      `speculation: p50 ${pct(times, 0.5).toFixed(2)} s, p99 ${pct(times, 0.99).toFixed(2)} s; without: p50 ${pct(without, 0.5).toFixed(2)} s, p99 ${pct(without, 0.99).toFixed(2)} s; backups ${((backupS / gpuS) * 100).toFixed(1)} % of GPU-seconds`,
    );
    expect(pct(times, 0.99)).toBeLessThanOrEqual(1.3 * pct(times, 0.5));
    expect(backupS).toBeLessThanOrEqual(0.1 * gpuS);
    expect(backupS).toBeGreaterThan(0);
    // Without backups the straggler holds every run back: the same bound fails.
    expect(pct(without, 0.99)).toBeGreaterThan(1.3 * pct(times, 0.5));
    expect(pct(without, 0.5)).toBeGreaterThan(pct(times, 0.5));
  });
});
