/**
 * ModelService: the gRPC face of the farm's model store (@tessera/models). Stateless over JetStream,
 * so every replica serves it without the leader. Pushing and removing are restricted by one check,
 * `mayManageModels`: the caller's role must be `admin` (access.ts; an open API's anonymous caller is one).
 */
import type * as grpc from '@grpc/grpc-js';
import {
  InvalidModelError,
  ModelIntegrityError,
  ModelNotFoundError,
  type ModelFile,
  type ModelStore,
  type ModelManifest,
  type StoreSummary,
} from '@tessera/models';
import type {
  ModelFileEntry,
  ModelInfo,
  ModelServiceServer,
  UploadFileRequest,
  UploadFileResponse,
} from '@tessera/protocol';
import type { Logger } from '@tessera/runtime';
import { PermissionDeniedError, principal } from './access.js';
import type { Role } from './auth.js';
import { FailedPreconditionError, InvalidArgumentError, LimitExceededError, NotFoundError } from './errors.js';
import { callerOf, decoded, toGrpcError } from './grpc-server.js';
import type { Holder } from './model-holders.js';

/** Largest model file accepted (bytes): far above any SD-family export, below silly. */
export const MAX_MODEL_FILE_BYTES = 64 * 1024 ** 3;
/** Most files one model may list. */
export const MAX_MODEL_FILES = 10_000;

/** Who may push and remove models: the API users' roles (from the tokens; access.ts). */
export interface ModelAccess {
  roles: ReadonlyMap<string, Role>;
}

/**
 * The one authorization check of the model store: the caller's role is `admin`. On an open API the
 * anonymous caller is an admin (the farm is trusted, like job submission); with authentication only
 * users given the admin role in the tokens file may.
 */
export function mayManageModels(user: string, access: ModelAccess): boolean {
  return principal(user, access.roles).role === 'admin';
}

export interface ModelServiceDeps {
  store: ModelStore;
  holders: () => Map<string, Holder[]>;
  access: ModelAccess;
  log: Logger;
}

/** Maps the model library's errors to the coordinator's, which the API layer turns into codes. */
export function translateModelError(e: unknown): unknown {
  if (e instanceof InvalidModelError) return new InvalidArgumentError(e.field, e.message, { cause: e });
  if (e instanceof ModelIntegrityError) return new InvalidArgumentError('chunk', e.message, { cause: e });
  if (e instanceof ModelNotFoundError) return new NotFoundError(e.message);
  return e;
}

/** A model row with its holders (the agents advertising this digest or a hand-provisioned copy). */
export function modelInfo(
  m: ModelManifest,
  summary: StoreSummary | undefined,
  holders: Map<string, Holder[]>,
): ModelInfo {
  const s = summary?.models.find((x) => x.id === m.id);
  return {
    id: m.id,
    digest: m.digest,
    files: m.files.length,
    totalBytes: m.totalBytes,
    uniqueBytes: s?.uniqueBytes ?? m.totalBytes,
    pushedAt: m.pushedAt,
    holders: (holders.get(m.id) ?? []).filter((h) => h.digest === m.digest || h.digest === '').map((h) => h.agent),
  };
}

function filesOf(field: string, files: readonly ModelFileEntry[]): ModelFile[] {
  if (files.length > MAX_MODEL_FILES)
    throw new LimitExceededError(field, `${files.length} files, at most ${MAX_MODEL_FILES}`);
  return files.map((f, i) => {
    if (!Number.isSafeInteger(f.size) || f.size < 0)
      throw new InvalidArgumentError(`${field}[${i}].size`, `must be a byte count, got ${f.size}`);
    if (f.size > MAX_MODEL_FILE_BYTES)
      throw new LimitExceededError(`${field}[${i}].size`, `${f.size} bytes, at most ${MAX_MODEL_FILE_BYTES}`);
    if (!/^[0-9a-f]{64}$/.test(f.sha256))
      throw new InvalidArgumentError(`${field}[${i}].sha256`, 'must be 64 lower-case hex digits');
    return { path: f.path, sha256: f.sha256, size: f.size };
  });
}

function unaryCall<Req, Res>(
  log: Logger,
  fn: (req: Req, user: string) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, cb) => {
    Promise.resolve()
      .then(() => fn(decoded(call.request), callerOf(call)))
      .then(
        (res) => cb(null, res),
        (e) => cb(toGrpcError(translateModelError(e), log) as grpc.ServiceError),
      );
  };
}

/** Builds the ModelService implementation. */
export function modelService(d: ModelServiceDeps): ModelServiceServer {
  const { store, log } = d;
  const admin = (user: string, what: string) => {
    if (!mayManageModels(user, d.access))
      throw new PermissionDeniedError(
        `user ${JSON.stringify(user)} may not ${what} models: that takes the admin role (the third word of its line in the tokens file)`,
      );
  };
  return {
    planPush: unaryCall(log, async (req, user) => {
      admin(user, 'push');
      const missing = await store.missing(filesOf('files', req.files));
      return { missingSha256: missing.map((f) => f.sha256), missingBytes: missing.reduce((s, f) => s + f.size, 0) };
    }),
    uploadFile: (call: grpc.ServerReadableStream<UploadFileRequest, UploadFileResponse>, cb) => {
      (async () => {
        admin(callerOf(call), 'push');
        const it = call[Symbol.asyncIterator]() as AsyncIterator<UploadFileRequest>;
        const first = await it.next();
        if (first.done) throw new InvalidArgumentError('file', 'the stream ended before its first message');
        const head = decoded(first.value);
        if (!head.file) throw new InvalidArgumentError('file', 'the first message must name the file');
        const [file] = filesOf('file', [head.file]);
        let stored = 0;
        const chunks = async function* () {
          if (head.chunk.length) yield head.chunk;
          for (let n = await it.next(); !n.done; n = await it.next()) {
            const m = decoded(n.value);
            if (stored + m.chunk.length > file.size)
              throw new InvalidArgumentError('chunk', `more bytes than the declared size ${file.size}`);
            yield m.chunk;
          }
        };
        await store.putStream(head.modelId || '(unnamed)', file.path, chunks(), file, (n) => (stored = n));
        return { storedBytes: stored };
      })().then(
        (res) => cb(null, res),
        (e) => cb(toGrpcError(translateModelError(e), log) as grpc.ServiceError),
      );
    },
    commitModel: unaryCall(log, async (req, user) => {
      admin(user, 'push');
      let m: ModelManifest;
      try {
        m = await store.commit(req.modelId, filesOf('files', req.files));
      } catch (e) {
        if (e instanceof InvalidModelError && e.field === 'files') throw new FailedPreconditionError(e.message);
        throw e;
      }
      log.info({ model: m.id, digest: m.digest, bytes: m.totalBytes }, 'model pushed');
      return { model: modelInfo(m, await store.summary(), d.holders()) };
    }),
    listModels: unaryCall(log, async () => {
      const manifests = await store.list();
      const summary = await store.summary();
      const holders = d.holders();
      return {
        models: manifests.map((m) => modelInfo(m, summary, holders)),
        totalBytes: summary.totalBytes,
        storedBytes: summary.storedBytes,
      };
    }),
    removeModel: unaryCall(log, async (req, user) => {
      admin(user, 'remove');
      const r = await store.remove(req.modelId);
      log.info({ model: req.modelId, freedBytes: r.freedBytes }, 'model removed');
      return { freedBytes: r.freedBytes };
    }),
  };
}
