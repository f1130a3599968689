/**
 * Coordinator options: raw (all optional, documented defaults) → compiled (validated, filled,
 * units in the name). Every option also reads an environment variable in the CLI.
 */
export interface CoordinatorOptions {
  /** NATS server URL(s), comma-separated. Default nats://127.0.0.1:4222. */
  natsUrl?: string;
  /** gRPC listen address. Default 0.0.0.0:50051. */
  grpcAddr?: string;
  /** HTTP address for /metrics, /healthz, /readyz. Default 0.0.0.0:9464. Empty disables. */
  metricsAddr?: string;
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
  /** Bearer tokens accepted on the gRPC API (comma-separated); empty = no authentication. */
  apiTokens?: string;
  /** Finished jobs and their blobs are deleted after this long. Default 24 h; 0 keeps forever. */
  retentionMs?: number;
  /** Fair-share weights per user, `alice=2,bob=1`; unlisted users (and anonymous, '') weigh 1. */
  userWeights?: string;
  /** An agent whose attempts fail on one job this many times gets no more of its shards. Default 3; 0 = never. */
  blocklistAfter?: number;
  /** A failed attempt waits this long before it runs again, doubling per attempt. Default 1 s; 0 = at once. */
  retryBackoffMs?: number;
  /** Cap of the retry backoff. Default 30 s. */
  retryBackoffMaxMs?: number;
}

export type CompiledCoordinatorOptions = Required<
  Omit<CoordinatorOptions, 'hardwareTable' | 'apiTokens' | 'userWeights'>
> & {
  hardwareTable: string | undefined;
  apiTokens: string[];
  userWeights: Map<string, number>;
  renewEveryMs: number;
};

const MiB = 1024 * 1024;

/** Validates raw options and fills defaults. Throws naming the option. */
export function compileCoordinatorOptions(raw: CoordinatorOptions = {}): CompiledCoordinatorOptions {
  const num = (name: keyof CoordinatorOptions, v: number | undefined, def: number, min: number): number => {
    const n = v ?? def;
    if (!Number.isFinite(n) || n < min) throw new Error(`option ${name} must be a number ≥ ${min}, got ${v}`);
    return n;
  };
  const leaseMs = num('leaseMs', raw.leaseMs, 20_000, 100);
  return {
    natsUrl: raw.natsUrl || 'nats://127.0.0.1:4222',
    grpcAddr: raw.grpcAddr || '0.0.0.0:50051',
    metricsAddr: raw.metricsAddr ?? '0.0.0.0:9464',
    hardwareTable: raw.hardwareTable || undefined,
    farm: raw.farm || 'tessera',
    leaseMs,
    renewEveryMs: Math.max(50, Math.floor(leaseMs / 4)),
    agentSilenceMs: num('agentSilenceMs', raw.agentSilenceMs, 10_000, 100),
    maxAttempts: num('maxAttempts', raw.maxAttempts, 5, 1),
    maxInputBytes: num('maxInputBytes', raw.maxInputBytes, 64 * MiB, 1),
    maxInputPixels: num('maxInputPixels', raw.maxInputPixels, 64_000_000, 1),
    maxOutputPixels: num('maxOutputPixels', raw.maxOutputPixels, 1_000_000_000, 1),
    maxShardRuntimeMs: num('maxShardRuntimeMs', raw.maxShardRuntimeMs, 3_600_000, 100),
    noProgressMs: num('noProgressMs', raw.noProgressMs, 600_000, 100),
    maxFrames: num('maxFrames', raw.maxFrames, 2_000, 1),
    maxQueuedShards: num('maxQueuedShards', raw.maxQueuedShards, 200_000, 1),
    sweepEveryMs: num('sweepEveryMs', raw.sweepEveryMs, 250, 10),
    apiTokens: (raw.apiTokens ?? '')
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean),
    retentionMs: num('retentionMs', raw.retentionMs, 24 * 3600_000, 0),
    userWeights: parseUserWeights(raw.userWeights ?? ''),
    blocklistAfter: num('blocklistAfter', raw.blocklistAfter, 3, 0),
    retryBackoffMs: num('retryBackoffMs', raw.retryBackoffMs, 1000, 0),
    retryBackoffMaxMs: num('retryBackoffMaxMs', raw.retryBackoffMaxMs, 30_000, 0),
  };
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
