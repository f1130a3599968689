/**
 * Coordinator fail-over: one leader at a time, chosen by a lease record in the JetStream KV state
 * bucket (key `leader`). Every replica serves gRPC; only the leader runs the core (dispatch, agent
 * protocol, sweeps, assembly). Standbys forward API calls to the leader and take over when its
 * lease lapses.
 *
 * The lease works with nothing but compare-and-set on one key and each replica's own monotonic
 * clock, so clocks need not agree:
 * - the leader rewrites the record every `renewEveryMs`, each write conditioned on the revision it
 *   wrote last; a write that loses the compare means another replica took over: it steps down;
 * - a standby reads the record every `pollEveryMs` and notes, on its own clock, when the revision
 *   last changed; once it has not changed for `leaseMs`, it writes itself in, conditioned on the
 *   revision it read (so of several standbys exactly one wins);
 * - the leader counts itself leader only while its last successful renewal was sent less than
 *   `fenceMs` (3/4 of the lease) ago; state writes are refused beyond that (FencedStateStore). A
 *   standby waits a full lease after it last saw a renewal, so the old leader has stopped writing
 *   before the new one starts, even when the old one is only paused (GC, a stalled event loop),
 *   not dead.
 *
 * A graceful stop empties the record (compare-and-set again; the term stays), so a standby takes
 * over at its next poll instead of after a lease.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { KV } from '@nats-io/kv';
import type { Logger } from 'pino';

export const LEADER_KEY = 'leader';

/** What the leader writes into its lease. */
export interface LeaderRecord {
  /** Replica id (unique per process). */
  id: string;
  /** gRPC address other replicas forward API calls to. */
  grpcAddr: string;
  /** Increases by one at every change of leader. */
  term: number;
  /** Wall-clock time of the renewal (for humans; the lease never compares clocks). */
  renewedUnixMs: number;
}

export interface LeaderLeaseOptions {
  id: string;
  grpcAddr: string;
  leaseMs: number;
  /** Monotonic milliseconds (performance.now in production). */
  now?: () => number;
}

export interface LeaderLeaseEvents {
  /** This replica became leader (term given). Resolve when it is serving. */
  elected(rec: LeaderRecord): Promise<void>;
  /** This replica lost the lease (another took over, or it could not renew). */
  lost(reason: string): void;
  /** The leader this replica knows of changed (any replica, this one included). */
  leaderChanged?(rec: LeaderRecord | undefined): void;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A replica id: host, process and a random part, so two replicas on one host never clash. */
export function newReplicaId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

function isCompareFailure(e: unknown): boolean {
  const msg = e instanceof Error ? `${e.message} ${String((e as { cause?: unknown }).cause ?? '')}` : String(e);
  return /wrong last sequence|key exists|10071/i.test(msg);
}

export class LeaderLease {
  readonly renewEveryMs: number;
  readonly pollEveryMs: number;
  readonly fenceMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private busy = false;
  /** Revision of the record as last written (leader) or read (standby). */
  private revision = 0;
  private leading = false;
  /** Local time at which the last successful renewal was sent. */
  private renewedAt = 0;
  /** Local time at which a standby last saw the record change. */
  private changedAt = 0;
  private known: LeaderRecord | undefined;
  private term = 0;
  /** Highest term seen in the record. */
  private maxTerm = 0;

  constructor(
    private readonly kv: KV,
    private readonly o: LeaderLeaseOptions,
    private readonly events: LeaderLeaseEvents,
    private readonly log: Logger,
  ) {
    this.renewEveryMs = Math.max(50, Math.floor(o.leaseMs / 5));
    this.pollEveryMs = Math.max(50, Math.floor(o.leaseMs / 10));
    this.fenceMs = Math.floor((o.leaseMs * 3) / 4);
    this.now = o.now ?? (() => performance.now());
  }

  /** True while this replica holds a lease renewed recently enough to act on it. */
  isLeader(): boolean {
    return this.leading && this.now() - this.renewedAt < this.fenceMs;
  }

  /** The leader as last seen (this replica when it leads). */
  leader(): LeaderRecord | undefined {
    return this.known;
  }

