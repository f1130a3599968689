/**
 * Dispatch: work requests park here until the core's dispatch pass gives them a shard (or their
 * wait ends); a grant is one compare-and-set of the shard record, answered with the lease.
 */
import { AgentState, type AgentAdvert, type Lease, type WorkGrant, type WorkRequest } from '@tessera/protocol';
import { isRefusal } from '../core/verdict.js';
import * as jobVerbs from '../core/job.js';
import * as shardVerbs from '../core/shard.js';
import type { Timer } from '../clock.js';
import { leaseInputs, taskFor } from '../kinds/index.js';
import { FINAL_JOB_STATES, shardKey, type JobRecord, type ShardRecord } from '../model.js';
import type { IdleAgent } from '../scheduler.js';
import { modelRank } from '../model-routing.js';
import { shardWork } from '../placement/cost.js';
import type { ShellContext } from './context.js';

/** An agent slot's outstanding work request. */
export interface Parked extends IdleAgent {
  advert: AgentAdvert;
  resolve: (grant: WorkGrant) => void;
  timer: Timer;
  /** When the request arrived. */
  arrivedMs: number;
  /** Chosen by the pass its own arrival ran: it found work waiting (its grant latency is measured). */
  immediate?: boolean;
}

const NO_WORK: WorkGrant = { lease: undefined };

export class Dispatcher {
  private parked: Parked[] = [];
  private parkSeq = 0;
  private pumping = false;
  private pumpAgain = false;
  /** The request whose arrival runs the current pass. */
  private arriving: Parked | undefined;
  stopped = false;

  constructor(private readonly x: ShellContext) {}

  /** Work requests waiting for a shard. */
  get parkedCount(): number {
    return this.parked.length;
  }

  /** A work request: answered at once with a lease, or parked until work arrives or wait_ms passes. */
  request(req: WorkRequest & { advert: AgentAdvert }, classGb: number): Promise<WorkGrant> {
    const { advert } = req;
    if (this.stopped || advert.state === AgentState.AGENT_STATE_DRAINING) return Promise.resolve(NO_WORK);
    // One outstanding request per agent slot: a newer one replaces the older.
    this.unpark(advert.agentId);
    const waitMs = Math.min(Math.max(req.waitMs, 0), 30_000);
    return new Promise<WorkGrant>((resolve) => {
      const parked: Parked = {
        agentId: advert.agentId,
        classGb,
        waitingSince: ++this.parkSeq,
        modelsLoaded: advert.modelsLoaded,
        name: advert.name,
        modelRank: (m) => modelRank(advert, m, this.x.d.modelCatalog), // hook(models): route by model held
        advert,
        resolve,
        timer: this.x.d.clock.after(waitMs, () => this.unpark(advert.agentId, parked)),
        arrivedMs: this.x.d.clock.now(),
      };
      this.parked.push(parked);
      this.arriving = parked;
      this.pump();
      this.arriving = undefined;
    });
  }

