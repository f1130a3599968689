/**
 * Coordinator options: raw (all optional, documented defaults) → compiled (validated, filled,
 * units in the name). Every option also reads an environment variable in the CLI.
 */
import { tmpdir } from 'node:os';
import { newReplicaId } from './leader.js';
import type { ShardKind } from './model.js';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { loadApiUsers, type ApiUser } from './auth.js';
import { SPECULATION_DEFAULTS, type SpeculationOptions } from './placement/speculate.js';

export interface CoordinatorOptions {
  /** NATS server URL(s), comma-separated. Default nats://127.0.0.1:4222. */
  natsUrl?: string;
  /** gRPC listen address. Default 0.0.0.0:50051. */
  grpcAddr?: string;
  /** HTTP address for /metrics, /healthz, /readyz. Default 0.0.0.0:9464. Empty disables. */
  metricsAddr?: string;
  /** HTTP address of the web console (static assets, JSON API, event stream). Default empty: off. */
  consoleAddr?: string;
  /** Hardware table file; default the bundled one. */
  hardwareTable?: string;
  /** Subject/bucket prefix; lets several farms share one NATS account. Default "tessera". */
  farm?: string;
  /** Lease length; agents renew every leaseMs/4. Default 20 s. */
  leaseMs?: number;
  /** An agent silent this long is lost and its leases are requeued. Default 10 s. */
  agentSilenceMs?: number;
  /** Leases a shard may get before its job fails. Default 5. */
  maxAttempts?: number;
  /** Largest encoded input accepted. Default 64 MiB. */
  maxInputBytes?: number;
  /** Largest input image in pixels. Default 64 megapixels. */
  maxInputPixels?: number;
  /** Largest output image in pixels. Default 1 gigapixel. */
  maxOutputPixels?: number;
  /**
   * Folder for the spool files of streamed assemblies (large outputs are blended to disk, then encoded;
   * needs ≈ 3 bytes per output pixel plus the encoded file while a job assembles). Default: the OS temp folder.
   */
  assemblyDir?: string;
  /** Most frames in a video job. Default 2,000. */
  maxFrames?: number;
  /** Most shards waiting in the farm before submissions are refused. Default 200,000. */
  maxQueuedShards?: number;
  /** How often leases and agents are checked. Default 250 ms. */
  sweepEveryMs?: number;
  /** A shard running longer than this is taken back and run again elsewhere. Default 1 h. */
  maxShardRuntimeMs?: number;
  /** A shard whose engine progress has not moved for this long is taken back. Default 10 min. */
  noProgressMs?: number;
  /** A lease its agent has not confirmed (renewal or heartbeat) this long after the grant is taken back. Default 30 s. */
  startTimeoutMs?: number;
  /**
   * Per shard kind overrides of the three timeouts, e.g. "svd_batch.runtime=2h,upscale_tile.stall=2m,
   * sd_stage.start=1m" (kinds: upscale_tile, upscale_frames, svd_batch, sd_stage; units ms, s, m, h).
   */
  shardTimeouts?: string;
  /**
   * Bearer tokens accepted on the gRPC API, comma-separated: `user:token` names the user, a bare
   * `token` is user "default". Empty (and no file) = no authentication.
   */
  apiTokens?: string;
  /** File of more tokens, one `user token` or `user:token` a line (`#` comments); keeps them off the command line. */
  apiTokensFile?: string;
  /** PEM certificate (chain) and key of the gRPC server: set both to serve TLS. */
  tlsCert?: string;
  tlsKey?: string;
  /** PEM CA bundle: require client certificates signed by it (mutual TLS); needs tlsCert/tlsKey. */
  tlsClientCa?: string;
  /** Most unfinished jobs one user may have. Default 0 = unlimited. */
  maxJobsPerUser?: number;
  /** Most queued shards one user may have. Default 0 = unlimited. */
  maxQueuedShardsPerUser?: number;
  /** Finished jobs and their blobs are deleted after this long. Default 24 h; 0 keeps forever. */
  retentionMs?: number;
  /** Most agent slots the coordinator remembers (live, or lost within 10 min). Default 10,000. */
  maxAgents?: number;
  /** Leader lease: a standby takes over once the leader has not renewed for this long. Default 5 s. */
  leaderLeaseMs?: number;
  /** This replica's id in the leader lease. Default host-pid-random (unique per process). */
  replicaId?: string;
  /** host:port other replicas forward gRPC calls to. Default: the listen address (the host name for 0.0.0.0). */
  advertiseAddr?: string;
  /** Fair-share weights per user, `alice=2,bob=1`; unlisted users (and anonymous, '') weigh 1. */
  userWeights?: string;
  /** An agent whose attempts fail on one job this many times gets no more of its shards. Default 3; 0 = never. */
  blocklistAfter?: number;
  /** A failed attempt waits this long before it runs again, doubling per attempt. Default 1 s; 0 = at once. */
  retryBackoffMs?: number;
  /** Cap of the retry backoff. Default 30 s. */
  retryBackoffMaxMs?: number;
  /**
   * hook(models): accept a job whose model is in no agent's cache and not in the model store; it waits
   * (the reason in `status`) until the model is pushed. Default false: refused with FAILED_PRECONDITION.
   */
  allowLateModelPush?: boolean;
  /**
   * Speculative backups of stragglers: the most a job's backups may add, as a fraction of its
   * GPU-seconds. Default 0.1; 0 disables speculation.
   */
  speculationBudget?: number;
}

