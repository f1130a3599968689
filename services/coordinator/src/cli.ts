/** `tessera-coordinator`: flags (each with an environment variable) → startCoordinator. */
import { createRequire } from 'node:module';
import { Command, Option } from 'commander';
import { createLogger, SERVICE_ENV_HELP } from '@tessera/runtime';
import { startCoordinator } from './main.js';
import { numericDefaults } from './options.js';

const { version } = createRequire(import.meta.url)('../package.json') as { version: string };

const program = new Command('tessera-coordinator')
  .description(
    'Tessera coordinator: accepts jobs over gRPC, shards them to agents over NATS JetStream, reassembles outputs.',
  )
  .addOption(
    new Option('--nats <url>', 'NATS server URL(s), comma-separated')
      .env('TESSERA_NATS_URL')
      .default('nats://127.0.0.1:4222'),
  )
  .addOption(new Option('--grpc <host:port>', 'gRPC listen address').env('TESSERA_GRPC_ADDR').default('0.0.0.0:50051'))
  .addOption(
    new Option('--metrics <host:port>', 'HTTP address for /metrics, /healthz, /readyz ("" disables)')
      .env('TESSERA_METRICS_ADDR')
      .default('0.0.0.0:9464'),
  )
  .addOption(
    new Option('--console <host:port>', 'HTTP address of the web console ("" disables; default off)').env(
      'TESSERA_CONSOLE_ADDR',
    ),
  )
  .addOption(
    new Option('--hardware-table <file>', 'hardware table YAML replacing the bundled one').env(
      'TESSERA_HARDWARE_TABLE',
    ),
  )
  .addOption(new Option('--farm <prefix>', 'NATS subject and bucket prefix').env('TESSERA_FARM').default('tessera'))
  .addOption(
    new Option('--lease-ms <ms>', 'lease length; agents renew every quarter').env('TESSERA_LEASE_MS').argParser(Number),
  )
  .addOption(
    new Option('--agent-silence-ms <ms>', 'an agent silent this long is lost; its work is requeued')
      .env('TESSERA_AGENT_SILENCE_MS')
      .argParser(Number),
  )
  .addOption(
    new Option('--max-attempts <n>', 'leases a shard may get before its job fails')
      .env('TESSERA_MAX_ATTEMPTS')
      .argParser(Number),
  )
  .addOption(
    new Option('--max-input-bytes <n>', 'largest encoded input accepted')
      .env('TESSERA_MAX_INPUT_BYTES')
      .argParser(Number),
  )
  .addOption(
    new Option('--max-input-pixels <n>', 'largest input image in pixels')
      .env('TESSERA_MAX_INPUT_PIXELS')
      .argParser(Number),
  )
  .addOption(
    new Option('--assembly-dir <dir>', 'folder for spool files of large assemblies (default: OS temp folder)').env(
      'TESSERA_ASSEMBLY_DIR',
    ),
  )
  .addOption(
    new Option('--max-queued-shards <n>', 'shards waiting before submissions are refused')
      .env('TESSERA_MAX_QUEUED_SHARDS')
      .argParser(Number),
  )
  .addOption(
    new Option('--retention-ms <ms>', 'finished jobs and their blobs are deleted after this long (0 keeps them)')
      .env('TESSERA_RETENTION_MS')
      .argParser(Number),
  )
  .addOption(
    new Option('--max-shard-runtime-ms <ms>', 'a shard running longer is run again elsewhere')
      .env('TESSERA_MAX_SHARD_RUNTIME_MS')
      .argParser(Number),
  )
  .addOption(
    new Option('--stall-timeout-ms <ms>', 'a shard whose engine progress stalls this long is run again elsewhere')
      .env('TESSERA_STALL_TIMEOUT_MS')
      .argParser(Number),
  )
  .addOption(
    new Option(
      '--start-timeout-ms <ms>',
      'a lease its agent has not confirmed (renewal or heartbeat) this long after the grant is run again elsewhere',
    )
      .env('TESSERA_START_TIMEOUT_MS')
      .argParser(Number),
  )
  .addOption(
    new Option(
      '--user-weights <list>',
      'fair-share weights between users of equal priority, e.g. alice=2,bob=1 (others weigh 1)',
    ).env('TESSERA_USER_WEIGHTS'),
  )
  .addOption(
    new Option('--blocklist-after <n>', "an agent failing a job's shards n times gets no more of them (0: never)")
      .env('TESSERA_BLOCKLIST_AFTER')
      .argParser(Number),
  )
  .addOption(
    new Option('--retry-backoff-ms <ms>', 'a failed attempt waits this long before running again, doubling (0: none)')
      .env('TESSERA_RETRY_BACKOFF_MS')
      .argParser(Number),
  )
  .addOption(
    new Option('--retry-backoff-max-ms <ms>', 'cap of the retry backoff')
      .env('TESSERA_RETRY_BACKOFF_MAX_MS')
      .argParser(Number),
  )
  // hook(models)
  .addOption(
    new Option(
      '--allow-late-model-push',
      'accept jobs whose model is in no agent cache nor the model store; they wait until it is pushed',
    ).env('TESSERA_ALLOW_LATE_MODEL_PUSH'),
  )
  .addOption(
    new Option(
      '--shard-timeouts <spec>',
      'per shard kind timeouts overriding the three above, e.g. "svd_batch.runtime=2h,upscale_tile.stall=2m,sd_stage.start=1m"',
    ).env('TESSERA_SHARD_TIMEOUTS'),
  )
  .addOption(
    new Option(
      '--api-tokens <list>',
      'bearer tokens accepted on the gRPC API, comma-separated: user:token names the user, a bare token is user "default" (default: none = open)',
    ).env('TESSERA_API_TOKENS'),
  )
  .addOption(
    new Option(
      '--leader-lease-ms <ms>',
      'leader lease: a standby replica takes over once the leader has not renewed for this long',
    )
      .env('TESSERA_LEADER_LEASE_MS')
      .argParser(Number),
  )
  .addOption(
    new Option('--replica-id <id>', "this replica's id in the leader lease (default: host-pid-random)").env(
      'TESSERA_REPLICA_ID',
    ),
  )
  .addOption(
    new Option(
      '--advertise <host:port>',
      'gRPC address the other replicas forward calls to while this one leads (default: the --grpc address; the host name for 0.0.0.0)',
    ).env('TESSERA_ADVERTISE_ADDR'),
  )
  .addOption(
    new Option(
      '--api-tokens-file <file>',
      'more API tokens, one "user token [role]" or "user:token" a line (# comments; role: user, viewer or admin); keeps secrets off the command line',
    ).env('TESSERA_API_TOKENS_FILE'),
  )
  .addOption(
    new Option('--tls-cert <file>', 'PEM certificate (chain) of the gRPC server; with --tls-key serves TLS').env(
      'TESSERA_GRPC_TLS_CERT',
    ),
  )
  .addOption(new Option('--tls-key <file>', 'PEM private key of --tls-cert').env('TESSERA_GRPC_TLS_KEY'))
  .addOption(
    new Option(
      '--tls-client-ca <file>',
      'PEM CA bundle: require client certificates signed by it (mutual TLS); a client without a token is the user its certificate CN names',
    ).env('TESSERA_GRPC_TLS_CLIENT_CA'),
  )
  .addOption(
    new Option('--max-jobs-per-user <n>', 'unfinished jobs one user may have (0 = unlimited)')
      .env('TESSERA_MAX_JOBS_PER_USER')
      .argParser(Number),
  )
  .addOption(
    new Option('--max-queued-shards-per-user <n>', 'queued shards one user may have (0 = unlimited)')
      .env('TESSERA_MAX_QUEUED_SHARDS_PER_USER')
      .argParser(Number),
  )
  .addOption(
    new Option('--max-agents <n>', 'agent slots remembered; adverts of new agents beyond it are ignored')
      .env('TESSERA_MAX_AGENTS')
      .argParser(Number),
  )
  .addOption(
    new Option(
      '--speculation-budget <fraction>',
      "speculative backups of stragglers may add at most this fraction of a job's GPU-seconds (0 disables)",
    )
      .env('TESSERA_SPECULATION_BUDGET')
      .argParser(Number),
  )
  .version(version)
  .addHelpText(
    'after',
    `${SERVICE_ENV_HELP}  TESSERA_PROTO_DIR            proto files served by gRPC reflection (default: the bundled ones)\n`,
  )
  .showHelpAfterError();

