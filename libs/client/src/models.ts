/**
 * Typed client of a farm's ModelService: push a model directory (only the files the store lacks,
 * streamed in chunks with progress), list and remove models. Apart from TesseraClient so the model
 * store's surface stays in one file; it shares the same options (address, token, TLS, deadline).
 */
import { createReadStream } from 'node:fs';
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { scanModel, type ModelFile } from '@tessera/models';
import {
  ModelServiceClient,
  type CommitModelResponse,
  type ListModelsResponse,
  type ModelInfo,
  type PlanPushResponse,
  type RemoveModelResponse,
} from '@tessera/protocol';
import { toRpcError } from './errors.js';
import { compileClientOptions, DEFAULT_SERVER, type TesseraClientOptions } from './options.js';

/** Bytes per UploadFile message. */
const CHUNK_BYTES = 512 * 1024;

/** Progress of `push`: hashing the directory, then uploading what the store lacks. */
export interface ModelPushProgress {
  phase: 'hash' | 'upload';
  doneBytes: number;
  /** Bytes to upload (0 while hashing). */
  totalBytes: number;
  file: string;
}

/** What a push did. */
export interface ModelPushResult {
  model: ModelInfo;
  uploadedBytes: number;
  uploadedFiles: number;
  /** Bytes the store already held (shared files, an earlier or interrupted push). */
  skippedBytes: number;
}

/** Client of the ModelService. Call `close()` when done. */
export class TesseraModels {
  private readonly svc: ModelServiceClient;
  private readonly token: string | undefined;
  private readonly deadlineMs: number;

  constructor(address: string = process.env.TESSERA_SERVER ?? DEFAULT_SERVER, options: TesseraClientOptions = {}) {
    const o = compileClientOptions(address, options);
    this.svc = new ModelServiceClient(o.address, o.credentials, o.channelOptions);
    this.token = o.token;
    this.deadlineMs = o.deadlineMs;
  }

  /**
   * Pushes the model in `dir` (a directory in the Optimum or SVD layout, or one ONNX file) as `id`.
   * Re-running after an interruption uploads only the files still missing.
   */
  async push(
    id: string,
    dir: string,
    o: { signal?: AbortSignal; onProgress?: (p: ModelPushProgress) => void } = {},
  ): Promise<ModelPushResult> {
    const local = await scanModel(dir, {
      signal: o.signal,
      onProgress: (done, file) => o.onProgress?.({ phase: 'hash', doneBytes: done, totalBytes: 0, file }),
    });
    const files: ModelFile[] = local.map(({ path, sha256, size }) => ({ path, sha256, size }));
    const plan = await this.unary<PlanPushResponse>('PlanPush', (md, opt, cb) =>
      this.svc.planPush({ modelId: id, files }, md, opt, cb),
    );
    const want = new Set(plan.missingSha256);
    const upload = local.filter((f) => want.delete(f.sha256));
    let done = 0;
    for (const f of upload) {
      o.signal?.throwIfAborted();
      await this.uploadFile(id, f, f.source, (n) =>
        o.onProgress?.({ phase: 'upload', doneBytes: done + n, totalBytes: plan.missingBytes, file: f.path }),
      );
      done += f.size;
    }
    const res = await this.unary<CommitModelResponse>('CommitModel', (md, opt, cb) =>
      this.svc.commitModel({ modelId: id, files }, md, opt, cb),
    );
    if (!res.model) throw new Error('CommitModel answered without a model');
    return {
      model: res.model,
      uploadedBytes: done,
      uploadedFiles: upload.length,
      skippedBytes: res.model.totalBytes - done,
    };
  }

  /** Every stored model with its sizes and holders, and the store's totals. */
  list(): Promise<ListModelsResponse> {
    return this.unary<ListModelsResponse>('ListModels', (md, opt, cb) => this.svc.listModels({}, md, opt, cb));
  }

  /** Removes a model; resolves to the bytes freed (files no other model uses). */
  async remove(id: string): Promise<number> {
    const r = await this.unary<RemoveModelResponse>('RemoveModel', (md, opt, cb) =>
      this.svc.removeModel({ modelId: id }, md, opt, cb),
    );
    return r.freedBytes;
  }

  close(): void {
    this.svc.close();
  }

  /** Streams one file, honouring the channel's flow control (bounded memory whatever the size). */
  private uploadFile(modelId: string, file: ModelFile, source: string, onBytes: (n: number) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const call = this.svc.uploadFile(this.metadata(), (err: ServiceError | null) =>
        err ? reject(toRpcError(err, 'UploadFile')) : resolve(),
      );
      call.write({ modelId, file, chunk: Buffer.alloc(0) });
      const rs = createReadStream(source, { highWaterMark: CHUNK_BYTES });
      let sent = 0;
      rs.on('data', (chunk) => {
        const b = chunk as Buffer;
        sent += b.length;
        onBytes(sent);
        if (!call.write({ modelId: '', file: undefined, chunk: b })) {
          rs.pause();
          call.once('drain', () => rs.resume());
        }
      });
      rs.on('end', () => call.end());
      rs.on('error', (e) => {
        call.cancel();
        reject(e);
      });
    });
  }

  private metadata(): Metadata {
    const md = new Metadata();
    if (this.token !== undefined) md.set('authorization', `Bearer ${this.token}`);
    return md;
  }

  private unary<Res>(
    method: string,
    fn: (md: Metadata, opts: { deadline?: number }, cb: (err: ServiceError | null, res: Res) => void) => unknown,
  ): Promise<Res> {
    const opts = this.deadlineMs > 0 ? { deadline: Date.now() + this.deadlineMs } : {};
    return new Promise<Res>((resolve, reject) =>
      fn(this.metadata(), opts, (err, res) => (err ? reject(toRpcError(err, method)) : resolve(res))),
    );
  }
}
