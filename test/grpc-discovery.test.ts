/**
 * Any gRPC client can use the farm without our code: grpc.health.v1 reports SERVING, and server
 * reflection lists the services and serves their descriptors (what grpcurl and Python clients use).
 * Also cancel: a running job is cancelled, its shards stop, the farm keeps serving.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import sharp from 'sharp';
import { JobState, ShardState } from '@tessera/protocol';
import { startFarm, type Farm } from './helpers/farm.js';
import { waitFor } from './helpers/process.js';
import { baboonPng } from './helpers/images.js';

const require = createRequire(import.meta.url);

function loadService(file: string, includeDir: string, pkgPath: string[]): grpc.ServiceClientConstructor {
  const def = protoLoader.loadSync(file, {
    includeDirs: [includeDir],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  let o: unknown = grpc.loadPackageDefinition(def);
  for (const p of pkgPath) o = (o as Record<string, unknown>)[p];
  return o as grpc.ServiceClientConstructor;
}

describe('gRPC discovery and cancel', () => {
  let farm: Farm;
  beforeAll(async () => {
    farm = await startFarm({ agents: [{ name: 'one', vramGb: 8 }] });
  });
  afterAll(async () => farm?.close());

  it('health reports SERVING for the server and each service', async () => {
    const dir = join(dirname(require.resolve('grpc-health-check/package.json')), 'proto');
    const Health = loadService('health/v1/health.proto', dir, ['grpc', 'health', 'v1', 'Health']);
    const client = new Health(farm.grpcAddr, grpc.credentials.createInsecure());
    for (const service of ['', 'tessera.v1.JobService', 'tessera.v1.AgentService']) {
      const res = await new Promise<{ status: string }>((resolve, reject) =>
        client.check({ service }, (err: grpc.ServiceError | null, r: { status: string }) =>
          err ? reject(err) : resolve(r),
        ),
      );
      expect(res.status, service).toBe('SERVING');
    }
    client.close();
  });

  it('reflection lists the services and returns their file descriptors', async () => {
    const dir = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto');
    const Reflection = loadService('grpc/reflection/v1/reflection.proto', dir, [
      'grpc',
      'reflection',
      'v1',
      'ServerReflection',
    ]);
    const client = new Reflection(farm.grpcAddr, grpc.credentials.createInsecure());
    const ask = (req: object) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const call = client.ServerReflectionInfo();
        call.on('data', (d: Record<string, unknown>) => {
          resolve(d);
          call.end();
        });
        call.on('error', reject);
        call.write(req);
      });
    const list = (await ask({ list_services: '' })) as { list_services_response: { service: { name: string }[] } };
    const names = list.list_services_response.service.map((s) => s.name);
    expect(names).toEqual(
      expect.arrayContaining(['tessera.v1.JobService', 'tessera.v1.AgentService', 'grpc.health.v1.Health']),
    );
    // grpcurl describes and calls Health/Check from reflection alone.
    const health = (await ask({ file_containing_symbol: 'grpc.health.v1.Health' })) as {
      file_descriptor_response: { file_descriptor_proto: Buffer[] };
    };
    expect(
      health.file_descriptor_response.file_descriptor_proto.some((b) =>
        Buffer.from(b).toString('latin1').includes('HealthCheckRequest'),
      ),
    ).toBe(true);
    const file = (await ask({ file_containing_symbol: 'tessera.v1.JobService' })) as {
      file_descriptor_response: { file_descriptor_proto: Buffer[] };
    };
    const descriptors = file.file_descriptor_response.file_descriptor_proto.map((b) =>
      Buffer.from(b).toString('latin1'),
    );
    // @grpc/reflection serves one synthesized file per package (tessera_v1.proto) with every message and service.
    expect(
      descriptors.some(
        (d) =>
          d.includes('tessera.v1') && d.includes('JobService') && d.includes('SubmitJob') && d.includes('UpscaleSpec'),
      ),
    ).toBe(true);
    client.close();
  });

  it('cancel stops a running job and its shards; the farm keeps serving', async () => {
    const image = await sharp(baboonPng()).resize(384, 384, { kernel: 'lanczos3' }).png().toBuffer();
    const job = await farm.client.submitUpscale({ image, model: 'esrgan-slim-x4', tile: 96, overlap: 12 });
    await waitFor(
      async () => (await farm.client.getJob(job.id)).shards.some((s) => s.state === ShardState.SHARD_STATE_LEASED),
      30_000,
      'a leased shard',
      20,
    );
    const cancelled = await farm.client.cancelJob(job.id);
    expect(cancelled.state).toBe(JobState.JOB_STATE_CANCELLED);
    const after = await farm.client.getJob(job.id);
    expect(after.shards.some((s) => s.state === ShardState.SHARD_STATE_CANCELLED)).toBe(true);
    expect(
      after.shards.every(
        (s) => s.state === ShardState.SHARD_STATE_CANCELLED || s.state === ShardState.SHARD_STATE_DONE,
      ),
    ).toBe(true);
    // The agent abandons its running shard (its engine is killed) and takes the next job.
    await waitFor(
      () => farm.agents.get('one')!.output().includes('shard abandoned'),
      20_000,
      'the agent to abandon its shard',
    );
    const small = await sharp(baboonPng()).resize(64, 64).png().toBuffer();
    const next = await farm.client.submitUpscale({ image: small, model: 'esrgan-slim-x4' });
    expect((await farm.client.waitForJob(next.id)).state).toBe(JobState.JOB_STATE_SUCCEEDED);
  });
});
