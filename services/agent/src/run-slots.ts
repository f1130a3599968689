/**
 * What every agent process does with its slots, the real agent and the load test's zero-work
 * agents alike: heartbeats for each slot, cancel notices and coordinator hellos routed to them, and
 * their work loops, with one drain that stops taking work and lets each finish or hand back.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { AgentState, CancelNotice, Heartbeat, LeaseRef, PrefetchNotice, type FarmNames } from '@tessera/protocol';
import type { Slot } from './slot.js';

export interface RunningSlots {
  /** True once `drain` began. */
  draining(): boolean;
  /** Stops taking work, announces it, waits for every slot's current shard, unsubscribes. */
  drain(): Promise<void>;
}

export function runSlots(
  nc: NatsConnection,
  names: FarmNames,
  slots: readonly Slot[],
  heartbeatMs: number,
  /** hook(models): fetch a queued job's model ahead of need (the real agent's model cache). */
  prefetch?: (model: string) => void,
): RunningSlots {
  let seq = 0;
  let draining = false;
  const beat = () => {
    for (const s of slots) {
      const hb: Heartbeat = { advert: s.advert(), leases: s.leases(), sequence: ++seq };
      try {
        nc.publish(names.heartbeat, Heartbeat.encode(hb).finish());
      } catch {
        // closed or reconnecting: the next beat goes out once connected
      }
    }
  };
  beat();
  const heartbeat = setInterval(beat, heartbeatMs);
  const cancelSub = nc.subscribe(names.cancel, {
    callback: (_e, m) => {
      try {
        const n = CancelNotice.decode(m.data);
        for (const s of slots) s.cancelJob(n.jobId);
      } catch {
        // malformed notice: ignore
      }
    },
  });
  // A queued job's model: fetched now if a slot of a fitting class is idle (it is likely to run it).
  const prefetchSub = nc.subscribe(names.prefetch, {
    callback: (_e, m) => {
      if (!prefetch || draining) return;
      try {
        const n = PrefetchNotice.decode(m.data);
        const idleFit = slots.some((s) => {
          const a = s.advert();
          return a.state === AgentState.AGENT_STATE_IDLE && a.vramUsableGb >= n.requiredClassGb;
        });
        if (idleFit && n.model) prefetch(n.model);
      } catch {
        // malformed notice: ignore
      }
    },
  });
  // One attempt of a shard cancelled (it lost a speculative race): only the slot running it stops.
  const attemptSub = nc.subscribe(names.cancelAttempt, {
    callback: (_e, m) => {
      try {
        const ref = LeaseRef.decode(m.data);
        for (const s of slots) s.cancelAttempt(ref);
      } catch {
        // malformed notice: ignore
      }
    },
  });
  const helloSub = nc.subscribe(names.hello, { callback: () => slots.forEach((s) => s.kick()) });
  // One signal per slot: a hundred slots listening on one signal would trip Node's listener warning.
  const stops = slots.map(() => new AbortController());
  const loops = slots.map((s, i) => s.run(stops[i].signal));
  return {
    draining: () => draining,
    async drain() {
      draining = true;
      for (const s of stops) s.abort();
      beat();
      await Promise.all(loops);
      clearInterval(heartbeat);
      cancelSub.unsubscribe();
      prefetchSub.unsubscribe();
      attemptSub.unsubscribe();
      helloSub.unsubscribe();
    },
  };
}
