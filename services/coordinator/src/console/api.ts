/**
 * The console's way into the farm: the replica's own gRPC API, called over loopback with the
 * browser user's token. So the console sees exactly what the API lets that user see, and a standby
 * forwards to the leader like it does for any other client.
 */
import * as grpc from '@grpc/grpc-js';
import {
  AgentServiceClient,
  JobServiceClient,
  type AgentInfo,
  type GetJobOutputResponse,
  type Job,
  type SubmitJobRequest,
} from '@tessera/protocol';

/** A failed API call, with the gRPC status the API answered. */
export class ConsoleApiError extends Error {
  override readonly name = 'ConsoleApiError';
  constructor(
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(details);
  }
}

/** The HTTP status a gRPC status maps to. Pure. */
export function httpStatusOf(code: grpc.status): number {
  switch (code) {
    case grpc.status.UNAUTHENTICATED:
      return 401;
    case grpc.status.PERMISSION_DENIED:
      return 403;
    case grpc.status.NOT_FOUND:
      return 404;
    case grpc.status.INVALID_ARGUMENT:
    case grpc.status.OUT_OF_RANGE:
      return 400;
    case grpc.status.FAILED_PRECONDITION:
    case grpc.status.ALREADY_EXISTS:
      return 409;
    case grpc.status.RESOURCE_EXHAUSTED:
      return 429;
    case grpc.status.UNAVAILABLE:
    case grpc.status.DEADLINE_EXCEEDED:
      return 503;
    default:
      return 502;
  }
}

/** Where and how to reach this replica's gRPC server. */
export interface LoopbackTarget {
  address: string;
  credentials: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
}

/** The API calls the console makes, each on behalf of one user (its bearer token, or none). */
export class ConsoleApi {
  private readonly jobs: JobServiceClient;
  private readonly agents: AgentServiceClient;

  constructor(target: LoopbackTarget) {
    this.jobs = new JobServiceClient(target.address, target.credentials, target.channelOptions);
    this.agents = new AgentServiceClient(target.address, target.credentials, target.channelOptions);
  }

  listJobs(token: string | undefined, limit: number): Promise<Job[]> {
    return this.unary<Job[]>(
      (md, done) => this.jobs.listJobs({ limit, includeShards: false }, md, opts(), (e, r) => done(e, r?.jobs ?? [])),
      token,
    );
  }

  getJob(token: string | undefined, jobId: string): Promise<Job> {
    return this.unary<Job>(
      (md, done) => this.jobs.getJob({ jobId }, md, opts(), (e, r) => done(e, r?.job as Job)),
      token,
    );
  }

  cancelJob(token: string | undefined, jobId: string): Promise<Job | undefined> {
    return this.unary<Job | undefined>(
      (md, done) => this.jobs.cancelJob({ jobId }, md, opts(), (e, r) => done(e, r?.job)),
      token,
    );
  }

  submitJob(token: string | undefined, req: SubmitJobRequest): Promise<string> {
    return this.unary<string>(
      (md, done) => this.jobs.submitJob(req, md, opts(), (e, r) => done(e, r?.job?.id ?? '')),
      token,
    );
  }

  listAgents(token: string | undefined): Promise<AgentInfo[]> {
    return this.unary<AgentInfo[]>(
      (md, done) => this.agents.listAgents({ includeLost: true }, md, opts(), (e, r) => done(e, r?.agents ?? [])),
      token,
    );
  }

  /** The output stream of a job (GetJobOutput), chunk by chunk. */
  output(token: string | undefined, jobId: string, format: string): grpc.ClientReadableStream<GetJobOutputResponse> {
    return this.jobs.getJobOutput({ jobId, format, frame: 0 }, metadata(token));
  }

  close(): void {
    this.jobs.close();
    this.agents.close();
  }

  private unary<T>(
    call: (md: grpc.Metadata, done: (e: grpc.ServiceError | null, v: T) => void) => void,
    token?: string,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) =>
      call(metadata(token), (e, v) => (e ? reject(new ConsoleApiError(e.code, e.details || e.message)) : resolve(v))),
    );
  }
}

/** The caller's token as gRPC metadata (none when the console runs without auth). */
function metadata(token: string | undefined): grpc.Metadata {
  const md = new grpc.Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  return md;
}

/** Loopback calls are short: a stuck leader is reported, not waited on forever. */
function opts(): grpc.CallOptions {
  return { deadline: Date.now() + 30_000 };
}
