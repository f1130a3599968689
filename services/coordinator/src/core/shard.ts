/**
 * The shard state machine: a closed union of states and one verb per transition. Every verb is a
 * pure function from the current record to the next one, or a refusal when the record is not in a
 * state the verb applies to. Nothing here writes: the shell persists the result with a revision
 * check, then hands it to `FarmState.apply`. The hot verbs (grant, commit) copy by `copyShard`, which
 * gives every record one hidden class; the others spread.
 *
 *   queued ──grant──▶ leased ──commit──▶ done
 *     ▲                │  │                │
 *     └───requeue──────┘  └─fail─▶ failed  │
 *     ▲                                    │
 *     └────────────reopen (corrupt output)─┘
 *   queued | leased ──cancel──▶ cancelled
 *
 * Speculation: a leased shard may get one backup (`grantBackup`), a second lease on another agent
 * with its own, higher fencing token. Either holder may commit (the first wins); `dropAttempt` ends
 * one of the two without requeueing the shard (a surviving backup becomes the shard's attempt).
 * Every verb that leaves `leased` ends the backup too.
 */
import { copyShard, type BackupLease, type ShardRecord } from '../model.js';
import { refuse, type Verdict } from './verdict.js';

/** Who a lease goes to, and what the lease fixes at grant time (per kind: inputs, decode chunk). */
export interface GrantTo {
  agentId: string;
  agentName: string;
  agentClassGb: number;
  nowMs: number;
  leaseMs: number;
  /** Fields a kind fixes at grant time (see kinds/*.ts `leaseInputs`). */
  inputs?: Partial<ShardRecord>;
}

/** The next fencing token of a shard: above every token issued to it (backups' included). */
export function nextToken(s: Pick<ShardRecord, 'attempt' | 'lastToken'>): number {
  return Math.max(s.attempt, s.lastToken ?? 0) + 1;
}

/** queued → leased: a new attempt, whose number is the lease's fencing token. */
export function grant(s: ShardRecord, g: GrantTo): Verdict<ShardRecord> {
  if (s.state !== 'queued') return refuse('grant', s.state);
  const next = copyShard(s);
  if (g.inputs) Object.assign(next, g.inputs);
  next.state = 'leased';
  next.backup = undefined;
  next.attempt = nextToken(s);
  next.agentId = g.agentId;
  next.agentName = g.agentName;
  next.agentClassGb = g.agentClassGb;
  next.leasedMs = g.nowMs;
  next.leaseExpiresMs = g.nowMs + g.leaseMs;
  next.leaseConfirmed = false;
  next.reason = '';
  return next;
}

/** What an agent reports with a successful attempt. */
export type ShardOutput = Pick<
  ShardRecord,
  | 'outputKey'
  | 'outputSha256'
  | 'outputBytes'
  | 'outputWidth'
  | 'outputHeight'
  | 'outputFrames'
  | 'outputChannels'
  | 'runSeconds'
>;

/**
 * leased → leased with a backup: a second lease of the shard on another agent, with the next
 * fencing token; the primary's lease stays valid. One backup per shard.
 */
export function grantBackup(s: ShardRecord, g: GrantTo): Verdict<ShardRecord> {
  if (s.state !== 'leased') return refuse('back up', s.state);
  if (s.backup) return { refused: 'cannot back up a shard that has a backup' };
  if (s.agentId === g.agentId) return { refused: 'cannot back up a shard on its own agent' };
  const attempt = nextToken(s);
  const backup: BackupLease = {
    attempt,
    agentId: g.agentId,
    agentName: g.agentName,
    agentClassGb: g.agentClassGb,
    leasedMs: g.nowMs,
    leaseExpiresMs: g.nowMs + g.leaseMs,
    leaseConfirmed: false,
  };
  return { ...s, backup, lastToken: attempt };
}

/** The backup's lease in the primary's fields (what the shard looks like once the backup alone runs). */
function promote(s: ShardRecord, b: BackupLease): ShardRecord {
  return {
    ...s,
    attempt: b.attempt,
    agentId: b.agentId,
    agentName: b.agentName,
    agentClassGb: b.agentClassGb,
    leasedMs: b.leasedMs,
    leaseExpiresMs: b.leaseExpiresMs,
    leaseConfirmed: b.leaseConfirmed,
    backup: undefined,
  };
}

/**
 * leased → done with the attempt's output. `token` names the committing attempt (default the
 * primary's): when it is the backup's, the backup's agent and token become the record's. Only the
 * output fields are taken from `out`: a caller may pass a whole result report, whose other fields
 * (ref, ok, error, decodeChunk) are not the record's.
 */