type FileOption = 'hardwareTable' | 'apiTokens' | 'apiTokensFile' | 'tlsCert' | 'tlsKey' | 'tlsClientCa';

export type CompiledCoordinatorOptions = Required<
  Omit<CoordinatorOptions, FileOption | 'advertiseAddr' | 'shardTimeouts' | 'userWeights'>
> & {
  /** The three timeouts of each shard kind (the global options unless overridden per kind). */
  timeouts: Record<ShardKind, ShardTimeouts>;
  hardwareTable: string | undefined;
  userWeights: Map<string, number>;
  /** '' = derived from the bound gRPC address. */
  advertiseAddr: string;
  /** Users and their tokens from apiTokens and apiTokensFile; empty = no token authentication. */
  apiUsers: ApiUser[];
  /** TLS certificate, key and client CA (PEM, read at start); undefined = plaintext. */
  tls: { cert: Buffer; key: Buffer; clientCa: Buffer | undefined } | undefined;
  renewEveryMs: number;
  /** The speculation rule's options (placement/speculate.ts); budgetFraction = speculationBudget. */
  speculation: SpeculationOptions;
};

const MiB = 1024 * 1024;

/** The TLS files, read and checked (the key must match the certificate); undefined for plaintext. */
function tlsFiles(raw: CoordinatorOptions): CompiledCoordinatorOptions['tls'] {
  if (!raw.tlsCert || !raw.tlsKey) return undefined;
  const tls = {
    cert: readPem('tlsCert', raw.tlsCert),
    key: readPem('tlsKey', raw.tlsKey),
    clientCa: raw.tlsClientCa ? readPem('tlsClientCa', raw.tlsClientCa) : undefined,
  };
  try {
    createSecureContext({ cert: tls.cert, key: tls.key, ca: tls.clientCa });
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new Error(`options tlsCert/tlsKey/tlsClientCa (${raw.tlsCert}, ${raw.tlsKey}): ${why}`, { cause: e });
  }
  return tls;
}

/** A PEM file's contents; throws naming the option. */
function readPem(option: keyof CoordinatorOptions, file: string): Buffer {
  let pem: Buffer;
  try {
    pem = readFileSync(file);
  } catch (e) {
    throw new Error(`option ${option}: cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`, {
      cause: e,
    });
  }
  if (!pem.includes('-----BEGIN ')) throw new Error(`option ${option}: ${file} is not a PEM file`);
  return pem;
}

