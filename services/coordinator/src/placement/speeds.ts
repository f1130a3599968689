/**
 * Agent speeds as the coordinator sees them: an agent's advertised measurement for a model (work units
 * per second) turned into a speed relative to the cost table, or, until it has one, the table's default
 * speed for its VRAM class. Pure.
 */
import { defaultSpeed, type HardwareTable } from '@tessera/hardware';
import type { ModelSpeed } from '@tessera/protocol';
import { fleetTilingAgents } from '@tessera/tiling';

/** Where a speed comes from: the agent's own measurement or the table's default for its class. */
export type SpeedSource = 'measured' | 'table';

export interface AgentSpeed {
  /** Work per second relative to the cost table (1.0 = seconds_per_unit as written); > 0. */
  speed: number;
  source: SpeedSource;
}

/**
 * Speed of an agent of class `classGb` advertising `measured` on `model`: units per second ×
 * the model's seconds_per_unit when it has measured the model (and the row has a cost), else the
 * table's default for the class.
 */
export function agentSpeed(
  table: HardwareTable,
  classGb: number,
  measured: readonly ModelSpeed[] | undefined,
  model: string,
): AgentSpeed {
  const spu = table.models.get(model)?.secondsPerUnit;
  const m = measured?.find((x) => x.model === model);
  if (m && spu !== undefined && m.unitsPerSecond > 0 && Number.isFinite(m.unitsPerSecond)) {
    return { speed: m.unitsPerSecond * spu, source: 'measured' };
  }
  return { speed: defaultSpeed(table, classGb), source: 'table' };
}

/** One row of `tessera_agent_speed`. */
export interface SpeedSample {
  agent: string;
  model: string;
  source: SpeedSource;
  speed: number;
}

/**
 * What `tessera_agent_speed` shows for one agent: each measured model (source "measured") and its
 * class default (model "*", source "table"), which every model it has not measured gets.
 */
export function speedSamples(
  table: HardwareTable,
  agent: { name: string; classGb: number; modelSpeeds?: readonly ModelSpeed[] },
): SpeedSample[] {
  const out: SpeedSample[] = [
    { agent: agent.name, model: '*', source: 'table', speed: defaultSpeed(table, agent.classGb) },
  ];
  for (const m of agent.modelSpeeds ?? []) {
    const s = agentSpeed(table, agent.classGb, agent.modelSpeeds, m.model);
    if (s.source === 'measured') out.push({ agent: agent.name, model: m.model, source: 'measured', speed: s.speed });
  }
  return out;
}

/**
 * How many equal agents the live fleet counts as for a tiled job of `model` (`fleetTilingAgents` over
 * each agent's speed on it): a mixed-speed fleet gets enough tiles to balance, an equal one its size.
 */
export function tilingAgentsFor(
  table: HardwareTable,
  agents: readonly { classGb: number; advert: { modelSpeeds: readonly ModelSpeed[] } }[],
  model: string,
): number {
  return fleetTilingAgents(agents.map((a) => agentSpeed(table, a.classGb, a.advert.modelSpeeds, model).speed));
}
