/**
 * Which live agents hold which models, from their heartbeats' adverts (`models_held`). Every replica
 * keeps its own view (a standby answers `ListModels` too), so this listens to heartbeats itself
 * rather than asking the leader's registry. The bookkeeping is pure; `watchModelHolders` is the I/O.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { Heartbeat, type AgentAdvert, type FarmNames } from '@tessera/protocol';

/** One agent slot holding a model. */
export interface Holder {
  agent: string;
  /** The store digest it holds; '' for a hand-provisioned directory. */
  digest: string;
}

/** Adverts seen lately, forgotten `ttlMs` after an agent's last heartbeat. Pure (time passed in). */
export class ModelHolders {
  private readonly seen = new Map<string, { advert: AgentAdvert; atMs: number }>();
  constructor(private readonly ttlMs: number) {}

  /** Records an advert seen at `nowMs`. */
  observe(advert: AgentAdvert, nowMs: number): void {
    this.seen.set(advert.agentId, { advert, atMs: nowMs });
  }

  /** model id → the agents (by name, sorted) that advertised it within the ttl. */
  holders(nowMs: number): Map<string, Holder[]> {
    const out = new Map<string, Holder[]>();
    for (const [id, s] of this.seen) {
      if (nowMs - s.atMs > this.ttlMs) {
        this.seen.delete(id);
        continue;
      }
      for (const m of s.advert.modelsHeld) {
        const list = out.get(m.id) ?? [];
        list.push({ agent: s.advert.name, digest: m.digest });
        out.set(m.id, list);
      }
    }
    for (const list of out.values()) list.sort((a, b) => (a.agent < b.agent ? -1 : a.agent > b.agent ? 1 : 0));
    return out;
  }
}

/** Subscribes to heartbeats and keeps a ModelHolders current. */
export function watchModelHolders(
  nc: NatsConnection,
  names: FarmNames,
  now: () => number = Date.now,
  ttlMs = 30_000,
): { holders(): Map<string, Holder[]>; stop(): void } {
  const h = new ModelHolders(ttlMs);
  const sub = nc.subscribe(names.heartbeat, {
    callback: (_e, m) => {
      try {
        const advert = Heartbeat.decode(m.data).advert;
        if (advert) h.observe(advert, now());
      } catch {
        // a malformed heartbeat: the coordinator's own handler logs it
      }
    },
  });
  return { holders: () => h.holders(now()), stop: () => sub.unsubscribe() };
}
