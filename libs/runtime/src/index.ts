/** @tessera/runtime: what every Tessera service process shares: logging, NATS connection, HTTP probes. */
export { startHttp, parseHostPort, type HttpHandle } from './http.js';
export { connectRetryDelayMs, connectService, type ServiceConnectOptions } from './nats.js';
export { fixRequestReplyPath } from './nats-request-fix.js';
export { createLogger, type Logger } from './log.js';
export { createServiceRegistry } from './metrics.js';
export { concatBytes } from './bytes.js';
export { blobAccess, digestHex, type BlobAccess, type StoredBlob } from './blobs.js';
export { SERVICE_ENV_HELP } from './env-help.js';