// Numeric defaults in --help, taken from the one place that sets them (compileCoordinatorOptions).
const defaults = numericDefaults();
for (const opt of program.options) {
  const d = defaults[opt.attributeName()];
  if (d !== undefined && opt.defaultValue === undefined) opt.default(d);
}

program.parse();
const o = program.opts();
const log = createLogger('coordinator');

try {
  const handle = await startCoordinator(
    {
      natsUrl: o.nats,
      grpcAddr: o.grpc,
      metricsAddr: o.metrics,
      consoleAddr: o.console,
      hardwareTable: o.hardwareTable,
      farm: o.farm,
      leaseMs: o.leaseMs,
      agentSilenceMs: o.agentSilenceMs,
      maxAttempts: o.maxAttempts,
      maxInputBytes: o.maxInputBytes,
      maxInputPixels: o.maxInputPixels,
      assemblyDir: o.assemblyDir,
      maxQueuedShards: o.maxQueuedShards,
      apiTokens: o.apiTokens,
      apiTokensFile: o.apiTokensFile,
      tlsCert: o.tlsCert,
      tlsKey: o.tlsKey,
      tlsClientCa: o.tlsClientCa,
      maxJobsPerUser: o.maxJobsPerUser,
      maxQueuedShardsPerUser: o.maxQueuedShardsPerUser,
      maxShardRuntimeMs: o.maxShardRuntimeMs,
      retentionMs: o.retentionMs,
      noProgressMs: o.stallTimeoutMs,
      startTimeoutMs: o.startTimeoutMs,
      shardTimeouts: o.shardTimeouts,
      leaderLeaseMs: o.leaderLeaseMs,
      maxAgents: o.maxAgents,
      replicaId: o.replicaId,
      advertiseAddr: o.advertise,
      userWeights: o.userWeights,
      blocklistAfter: o.blocklistAfter,
      retryBackoffMs: o.retryBackoffMs,
      retryBackoffMaxMs: o.retryBackoffMaxMs,
      allowLateModelPush: !!o.allowLateModelPush, // hook(models)
      speculationBudget: o.speculationBudget,
    },
    log,
  );
  let stopping = false;
  const shutdown = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal: sig }, 'shutting down');
    handle.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
} catch (e) {
  process.stderr.write(`tessera-coordinator: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
}