/** Validates raw options and fills defaults. Throws naming the option. */
export function compileCoordinatorOptions(raw: CoordinatorOptions = {}): CompiledCoordinatorOptions {
  const num = (name: keyof CoordinatorOptions, v: number | undefined, def: number, min: number): number => {
    const n = v ?? def;
    if (!Number.isFinite(n) || n < min) throw new Error(`option ${name} must be a number ≥ ${min}, got ${v}`);
    return n;
  };
  const leaseMs = num('leaseMs', raw.leaseMs, 20_000, 100);
  const startTimeoutMs = num('startTimeoutMs', raw.startTimeoutMs, 30_000, 100);
  if (!raw.tlsCert !== !raw.tlsKey) throw new Error('options tlsCert and tlsKey must be set together');
  if (raw.tlsClientCa && !raw.tlsCert) throw new Error('option tlsClientCa (mutual TLS) needs tlsCert and tlsKey');
  const int = (name: keyof CoordinatorOptions, v: number | undefined): number => {
    const n = num(name, v, 0, 0);
    if (!Number.isSafeInteger(n)) throw new Error(`option ${name} must be an integer ≥ 0, got ${v}`);
    return n;
  };
  const apiUsers = loadApiUsers(raw.apiTokens, raw.apiTokensFile || undefined);
  if (raw.consoleAddr && raw.tlsClientCa && apiUsers.length === 0)
    throw new Error(
      'option consoleAddr: with mutual TLS the console signs users in with API tokens; set apiTokens or apiTokensFile',
    );
  return {
    natsUrl: raw.natsUrl || 'nats://127.0.0.1:4222',
    grpcAddr: raw.grpcAddr || '0.0.0.0:50051',
    metricsAddr: raw.metricsAddr ?? '0.0.0.0:9464',
    consoleAddr: raw.consoleAddr ?? '',
    hardwareTable: raw.hardwareTable || undefined,
    farm: raw.farm || 'tessera',
    leaseMs,
    renewEveryMs: Math.max(50, Math.floor(leaseMs / 4)),
    agentSilenceMs: num('agentSilenceMs', raw.agentSilenceMs, 10_000, 100),
    maxAttempts: num('maxAttempts', raw.maxAttempts, 5, 1),
    maxInputBytes: num('maxInputBytes', raw.maxInputBytes, 64 * MiB, 1),
    maxInputPixels: num('maxInputPixels', raw.maxInputPixels, 64_000_000, 1),
    maxOutputPixels: num('maxOutputPixels', raw.maxOutputPixels, 1_000_000_000, 1),
    assemblyDir: raw.assemblyDir || tmpdir(),
    maxShardRuntimeMs: num('maxShardRuntimeMs', raw.maxShardRuntimeMs, 3_600_000, 100),
    noProgressMs: num('noProgressMs', raw.noProgressMs, 600_000, 100),
    maxFrames: num('maxFrames', raw.maxFrames, 2_000, 1),
    maxQueuedShards: num('maxQueuedShards', raw.maxQueuedShards, 200_000, 1),
    sweepEveryMs: num('sweepEveryMs', raw.sweepEveryMs, 250, 10),
    apiUsers,
    tls: tlsFiles(raw),
    maxJobsPerUser: int('maxJobsPerUser', raw.maxJobsPerUser),
    maxQueuedShardsPerUser: int('maxQueuedShardsPerUser', raw.maxQueuedShardsPerUser),
    retentionMs: num('retentionMs', raw.retentionMs, 24 * 3600_000, 0),
    startTimeoutMs,
    timeouts: parseShardTimeouts(raw.shardTimeouts ?? '', {
      startMs: startTimeoutMs,
      runtimeMs: num('maxShardRuntimeMs', raw.maxShardRuntimeMs, 3_600_000, 100),
      stallMs: num('noProgressMs', raw.noProgressMs, 600_000, 100),
    }),
    leaderLeaseMs: num('leaderLeaseMs', raw.leaderLeaseMs, 5_000, 500),
    maxAgents: num('maxAgents', raw.maxAgents, 10_000, 1),
    replicaId: raw.replicaId || newReplicaId(),
    advertiseAddr: raw.advertiseAddr ?? '',
    userWeights: parseUserWeights(raw.userWeights ?? ''),
    blocklistAfter: num('blocklistAfter', raw.blocklistAfter, 3, 0),
    retryBackoffMs: num('retryBackoffMs', raw.retryBackoffMs, 1000, 0),
    retryBackoffMaxMs: num('retryBackoffMaxMs', raw.retryBackoffMaxMs, 30_000, 0),
    allowLateModelPush: raw.allowLateModelPush ?? false, // hook(models)
    ...speculation(raw.speculationBudget),
  };
}

