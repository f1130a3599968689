/** Agent options: raw (optional, documented defaults) → compiled. Every flag has an env variable. */
export interface AgentOptions {
  /** NATS URL(s). Default nats://127.0.0.1:4222. */
  natsUrl?: string;
  /** Override the VRAM (GB) this agent advertises (one slot). Default: detected per GPU; CPU → 0. */
  vramGb?: number;
  /** Agent name. Default the host name. */
  name?: string;
  /** Converted-model cache / model directory. Default $TESSERA_MODEL_CACHE or ~/.cache/tessera/models. */
  modelsDir?: string;
  /** Bound of the model cache in GB (fetched models; LRU idle eviction). Default 0 = unbounded. */
  modelCacheGb?: number;
  /** HTTP address for /metrics, /healthz, /readyz. Default 0.0.0.0:9465; "" disables. */
  metricsAddr?: string;
  /** NATS subject/bucket prefix. Default "tessera". */
  farm?: string;
  /** onnxruntime intra-op threads per slot. Default onnxruntime's choice. */
  threads?: number;
  /** Heartbeat interval. Default 2000 ms. */
  heartbeatMs?: number;
  /** How long the coordinator may hold a work request. Default 10 s. */
  waitMs?: number;
  /** Hardware table (for the class label in adverts). Default the bundled one. */
  hardwareTable?: string;
  /**
   * 'auto' (CUDA when a GPU is found and the CUDA EP is installed), 'cpu', 'cuda' or 'webgpu' (the GPU
   * through Vulkan, bundled with onnxruntime-node: no CUDA download). Default auto.
   */
  executionProvider?: 'auto' | 'cpu' | 'cuda' | 'webgpu';
}

export type CompiledAgentOptions = Required<Omit<AgentOptions, 'vramGb' | 'modelsDir' | 'threads' | 'hardwareTable'>> &
  Pick<AgentOptions, 'vramGb' | 'modelsDir' | 'threads' | 'hardwareTable'>;

export function compileAgentOptions(raw: AgentOptions, hostname: string): CompiledAgentOptions {
  const positive = (name: string, v: number | undefined, min: number) => {
    if (v !== undefined && (!Number.isFinite(v) || v < min))
      throw new Error(`option ${name} must be a number ≥ ${min}, got ${v}`);
    return v;
  };
  const ep = raw.executionProvider ?? 'auto';
  if (!['auto', 'cpu', 'cuda', 'webgpu'].includes(ep))
    throw new Error(`option executionProvider must be auto, cpu, cuda or webgpu, got ${ep}`);
  const name = raw.name || hostname;
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name))
    throw new Error(`option name must be 1-64 of [A-Za-z0-9_.-], got ${JSON.stringify(name)}`);
  return {
    natsUrl: raw.natsUrl || 'nats://127.0.0.1:4222',
    vramGb: positive('vramGb', raw.vramGb, 0),
    name,
    modelsDir: raw.modelsDir,
    modelCacheGb: positive('modelCacheGb', raw.modelCacheGb, 0) ?? 0,
    metricsAddr: raw.metricsAddr ?? '0.0.0.0:9465',
    farm: raw.farm || 'tessera',
    threads: positive('threads', raw.threads, 1),
    heartbeatMs: positive('heartbeatMs', raw.heartbeatMs, 20) ?? 2000,
    waitMs: positive('waitMs', raw.waitMs, 10) ?? 10_000,
    hardwareTable: raw.hardwareTable,
    executionProvider: ep,
  };
}
