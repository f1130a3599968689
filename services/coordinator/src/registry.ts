/**
 * The fleet as seen from heartbeats and work requests: one entry per agent slot. Pure state with
 * an injected clock; the coordinator decides what to do when an agent goes silent.
 */
import type { AgentAdvert } from '@tessera/protocol';

export type AgentLiveness = 'live' | 'lost';

export interface AgentEntry {
  advert: AgentAdvert;
  classGb: number;
  lastSeenMs: number;
  liveness: AgentLiveness;
  /** Shard keys this agent holds leases on (maintained by the coordinator). */
  leases: Set<string>;
  lostSinceMs: number;
}

export class AgentRegistry {
  private readonly agents = new Map<string, AgentEntry>();

  constructor(
    private readonly classOf: (advert: AgentAdvert) => number,
    /** Most agent slots remembered; any well-formed advert registers one, so this bounds memory. */
    private readonly maxAgents = 10_000,
  ) {}

  /**
   * True when `agentId` is known or there is room for it. When full, the longest-lost agent without
   * leases is forgotten to make room; false when every entry is live or holds leases (a flood of
   * forged adverts cannot push out real agents).
   */
  hasRoomFor(agentId: string): boolean {
    if (this.agents.has(agentId) || this.agents.size < this.maxAgents) return true;
    let victim: AgentEntry | undefined;
    for (const a of this.agents.values())
      if (a.liveness === 'lost' && a.leases.size === 0 && (!victim || a.lostSinceMs < victim.lostSinceMs)) victim = a;
    if (!victim) return false;
    this.agents.delete(victim.advert.agentId);
    return true;
  }

  get size(): number {
    return this.agents.size;
  }

  /** Records a sign of life. Returns true when the agent is new or came back from lost. */
  seen(advert: AgentAdvert, nowMs: number): boolean {
    const cur = this.agents.get(advert.agentId);
    if (!cur) {
      this.agents.set(advert.agentId, {
        advert,
        classGb: this.classOf(advert),
        lastSeenMs: nowMs,
        liveness: 'live',
        leases: new Set(),
        lostSinceMs: 0,
      });
      return true;
    }
    const revived = cur.liveness === 'lost';
    cur.advert = advert;
    cur.classGb = this.classOf(advert);
    cur.lastSeenMs = nowMs;
    cur.liveness = 'live';
    cur.lostSinceMs = 0;
    return revived;
  }

  get(agentId: string): AgentEntry | undefined {
    return this.agents.get(agentId);
  }

  /** Marks agents silent for longer than `silenceMs` as lost and returns them. */
  sweep(nowMs: number, silenceMs: number, forgetAfterMs = 600_000): AgentEntry[] {
    const lost: AgentEntry[] = [];
    // Values, not entries: the sweeper runs every few hundred ms over every agent (the key is the advert's id).
    for (const a of this.agents.values()) {
      if (a.liveness === 'live' && nowMs - a.lastSeenMs > silenceMs) {
        a.liveness = 'lost';
        a.lostSinceMs = nowMs;
        lost.push(a);
      } else if (a.liveness === 'lost' && a.leases.size === 0 && nowMs - a.lostSinceMs > forgetAfterMs) {
        this.agents.delete(a.advert.agentId);
      }
    }
    return lost;
  }

  /** Removes an agent at once (it said goodbye). */
  forget(agentId: string): AgentEntry | undefined {
    const a = this.agents.get(agentId);
    this.agents.delete(agentId);
    return a;
  }

  all(): AgentEntry[] {
    return [...this.agents.values()];
  }

  live(): AgentEntry[] {
    return this.all().filter((a) => a.liveness === 'live');
  }
}