export function commit(s: ShardRecord, out: ShardOutput, token = s.attempt): Verdict<ShardRecord> {
  if (s.state !== 'leased') return refuse('commit', s.state);
  const won = s.backup && s.backup.attempt === token ? promote(s, s.backup) : s;
  if (won.attempt !== token) return { refused: `cannot commit attempt ${token}: it holds no lease` };
  const next = copyShard(won);
  next.outputKey = out.outputKey;
  next.outputSha256 = out.outputSha256;
  next.outputBytes = out.outputBytes;
  next.outputWidth = out.outputWidth;
  next.outputHeight = out.outputHeight;
  next.outputFrames = out.outputFrames;
  next.outputChannels = out.outputChannels;
  next.runSeconds = out.runSeconds;
  next.state = 'done';
  next.reason = '';
  next.backup = undefined;
  return next;
}

/**
 * leased (with a backup) → leased: ends attempt `token` alone (failed, lost, timed out, or it lost
 * the race): the backup is dropped, or, when the primary ends, the backup becomes the shard's attempt.
 */
export function dropAttempt(s: ShardRecord, token: number, reason: string): Verdict<ShardRecord> {
  if (s.state !== 'leased') return refuse('drop an attempt of', s.state);
  const b = s.backup;
  if (!b) return { refused: 'cannot drop the only attempt of a shard' };
  if (token === b.attempt) return { ...s, backup: undefined };
  if (token === s.attempt) return { ...promote(s, b), reason };
  return { refused: `cannot drop attempt ${token}: it holds no lease` };
}

/**
 * leased → queued (lost lease, lost agent, timeout, retryable failure). `patch` carries what the
 * failure policy decided (class bump, agents to avoid, backoff); the backoff is cleared otherwise.
 */
export function requeue(
  s: ShardRecord,
  reason: string,
  nowMs: number,
  patch: Partial<ShardRecord> = {},
): Verdict<ShardRecord> {
  if (s.state !== 'leased') return refuse('requeue', s.state);
  return {
    ...s,
    notBeforeMs: 0,
    ...patch,
    state: 'queued',
    reason,
    leasedMs: nowMs,
    leaseConfirmed: false,
    backup: undefined,
  };
}

/** queued | leased → failed (fatal error, attempts used up, no agent left). */
export function fail(s: ShardRecord, reason: string, patch: Partial<ShardRecord> = {}): Verdict<ShardRecord> {
  if (s.state !== 'leased' && s.state !== 'queued') return refuse('fail', s.state);
  return { ...s, ...patch, state: 'failed', reason, backup: undefined };
}

/** done → queued: the committed output turned out missing or corrupt at assembly; run it again. */
export function reopen(s: ShardRecord, reason: string): Verdict<ShardRecord> {
  if (s.state !== 'done') return refuse('reopen', s.state);
  return { ...s, state: 'queued', reason, outputKey: '', notBeforeMs: 0 };
}

/** queued | leased → cancelled (its job was cancelled or failed). */
export function cancel(s: ShardRecord, reason: string): Verdict<ShardRecord> {
  if (s.state !== 'queued' && s.state !== 'leased') return refuse('cancel', s.state);
  return { ...s, state: 'cancelled', reason, backup: undefined };
}

/** queued → queued with its input (a refine tile, once the upscaled image exists). */
export function provideInput(s: ShardRecord, key: string, sha256: string): Verdict<ShardRecord> {
  if (s.state !== 'queued') return refuse('provide the input of', s.state);
  return { ...s, inputKey: key, inputSha256: sha256 };
}

/** The fields that say who holds or committed a shard. */
export type LeaseHolder = Pick<ShardRecord, 'state' | 'attempt' | 'agentId'> & { backup?: BackupLease };

/** True when `token` and `agentId` name one of the shard's current leases (the primary's or its backup's). */
export function holdsLease(s: LeaseHolder, token: number, agentId: string): boolean {
  if (s.state !== 'leased') return false;
  if (s.attempt === token && s.agentId === agentId) return true;
  return s.backup !== undefined && s.backup.attempt === token && s.backup.agentId === agentId;
}

/** One lease of a leased shard, the primary's or the backup's, in the same shape. */
export type LeaseView = BackupLease & { isBackup: boolean };

/** The lease `agentId` holds on the shard, if any. */
export function leaseOf(s: ShardRecord, agentId: string): LeaseView | undefined {
  if (s.state !== 'leased') return undefined;
  if (s.agentId === agentId) return primaryLease(s);
  if (s.backup?.agentId === agentId) return { ...s.backup, isBackup: true };
  return undefined;
}

/** The primary lease of a leased shard. */
export function primaryLease(s: ShardRecord): LeaseView {
  const { attempt, agentId, agentName, agentClassGb, leasedMs, leaseExpiresMs, leaseConfirmed } = s;
  return { attempt, agentId, agentName, agentClassGb, leasedMs, leaseExpiresMs, leaseConfirmed, isBackup: false };
}

/** True when the shard committed exactly this attempt of this agent (a repeated report). */
export function committedBy(s: LeaseHolder, token: number, agentId: string): boolean {
  return s.state === 'done' && s.attempt === token && s.agentId === agentId;
}