  /**
   * Matches queued shards to parked agents (the core's dispatch pass); re-runs itself if work
   * arrived meanwhile. A pass costs about (assignments × (owners + agents)), not the queue's length.
   */
  pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        if (this.parked.length === 0) break;
        const grants = this.x.core.handle({ type: 'idle', agents: this.parked }, this.x.d.clock.now());
        if (grants.length === 0) break;
        const chosen = new Set(grants.map((g) => (g.type === 'grant' || g.type === 'backup' ? g.agent : undefined)));
        this.parked = this.parked.filter((p) => !chosen.has(p));
        if (this.arriving && chosen.has(this.arriving)) this.arriving.immediate = true;
        this.x.perform(grants);
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
  }

  /** Grants shard `k` to the parked agent `p` (the core chose the pair). */
  async grant(k: string, p: Parked): Promise<void> {
    p.timer.cancel();
    const { d, farm, locks, writer } = this.x;
    let writeFailed = false;
    const lease = await locks
      .run(k, async () => {
        const s = farm.shard(k);
        const job = s && farm.job(s.jobId);
        if (!s || !job || FINAL_JOB_STATES.has(job.state)) return undefined;
        const now = d.clock.now();
        const dep = s.dependsOn >= 0 ? farm.shard(shardKey(job.id, s.dependsOn)) : undefined;
        const verdict = shardVerbs.grant(s, {
          agentId: p.agentId,
          agentName: p.advert.name,
          agentClassGb: p.classGb,
          nowMs: now,
          leaseMs: d.options.leaseMs,
          inputs: leaseInputs(job, s, p.classGb, dep, d.table),
        });
        if (isRefusal(verdict)) return undefined;
        const queuedSince = s.leasedMs || job.createdMs;
        const next = await writer.shard(verdict);
        if (!next) return undefined;
        d.metrics.dispatchLatency.observe((now - queuedSince) / 1000);
        if (job.state === 'queued') await writer.job(job.id, jobVerbs.start(now));
        d.events.shardChanged(farm.job(job.id)!, next);
        return this.lease(job, next, next.attempt, next.leaseExpiresMs, dep);
      })
      .catch((e) => {
        d.log.error({ err: e, shard: k }, 'lease write failed');
        writeFailed = true;
        return undefined;
      });
    if (lease) {
      if (p.immediate) d.metrics.grantLatency.observe((d.clock.now() - p.arrivedMs) / 1000);
      return p.resolve({ lease });
    }
    // The shard went away (its job ended, or a write failed). Re-queue it only if it can still
    // run, and give the agent another chance on a later turn of the event loop: re-pumping in the
    // same microtask chain could spin without ever letting I/O through.
    farm.apply({ type: 'grant_abandoned', key: k, nowMs: d.clock.now() });
    const again: Parked = {
      ...p,
      immediate: false,
      timer: d.clock.after(1000, () => this.unpark(p.agentId, again)),
    };
    this.parked.push(again);
    // After a failed write (NATS trouble) back off instead of retrying at once.
    d.clock.after(writeFailed ? 500 : 0, () => this.pump());
  }

  /**
   * Grants a backup lease of the leased shard `k` to the parked agent `p` (speculation): one
   * compare-and-set adding the backup to the record; the agent gets the shard's task with the
   * backup's own fencing token (and so its own output key).
   */
  async grantBackup(k: string, p: Parked, seconds: number): Promise<void> {
    p.timer.cancel();
    const { d, farm, locks, writer } = this.x;
    const lease = await locks
      .run(k, async () => {
        const s = farm.shard(k);
        const job = s && farm.job(s.jobId);
        if (!s || !job || FINAL_JOB_STATES.has(job.state)) return undefined;
        const now = d.clock.now();
        const g = { agentId: p.agentId, agentName: p.advert.name, agentClassGb: p.classGb, nowMs: now };
        const verdict = shardVerbs.grantBackup(s, { ...g, leaseMs: d.options.leaseMs });
        if (isRefusal(verdict)) return undefined;
        const next = await writer.shard(verdict);
        const b = next?.backup;
        if (!next || !b || b.agentId !== p.agentId) return undefined;
        d.log.info(
          { job: job.id, shard: next.index, primary: next.agentName, backup: b.agentName, attempt: b.attempt },
          'straggler backed up',
        );
        d.events.shardChanged(job, next);
        // The job record keeps what its budget spent, so a restarted coordinator does not spend it again.
        this.x.background(writer.job(job.id, jobVerbs.spendOnBackup(seconds)), 'backup budget write');
        const dep = next.dependsOn >= 0 ? farm.shard(shardKey(job.id, next.dependsOn)) : undefined;
        // What a lease fixes at grant time follows the backup's agent (e.g. its class's decode chunk).
        const own = { ...next, ...leaseInputs(job, next, p.classGb, dep, d.table) };
        return this.lease(job, own, b.attempt, b.leaseExpiresMs, dep);
      })
      .catch((e) => {
        d.log.error({ err: e, shard: k }, 'backup lease write failed');
        return undefined;
      })
      .finally(() => farm.apply({ type: 'backup_settled', key: k }));
    if (lease) return p.resolve({ lease });
    // No backup after all (the shard committed or ended meanwhile): the agent asks again later.
    p.resolve(NO_WORK);
  }

  /** The lease of attempt `token` of shard `rec` (a primary's or a backup's): its ref, expiry and task. */
  private lease(
    job: JobRecord,
    rec: ShardRecord,
    token: number,
    expiresMs: number,
    dep: ShardRecord | undefined,
  ): Lease {
    const { d } = this.x;
    return {
      ref: { jobId: job.id, shardIndex: rec.index, fencingToken: token },
      expiresUnixMs: expiresMs,
      renewEveryMs: d.options.renewEveryMs,
      // hook(speed): the shard's work units by the cost model, what the agent measures its speed with
      task: { ...taskFor(job, rec, token, dep), workUnits: shardWork(d.table, job, rec).units },
    };
  }

  /** Answers an agent's parked request (the given one only, when `only` is set) with "no work". */
  unpark(agentId: string, only?: Parked): void {
    const idx = this.parked.findIndex((p) => p.agentId === agentId && (!only || p === only));
    if (idx < 0) return;
    const [p] = this.parked.splice(idx, 1);
    p.timer.cancel();
    p.resolve(NO_WORK);
  }

  /** Answers every parked request with "no work"; nothing is dispatched any more. */
  stop(): void {
    this.stopped = true;
    for (const p of this.parked.splice(0)) {
      p.timer.cancel();
      p.resolve(NO_WORK);
    }
  }
}
