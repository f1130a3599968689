/** Performs the farm core's effects, in order: the one place where a decision meets I/O. */
import { classLabel } from '@tessera/hardware';
import type { Effect } from '../core/core.js';
import type { ShellContext } from './context.js';
import type { Dispatcher, Parked } from './dispatch.js';
import type { Lifecycle } from './lifecycle.js';
import type { Results } from './results.js';

export class EffectRunner {
  private agentsRefused = 0;
  private lastRefusalLogMs = -Infinity;

  constructor(
    private readonly x: Pick<ShellContext, 'd' | 'farm' | 'background'>,
    private readonly parts: { dispatch: Dispatcher; results: Results; life: Lifecycle },
  ) {}

  perform(effects: readonly Effect<Parked>[]): void {
    const { d, background } = this.x;
    const { dispatch, results, life } = this.parts;
    for (const e of effects) {
      switch (e.type) {
        case 'pump':
          if (this.x.farm.online) dispatch.pump();
          break;
        case 'grant':
          void dispatch.grant(e.key, e.agent);
          break;
        case 'backup':
          void dispatch.grantBackup(e.key, e.agent, e.seconds);
          break;
        case 'requeue':
          background(results.requeue(e.key, e.attempt, e.reason, e.metric), 'requeue');
          break;
        case 'unpark':
          dispatch.unpark(e.agentId);
          break;
        case 'agent_joined':
          d.log.info({ agent: e.agent.advert.name, class: classLabel(e.agent.classGb) }, 'agent joined');
          break;
        case 'agent_lost':
          d.log.warn({ agent: e.agent.advert.name, leases: e.agent.leases.size, silentMs: e.silentMs }, 'agent lost');
          break;
        case 'agent_refused':
          this.agentsRefused++;
          // A warning at most once a minute.
          if (d.clock.now() - this.lastRefusalLogMs > 60_000) {
            this.lastRefusalLogMs = d.clock.now();
            const fields = { agent: e.advert.name, limit: d.options.maxAgents, refusedSoFar: this.agentsRefused };
            d.log.warn(fields, 'agent registry full (--max-agents): adverts of new agents are ignored');
          }
          break;
        case 'expire':
          background(life.expire(e.jobIds), 'retention');
          break;
        case 'assemble':
          life.assemble(e.jobId);
          break;
        case 'prepare_refine':
          life.prepareRefine(e.jobId);
          break;
        case 'renewal_reply':
          // Returned to the caller by Coordinator.renewLease.
          break;
      }
    }
  }
}
