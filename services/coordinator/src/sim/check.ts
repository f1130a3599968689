/**
 * Validity of a plan's schedule, checked from the report alone (what an independent checker reads):
 * no agent runs two attempts at once; each attempt on an agent whose class fits; dependencies and
 * submit times respected; each completed attempt lasts work_s / speed; each shard completes once.
 * Returns the problems found (empty = valid). Pure.
 */
import { usableVramGb, vramClassOf, type HardwareTable } from '@tessera/hardware';
import { speedOf } from './expand.js';
import type { PlanReport } from './plan.js';

const TOL = 1e-5;

export function checkSchedule(table: HardwareTable, p: PlanReport): string[] {
  const problems: string[] = [];
  const agents = new Map(p.agents.map((a) => [a.name, a]));
  const done = new Map<string, number>();
  for (const a of p.schedule) {
    if (a.cancelled) continue;
    const k = `${a.job}/${a.shard}`;
    if (done.has(k)) problems.push(`${k} completed twice`);
    done.set(k, a.end_s);
  }
  const byAgent = new Map<string, PlanReport['schedule']>();
  for (const a of p.schedule) {
    const k = `${a.job}/${a.shard}`;
    const agent = agents.get(a.agent);
    if (!agent) {
      problems.push(`${k} ran on unknown agent ${a.agent}`);
      continue;
    }
    byAgent.set(a.agent, [...(byAgent.get(a.agent) ?? []), a]);
    if (vramClassOf(table, usableVramGb(table, agent.vram_gb)) < a.required_gb)
      problems.push(`${k} needs ${a.required_gb} GB but ran on ${a.agent} (${agent.vram_gb} GB)`);
    if (a.start_s < a.submit_at_s - TOL)
      problems.push(`${k} started at ${a.start_s} before its submission ${a.submit_at_s}`);
    for (const d of a.depends_on) {
      const end = done.get(d);
      if (end === undefined) problems.push(`${k} depends on ${d}, which never completed`);
      else if (a.start_s < end - TOL) problems.push(`${k} started at ${a.start_s} before ${d} ended at ${end}`);
    }
    const want = a.work_s / speedOf({ speedSpec: agent.speed }, a.model);
    const took = a.end_s - a.start_s;
    if (a.cancelled ? took > want + TOL : Math.abs(took - want) > TOL * Math.max(1, want))
      problems.push(`${k} on ${a.agent} took ${took} s, work_s / speed = ${want} s`);
  }
  for (const [name, list] of byAgent) {
    const sorted = [...list].sort((a, b) => a.start_s - b.start_s);
    for (let i = 1; i < sorted.length; i++)
      if (sorted[i].start_s < sorted[i - 1].end_s - TOL)
        problems.push(
          `${name} runs ${sorted[i - 1].job}/${sorted[i - 1].shard} and ${sorted[i].job}/${sorted[i].shard} at once`,
        );
  }
  return problems;
}
