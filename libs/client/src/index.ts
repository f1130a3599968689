/**
 * @tessera/client: the typed gRPC client of a Tessera farm, the pure formatters the `tessera` CLI
 * uses (and that scripts may reuse), and the stable JSON shapes of `--json` output.
 */
export { TesseraClient, type CallOptions, type WatchListener } from './client.js';
export type {
  SubmitUpscaleRequest,
  SubmitVideoRequest,
  SubmitImageRequest,
  SubmitVideoUpscaleRequest,
  OutputSelector,
  VideoFormatName,
  ImageFormatName,
} from './requests.js';
export { DEFAULT_SERVER, MAX_MESSAGE_BYTES, type TesseraClientOptions, type TlsOptions } from './options.js';
export { TesseraRpcError, OutputIntegrityError, codeName, toRpcError, type RpcCodeName } from './errors.js';
export type { DownloadResult, DownloadProgress } from './download.js';
export {
  FINAL_JOB_STATES,
  isFinalJobState,
  jobStateName,
  shardStateName,
  jobKindName,
  agentStateName,
} from './states.js';
export {
  jobToJson,
  shardToJson,
  agentToJson,
  watchEventToJson,
  isoTime,
  type JobJson,
  type ShardJson,
  type AgentJson,
  type WatchEventJson,
  type RectJson,
} from './format/json.js';
export { formatJobStatus, formatJobsTable, formatAgentsTable, renderTable, formatBytes } from './format/table.js';
export { formatCliError } from './format/errors.js';
export { TesseraModels, type ModelPushProgress, type ModelPushResult } from './models.js';
export { writeTinyModel, TINY_FAMILIES } from './cli/models.js';
