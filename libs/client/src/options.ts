import { credentials, type ChannelCredentials, type ChannelOptions } from '@grpc/grpc-js';

/** Default farm address: `TESSERA_SERVER`, else the local coordinator's default port. */
export const DEFAULT_SERVER = '127.0.0.1:50051';

/** Largest message either side may send: input images and output chunks stay well below it. */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** TLS settings; `true` uses the system's root certificates. */
export interface TlsOptions {
  /** PEM root certificates to trust instead of the system's. */
  rootCerts?: Buffer;
  /** PEM client key and certificate for mutual TLS. */
  privateKey?: Buffer;
  certChain?: Buffer;
  /** Host name the server certificate must carry, when it differs from the address's host. */
  serverName?: string;
}

/** Options of `new TesseraClient(address, options)`; every field is optional. */
export interface TesseraClientOptions {
  /** Bearer token sent as `authorization: Bearer <token>` on every call (default: none). */
  token?: string;
  /** Use TLS (default: plaintext, the farm's in-cluster default). */
  tls?: boolean | TlsOptions;
  /** Deadline for unary calls, in milliseconds (default 30 000; 0 = none). Streams have none. */
  deadlineMs?: number;
}

/** The validated form of TesseraClientOptions that the client works from. */
export interface CompiledClientOptions {
  address: string;
  token: string | undefined;
  credentials: ChannelCredentials;
  channelOptions: ChannelOptions;
  deadlineMs: number;
}

/** Validates options and fills defaults. Throws TypeError on a malformed address or deadline. */
export function compileClientOptions(address: string, options: TesseraClientOptions = {}): CompiledClientOptions {
  const trimmed = address.trim();
  if (trimmed === '') throw new TypeError('server address is empty (expected HOST:PORT)');
  const deadlineMs = options.deadlineMs ?? 30_000;
  if (!Number.isFinite(deadlineMs) || deadlineMs < 0) {
    throw new TypeError(`deadlineMs must be a non-negative number, got ${deadlineMs}`);
  }
  const tls: TlsOptions | undefined = options.tls === true ? {} : options.tls || undefined;
  if (tls && !tls.privateKey !== !tls.certChain)
    throw new TypeError('tls.privateKey and tls.certChain must be given together (mutual TLS)');
  return {
    address: trimmed,
    token: options.token || undefined,
    credentials: tls
      ? credentials.createSsl(tls.rootCerts ?? null, tls.privateKey ?? null, tls.certChain ?? null)
      : credentials.createInsecure(),
    channelOptions: {
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      ...(tls?.serverName ? { 'grpc.ssl_target_name_override': tls.serverName } : {}),
    },
    deadlineMs,
  };
}
