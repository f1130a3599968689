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
 */
import { copyShard, type ShardRecord } from '../model.js';
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

/** queued → leased: a new attempt, whose number is the lease's fencing token. */
export function grant(s: ShardRecord, g: GrantTo): Verdict<ShardRecord> {
  if (s.state !== 'queued') return refuse('grant', s.state);
  const next = copyShard(s);
  if (g.inputs) Object.assign(next, g.inputs);
  next.state = 'leased';
  next.attempt = s.attempt + 1;
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
 * leased → done with the attempt's output. Only the output fields are taken from `out`: a caller may
 * pass a whole result report, whose other fields (ref, ok, error, decodeChunk) are not the record's.
 */
export function commit(s: ShardRecord, out: ShardOutput): Verdict<ShardRecord> {
  if (s.state !== 'leased') return refuse('commit', s.state);
  const next = copyShard(s);
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
  return next;
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
  return { ...s, notBeforeMs: 0, ...patch, state: 'queued', reason, leasedMs: nowMs, leaseConfirmed: false };
}

/** queued | leased → failed (fatal error, attempts used up, no agent left). */
export function fail(s: ShardRecord, reason: string, patch: Partial<ShardRecord> = {}): Verdict<ShardRecord> {
  if (s.state !== 'leased' && s.state !== 'queued') return refuse('fail', s.state);
  return { ...s, ...patch, state: 'failed', reason };
}

/** done → queued: the committed output turned out missing or corrupt at assembly; run it again. */
export function reopen(s: ShardRecord, reason: string): Verdict<ShardRecord> {
  if (s.state !== 'done') return refuse('reopen', s.state);
  return { ...s, state: 'queued', reason, outputKey: '', notBeforeMs: 0 };
}

/** queued | leased → cancelled (its job was cancelled or failed). */
export function cancel(s: ShardRecord, reason: string): Verdict<ShardRecord> {
  if (s.state !== 'queued' && s.state !== 'leased') return refuse('cancel', s.state);
  return { ...s, state: 'cancelled', reason };
}

/** queued → queued with its input (a refine tile, once the upscaled image exists). */
export function provideInput(s: ShardRecord, key: string, sha256: string): Verdict<ShardRecord> {
  if (s.state !== 'queued') return refuse('provide the input of', s.state);
  return { ...s, inputKey: key, inputSha256: sha256 };
}

/** The fields that say who holds or committed a shard. */
export type LeaseHolder = Pick<ShardRecord, 'state' | 'attempt' | 'agentId'>;

/** True when `token` and `agentId` name the shard's current lease. */
export function holdsLease(s: LeaseHolder, token: number, agentId: string): boolean {
  return s.state === 'leased' && s.attempt === token && s.agentId === agentId;
}

/** True when the shard committed exactly this attempt of this agent (a repeated report). */
export function committedBy(s: LeaseHolder, token: number, agentId: string): boolean {
  return s.state === 'done' && s.attempt === token && s.agentId === agentId;
}