/** The speculation options from the budget flag (a fraction in [0, 1]; 0 disables). */
function speculation(budget: number | undefined): { speculationBudget: number; speculation: SpeculationOptions } {
  const b = budget ?? SPECULATION_DEFAULTS.budgetFraction;
  if (!Number.isFinite(b) || b < 0 || b > 1)
    throw new Error(`option speculationBudget must be a fraction in [0, 1] (0 disables), got ${budget}`);
  return { speculationBudget: b, speculation: { ...SPECULATION_DEFAULTS, budgetFraction: b } };
}

/** The three timeouts of a leased shard. */
export interface ShardTimeouts {
  /** Grant → the agent confirms the lease (renewal or heartbeat). */
  startMs: number;
  /** Grant → result. */
  runtimeMs: number;
  /** Longest time without engine progress. */
  stallMs: number;
}

const SHARD_KINDS: readonly ShardKind[] = ['upscale_tile', 'upscale_frames', 'svd_batch', 'sd_stage'];
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const FIELD: Record<string, keyof ShardTimeouts> = { start: 'startMs', runtime: 'runtimeMs', stall: 'stallMs' };

/** Parses "kind.which=duration,…" over `defaults`. Throws naming the option and the bad entry. */
export function parseShardTimeouts(spec: string, defaults: ShardTimeouts): Record<ShardKind, ShardTimeouts> {
  const out = Object.fromEntries(SHARD_KINDS.map((k) => [k, { ...defaults }])) as Record<ShardKind, ShardTimeouts>;
  for (const entry of spec
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const m = /^([a-z_]+)\.(start|runtime|stall)=(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(entry);
    if (!m || !SHARD_KINDS.includes(m[1] as ShardKind)) {
      throw new Error(
        `option shardTimeouts: ${JSON.stringify(entry)} is not KIND.start|runtime|stall=DURATION ` +
          `(kinds ${SHARD_KINDS.join(', ')}; units ms, s, m, h; e.g. svd_batch.runtime=2h)`,
      );
    }
    const ms = Number(m[3]) * UNIT_MS[m[4]];
    if (ms < 100) throw new Error(`option shardTimeouts: ${entry} is below the minimum of 100 ms`);
    out[m[1] as ShardKind][FIELD[m[2]]] = ms;
  }
  return out;
}

/** `alice=2,bob=0.5` → weights. Throws naming the option and the bad entry. */
export function parseUserWeights(list: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const part of list.split(',').map((p) => p.trim())) {
    if (!part) continue;
    const m = /^([^=\s]+)=([0-9]*\.?[0-9]+)$/.exec(part);
    const w = m ? Number(m[2]) : NaN;
    if (!m || !(w > 0) || w > 1e6)
      throw new Error(`option userWeights: ${JSON.stringify(part)} is not user=weight with a weight in (0, 1e6]`);
    out.set(m[1], w);
  }
  return out;
}

/**
 * The default of each numeric flag, by the flag's commander attribute name (`--stall-timeout-ms` is
 * `stallTimeoutMs`, option noProgressMs), read from compileCoordinatorOptions so `--help` cannot drift.
 */
export function numericDefaults(): Record<string, number> {
  const c = compileCoordinatorOptions({ replicaId: 'defaults' });
  return {
    leaseMs: c.leaseMs,
    agentSilenceMs: c.agentSilenceMs,
    maxAttempts: c.maxAttempts,
    maxInputBytes: c.maxInputBytes,
    maxInputPixels: c.maxInputPixels,
    maxQueuedShards: c.maxQueuedShards,
    retentionMs: c.retentionMs,
    maxShardRuntimeMs: c.maxShardRuntimeMs,
    stallTimeoutMs: c.noProgressMs,
    startTimeoutMs: c.startTimeoutMs,
    blocklistAfter: c.blocklistAfter,
    retryBackoffMs: c.retryBackoffMs,
    retryBackoffMaxMs: c.retryBackoffMaxMs,
    leaderLeaseMs: c.leaderLeaseMs,
    maxJobsPerUser: c.maxJobsPerUser,
    maxQueuedShardsPerUser: c.maxQueuedShardsPerUser,
    maxAgents: c.maxAgents,
    speculationBudget: c.speculationBudget,
  };
}