  /** Starts campaigning: the first attempt runs at once. */
  start(): void {
    this.schedule(0);
  }

  /** Stops the loop; a leader empties its record so a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    try {
      // A vacant record (no id) that keeps the term, so terms only ever grow.
      const vacant: LeaderRecord = { id: '', grpcAddr: '', term: this.term, renewedUnixMs: Date.now() };
      await this.kv.update(LEADER_KEY, enc.encode(JSON.stringify(vacant)), this.revision);
      this.log.info({ term: this.term }, 'leadership handed back');
    } catch (e) {
      this.log.warn(
        { err: (e as Error).message },
        'could not hand leadership back; a standby takes over when the lease lapses',
      );
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      if (this.leading) await this.renew();
      else await this.campaign();
    } finally {
      this.busy = false;
      this.schedule(this.leading ? this.renewEveryMs : this.pollEveryMs);
    }
  }

  private record(term: number): LeaderRecord {
    return { id: this.o.id, grpcAddr: this.o.grpcAddr, term, renewedUnixMs: Date.now() };
  }

  private async renew(): Promise<void> {
    const sentAt = this.now();
    try {
      this.revision = await this.kv.update(
        LEADER_KEY,
        enc.encode(JSON.stringify(this.record(this.term))),
        this.revision,
      );
      this.renewedAt = sentAt;
    } catch (e) {
      if (isCompareFailure(e)) {
        this.stepDown('another replica took the leader lease');
        return;
      }
      // NATS unreachable or slow: keep trying; past fenceMs isLeader() is false and writes stop.
      const silentMs = Math.round(this.now() - this.renewedAt);
      this.log.warn({ err: (e as Error).message, silentMs }, 'leader lease renewal failed');
    }
  }

  private stepDown(reason: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.log.warn({ term: this.term, reason }, 'leadership lost');
    this.events.lost(reason);
  }

  private async campaign(): Promise<void> {
    const now = this.now();
    let entry;
    try {
      entry = await this.kv.get(LEADER_KEY);
    } catch (e) {
      this.log.debug({ err: (e as Error).message }, 'leader lease read failed');
      return;
    }
    let current: LeaderRecord | undefined;
    if (entry && entry.operation === 'PUT' && entry.value.length > 0) {
      try {
        current = JSON.parse(dec.decode(entry.value)) as LeaderRecord;
      } catch {
        current = undefined;
      }
    }
    this.maxTerm = Math.max(this.maxTerm, Number(current?.term) || 0);
    // No record, a deleted or unreadable one, or one handed back (no id): nobody leads.
    const vacant = !current?.id;
    if (vacant) current = undefined;
    if (entry && entry.revision !== this.revision) {
      // The record changed (renewal, new leader, hand-back): the lease runs from now, our clock.
      this.revision = entry.revision;
      this.changedAt = now;
      if (current?.id !== this.known?.id || current?.term !== this.known?.term) {
        this.known = current;
        this.events.leaderChanged?.(current);
      }
      if (!vacant) return;
    }
    if (!vacant && now - this.changedAt < this.o.leaseMs) return;
    const term = this.maxTerm + 1;
    const sentAt = this.now();
    try {
      const value = enc.encode(JSON.stringify(this.record(term)));
      // A record that never existed is created; one deleted or lapsed is replaced at the revision read.
      this.revision = entry
        ? await this.kv.update(LEADER_KEY, value, entry.revision)
        : await this.kv.create(LEADER_KEY, value);
    } catch (e) {
      if (!isCompareFailure(e)) this.log.warn({ err: (e as Error).message }, 'leader lease write failed');
      return;
    }
    this.term = term;
    this.leading = true;
    this.renewedAt = sentAt;
    this.known = this.record(term);
    this.events.leaderChanged?.(this.known);
    this.log.info(
      { term, previous: current?.id, lapsedMs: vacant ? 0 : Math.round(now - this.changedAt) },
      'leadership acquired',
    );
    try {
      await this.events.elected(this.known);
    } catch (e) {
      this.log.error({ err: e }, 'could not start as leader; handing the lease back');
      await this.stop();
      this.stopped = false;
    }
  }
}
