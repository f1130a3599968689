import { describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import {
  AgentState,
  JobKind,
  JobState,
  ShardState,
  type AgentInfo,
  type Job,
  type ShardStatus,
} from '@tessera/protocol';
import { OutputIntegrityError, TesseraRpcError, toRpcError } from './errors.js';
import { formatCliError } from './format/errors.js';
import { agentToJson, jobToJson, watchEventToJson } from './format/json.js';
import { formatAgentsTable, formatBytes, formatJobStatus, formatJobsTable, renderTable } from './format/table.js';
import { agentStateName, isFinalJobState, jobKindName, jobStateName, shardStateName } from './states.js';
import { progressLine } from './cli/progress.js';
import { finalLine } from './cli/jobs.js';

function shard(over: Partial<ShardStatus> = {}): ShardStatus {
  return {
    index: 2,
    stage: 'upscale',
    state: ShardState.SHARD_STATE_LEASED,
    attempts: 2,
    agent: 'local-3',
    agentVramClass: '24gb',
    requiredVramClass: '6gb',
    region: { x: 256, y: 0, width: 256, height: 128 },
    reason: 'retried after lease expiry',
    runSeconds: 0,
    firstFrame: 0,
    frameCount: 0,
    dependsOn: -1,
    decodeChunk: 0,
    backupAgent: '',
    backupAttempt: 0,
    ...over,
  };
}

function job(over: Partial<Job> = {}): Job {
  return {
    id: 'j-1',
    name: 'baboon',
    kind: JobKind.JOB_KIND_UPSCALE,
    state: JobState.JOB_STATE_RUNNING,
    model: 'esrgan-slim-x4',
    seed: 1,
    priority: 5,
    createdUnixMs: Date.UTC(2025, 0, 2, 3, 4, 5),
    startedUnixMs: Date.UTC(2025, 0, 2, 3, 4, 6),
    finishedUnixMs: 0,
    shardsTotal: 4,
    shardsDone: 1,
    waitingReason: '',
    error: '',
    inputWidth: 128,
    inputHeight: 96,
    outputWidth: 512,
    outputHeight: 384,
    tile: 64,
    overlap: 8,
    outputBytes: 0,
    outputSha256: '',
    outputContentType: '',
    shards: [shard()],
    outputs: [],
    frames: 0,
    fps: 0,
    owner: '',
    ...over,
  };
}

function agent(over: Partial<AgentInfo> = {}): AgentInfo {
  return {
    id: 'a-1',
    name: 'local-1',
    hostname: 'box',
    deviceIndex: 0,
    deviceName: 'NVIDIA H100',
    vramTotalGb: 80,
    vramUsableGb: 78,
    vramClass: '48gb',
    state: AgentState.AGENT_STATE_BUSY,
    executionProvider: 'cuda',
    modelsLoaded: ['esrgan-slim-x4'],
    lastSeenUnixMs: Date.UTC(2025, 0, 2),
    shardsCompleted: 12,
    currentShard: 'j-1/2',
    version: '0.1.0',
    ...over,
  };
}

describe('state names', () => {
  it('are the proto names, lower-case, without the prefix', () => {
    expect(jobStateName(JobState.JOB_STATE_SUCCEEDED)).toBe('succeeded');
    expect(jobStateName(JobState.JOB_STATE_QUEUED)).toBe('queued');
    expect(jobStateName(JobState.JOB_STATE_ASSEMBLING)).toBe('assembling');
    expect(shardStateName(ShardState.SHARD_STATE_LEASED)).toBe('leased');
    expect(shardStateName(ShardState.SHARD_STATE_DONE)).toBe('done');
    expect(jobKindName(JobKind.JOB_KIND_UPSCALE)).toBe('upscale');
    expect(agentStateName(AgentState.AGENT_STATE_LOST)).toBe('lost');
    expect(jobStateName(99 as JobState)).toBe('unrecognized');
  });

  it('final states are succeeded, failed and cancelled', () => {
    const final = Object.values(JobState).filter((s): s is JobState => typeof s === 'number' && isFinalJobState(s));
    expect(final.map(jobStateName).sort()).toEqual(['cancelled', 'failed', 'succeeded']);
  });
});

describe('jobToJson', () => {
  it('produces exactly the documented keys, in order', () => {
    const j = jobToJson(job());
    expect(Object.keys(j)).toEqual([
      'id',
      'name',
      'kind',
      'state',
      'model',
      'shardsTotal',
      'shardsDone',
      'waitingReason',
      'error',
      'createdAt',
      'startedAt',
      'finishedAt',
      'input',
      'output',
      'tile',
      'overlap',
      'shards',
      'frames',
      'fps',
      'outputs',
      'owner',
    ]);
    expect(Object.keys(j.shards[0] ?? {})).toEqual([
      'index',
      'stage',
      'state',
      'attempts',
      'agent',
      'agentVramClass',
      'requiredVramClass',
      'region',
      'reason',
      'runSeconds',
      'firstFrame',
      'frameCount',
      'dependsOn',
      'decodeChunk',
      'backupAgent',
      'backupAttempt',
    ]);
  });

  it('maps values, times and shards', () => {
    expect(jobToJson(job())).toEqual({
      id: 'j-1',
      name: 'baboon',
      kind: 'upscale',
      state: 'running',
      model: 'esrgan-slim-x4',
      shardsTotal: 4,
      shardsDone: 1,
      waitingReason: '',
      error: '',
      createdAt: '2025-01-02T03:04:05.000Z',
      startedAt: '2025-01-02T03:04:06.000Z',
      finishedAt: null,
      input: { width: 128, height: 96 },
      output: { width: 512, height: 384, bytes: 0, sha256: '' },
      tile: 64,
      overlap: 8,
      shards: [
        {
          index: 2,
          stage: 'upscale',
          state: 'leased',
          attempts: 2,
          agent: 'local-3',
          agentVramClass: '24gb',
          requiredVramClass: '6gb',
          region: { x: 256, y: 0, width: 256, height: 128 },
          reason: 'retried after lease expiry',
          runSeconds: 0,
          firstFrame: 0,
          frameCount: 0,
          dependsOn: -1,
          decodeChunk: 0,
          backupAgent: '',
          backupAttempt: 0,
        },
      ],
      frames: 0,
      fps: 0,
      outputs: [],
      owner: '',
    });
  });

  it('fills a missing region with zeros', () => {
    expect(jobToJson(job({ shards: [shard({ region: undefined })] })).shards[0]?.region).toEqual({
      x: 0,
      y: 0,
      width: 0,
      height: 0,
    });
  });
});

describe('agentToJson and watchEventToJson', () => {
  it('maps an agent to the documented shape', () => {
    expect(agentToJson(agent())).toEqual({
      id: 'a-1',
      name: 'local-1',
      hostname: 'box',
      deviceIndex: 0,
      deviceName: 'NVIDIA H100',
      vramGb: 80,
      usableVramGb: 78,
      vramClass: '48gb',
      state: 'busy',
      executionProvider: 'cuda',
      modelsLoaded: ['esrgan-slim-x4'],
      lastSeen: '2025-01-02T00:00:00.000Z',
      shardsCompleted: 12,
      currentShard: 'j-1/2',
    });
  });

  it('maps a watch event; shard is null unless set', () => {
    const e = watchEventToJson({ event: 'snapshot', job: job(), shard: undefined, unixMs: 0 });
    expect(e.event).toBe('snapshot');
    expect(e.at).toBeNull();
    expect(e.shard).toBeNull();
    expect(e.job?.state).toBe('running');
    expect(watchEventToJson({ event: 'shard', job: undefined, shard: shard(), unixMs: 1 }).shard?.state).toBe('leased');
  });
});

describe('tables', () => {
  it('renderTable aligns columns without trailing blanks', () => {
    expect(
      renderTable(
        ['A', 'LONG'],
        [
          ['xyz', ''],
          ['1', '2'],
        ],
      ),
    ).toBe('A    LONG\nxyz\n1    2');
  });

  it('formatBytes', () => {
    expect(formatBytes(12)).toBe('12 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(3 * 1024 * 1024)).toBe('3.0 MiB');
  });

  it('status shows the job, waiting reason, error and one row per shard', () => {
    const text = formatJobStatus(job({ waitingReason: 'no agent of class 24gb', error: '' }));
    expect(text).toContain('job       j-1 (baboon)');
    expect(text).toContain('state     running  1/4 shards done');
    expect(text).toContain('waiting   no agent of class 24gb');
    expect(text).toMatch(/SHARD\s+STAGE\s+STATE\s+ATTEMPTS\s+AGENT\s+CLASS\/NEEDS\s+REGION/);
    expect(text).toMatch(
      /\n2\s+upscale\s+leased\s+2\s+local-3\s+24gb\/6gb\s+256x128\+256\+0\s+-\s+retried after lease expiry$/,
    );
    const failed = formatJobStatus(
      job({ state: JobState.JOB_STATE_FAILED, error: 'shard 2: out of attempts', shards: [] }),
    );
    expect(failed).toContain('error     shard 2: out of attempts');
    expect(failed).not.toContain('SHARD');
  });

  it('status names the owner when the farm authenticates, and says nothing of it otherwise', () => {
    expect(formatJobStatus(job({ owner: 'alice' }))).toMatch(/^job {7}j-1 \(baboon\)\nowner {5}alice\nkind /);
    expect(formatJobStatus(job())).not.toContain('owner');
    expect(jobToJson(job({ owner: 'alice' })).owner).toBe('alice');
  });

  it('status shows output size and the run time once finished', () => {
    const done = job({
      state: JobState.JOB_STATE_SUCCEEDED,
      finishedUnixMs: Date.UTC(2025, 0, 2, 3, 4, 16),
      outputBytes: 2048,
      outputSha256: 'ab'.repeat(32),
    });
    const text = formatJobStatus(done);
    expect(text).toContain(`output    512x384  2.0 KiB  sha256 ${'ab'.repeat(32)}`);
    expect(text).toContain('finished  2025-01-02T03:04:16.000Z  (10.0 s)');
  });

  it('jobs and agents tables', () => {
    expect(formatJobsTable([])).toBe('no jobs');
    expect(formatJobsTable([job()])).toMatch(
      /^ID\s+KIND\s+STATE[^\n]*\nj-1\s+upscale\s+running\s+esrgan-slim-x4\s+1\/4/,
    );
    expect(formatAgentsTable([])).toBe('no agents');
    expect(
      formatAgentsTable([
        agent(),
        agent({ name: 'local-2', deviceIndex: -1, state: AgentState.AGENT_STATE_IDLE, currentShard: '' }),
      ]),
    ).toMatch(
      /local-1\s+box\s+0: NVIDIA H100\s+80 GB \(78 usable\)\s+48gb\s+busy\s+cuda\s+12\s+j-1\/2\s+esrgan-slim-x4\nlocal-2\s+box\s+cpu\s.*idle.*\s-\s/,
    );
  });

  it('progress and final lines', () => {
    expect(progressLine(job({ waitingReason: 'no 24gb agent' }))).toBe(
      'job j-1: running 1/4 shards (waiting: no 24gb agent)',
    );
    expect(
      finalLine(
        job({
          state: JobState.JOB_STATE_FAILED,
          shardsDone: 3,
          finishedUnixMs: Date.UTC(2025, 0, 2, 3, 4, 7),
          error: 'boom',
        }),
      ),
    ).toBe('job j-1 failed (3/4 shards, 2.0 s): boom');
  });
});

describe('errors', () => {
  it('translates a grpc ServiceError into TesseraRpcError with the status name', () => {
    const grpcErr = Object.assign(new Error('3 INVALID_ARGUMENT: upscale.model: unknown'), {
      code: status.INVALID_ARGUMENT,
      details: 'upscale.model: unknown',
      metadata: undefined,
    });
    const err = toRpcError(grpcErr, 'SubmitJob');
    expect(err).toBeInstanceOf(TesseraRpcError);
    expect(err).toMatchObject({
      name: 'TesseraRpcError',
      code: 'INVALID_ARGUMENT',
      grpcCode: 3,
      details: 'upscale.model: unknown',
      method: 'SubmitJob',
    });
    expect((err as Error).cause).toBe(grpcErr);
    expect(toRpcError(err, 'x')).toBe(err);
    const plain = new Error('plain');
    expect(toRpcError(plain, 'x')).toBe(plain);
  });

  it('formats the CLI line: tessera: CODE: details', () => {
    const details = 'upscale.model: unknown model "foo" (known: esrgan-slim-x2, esrgan-slim-x4)';
    expect(formatCliError(new TesseraRpcError(status.INVALID_ARGUMENT, details, 'SubmitJob'))).toBe(
      `tessera: INVALID_ARGUMENT: ${details}`,
    );
    expect(formatCliError(new TesseraRpcError(status.NOT_FOUND, 'job x not found', 'GetJob'), '127.0.0.1:1')).toBe(
      'tessera: NOT_FOUND: job x not found',
    );
    expect(
      formatCliError(
        new TesseraRpcError(status.UNAVAILABLE, 'connect ECONNREFUSED. Resolution note: ', 'GetJob'),
        'h:1',
      ),
    ).toBe(
      'tessera: UNAVAILABLE: connect ECONNREFUSED. (is a coordinator serving h:1? set --server or TESSERA_SERVER)',
    );
    expect(formatCliError(new OutputIntegrityError('sha256 mismatch', 'j-1'))).toBe(
      'tessera: DATA_LOSS: job j-1: sha256 mismatch',
    );
    expect(formatCliError(new Error('disk full'))).toBe('tessera: disk full');
    expect(formatCliError('odd')).toBe('tessera: odd');
  });
});
