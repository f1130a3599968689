/**
 * NATS users per role (deploy/nats/permissions.conf) on a real nats-server started with that file:
 * the real coordinator and agents run a real job on their own users; a client without credentials
 * is refused; an agent cannot write job state, publish job events or cancel notices, or manage the
 * state stream; a viewer watches job events and reads state but cannot publish work results.
 *
 * Refusals are observed where NATS reports them: a request (JetStream publish, API call) to a
 * denied subject rejects with the server's "Permissions Violation for Publish to ..." error; a plain
 * publish gets the same error asynchronously on the connection's status stream. Each one is then
 * checked for effect: the value read back with the coordinator's user did not change.
 */
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { Objm } from '@nats-io/obj';
import {
  BLOB_CHUNK_BYTES,
  CancelNotice,
  JobState,
  ShardResult,
  WatchJobResponse,
  blobKeys,
  farmNames,
} from '@tessera/protocol';
import { ModelStore } from '@tessera/models';
import { startFarm, waitForParked, type Farm } from './helpers/farm.js';
import { baboonCrop } from './helpers/images.js';
import { startNats, type TestNats } from './helpers/nats-server.js';
import { repoRoot, waitFor } from './helpers/process.js';

/** The prefix deploy/nats/permissions.conf is written for (the services' default). */
const PREFIX = 'tessera';
const names = farmNames(PREFIX);
const STATE_STREAM = `KV_${names.stateBucket}`;
const BLOB_STREAM = `OBJ_${names.blobBucket}`;
const PERMISSIONS_CONF = join(repoRoot, 'deploy/nats/permissions.conf');

const secret = () => randomBytes(24).toString('base64');
const users = {
  coordinator: { user: 'tessera-coordinator', password: secret() },
  agent: { user: 'tessera-agent', password: secret() },
  viewer: { user: 'tessera-viewer', password: secret() },
};
const dec = new TextDecoder();
/** Name of this test's own connections, which the server's log lines carry. */
const PROBE = 'permissions-probe';

/** A connection as one role, with the permission errors the server sent it. */
interface RoleConnection {
  nc: NatsConnection;
  errors: string[];
}

const violation = (subject: string) =>
  new RegExp(`Permissions Violation for Publish to "${subject.replace(/[$.*>]/g, '\\$&')}"`);

/** `p`, or a rejection naming `what` after `ms` (a refused flow-control reply stalls a read). */
function within<T>(ms: number, p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

describe('NATS users per role (deploy/nats/permissions.conf)', () => {
  let nats: TestNats;
  let farm: Farm;
  const conns: NatsConnection[] = [];
  let jobId = '';
  let outputSha256 = '';
  const viewerEvents: { subject: string; event: string }[] = [];

  const as = async (role: keyof typeof users): Promise<RoleConnection> => {
    const nc = await connect({
      servers: nats.url,
      user: users[role].user,
      pass: users[role].password,
      name: `${PROBE} ${role}`,
    });
    conns.push(nc);
    const errors: string[] = [];
    void (async () => {
      for await (const s of nc.status()) if (s.type === 'error') errors.push(String(s.error.message));
    })();
    return { nc, errors };
  };
  /** Refusals the server logged for connections other than this test's own. */
  const serviceViolations = () =>
    nats
      .log()
      .split('\n')
      .filter((l) => /Violation/.test(l) && !l.includes(PROBE));
  /** Publishes with no reply expected, then waits for the server's refusal on the status stream. */
  const refusedPublish = async (c: RoleConnection, subject: string, data: Uint8Array | string) => {
    c.nc.publish(subject, data);
    await c.nc.flush();
    await waitFor(() => c.errors.some((e) => violation(subject).test(e)), 5_000, `the refusal of ${subject}`);
  };

  beforeAll(async () => {
    nats = await startNats({
      configFile: PERMISSIONS_CONF,
      env: {
        TESSERA_NATS_COORDINATOR_PASSWORD: users.coordinator.password,
        TESSERA_NATS_AGENT_PASSWORD: users.agent.password,
        TESSERA_NATS_VIEWER_PASSWORD: users.viewer.password,
      },
    });
    farm = await startFarm({
      nats,
      farmPrefix: PREFIX,
      natsAuth: { coordinator: users.coordinator, agent: users.agent },
      // Renewals every 200 ms, so that a short job exercises them too.
      coordinatorArgs: ['--lease-ms', '800'],
      agents: [
        { name: 'perm-a', vramGb: 8 },
        { name: 'perm-b', vramGb: 8 },
      ],
    });
  });
  afterAll(async () => {
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    await farm?.close();
    await nats?.stop();
  });

  it('runs a real upscale job with the coordinator and the agents on their own users; a viewer watches it', async () => {
    // A listener on the coordinator's user: which farm subjects the services really used.
    const monitor = await as('coordinator');
    const used = new Set<string>();
    monitor.nc.subscribe(`${PREFIX}.>`, {
      callback: (_e, m) => {
        used.add(m.subject.startsWith(`${PREFIX}.events.job.`) ? names.allJobEvents : m.subject);
      },
    });
    await monitor.nc.flush();
    const viewer = await as('viewer');
    viewer.nc.subscribe(names.allJobEvents, {
      callback: (_e, m) => {
        viewerEvents.push({ subject: m.subject, event: WatchJobResponse.decode(m.data).event });
      },
    });
    await viewer.nc.flush();
    // Both agents waiting: the first dispatch pass gives each a tile.
    await waitForParked(farm, 2);
    const job = await farm.client.submitUpscale({
      image: await baboonCrop(0, 0, 64, 64),
      model: 'esrgan-slim-x2',
      tile: 48,
    });
    // Bounded: a service refused a subject it needs would otherwise leave the job waiting.
    const done = await farm.client.waitForJob(job.id, undefined, { signal: AbortSignal.timeout(30_000) });
    expect(done.state, done.error).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect([done.outputWidth, done.outputHeight]).toEqual([128, 128]);
    expect(done.shardsTotal).toBeGreaterThan(1);
    jobId = done.id;
    outputSha256 = done.outputSha256;
    // Both agents took part, every agent subject was used (leases were renewed: the first shard on
    // each agent loads the model for longer than the 200 ms renewal period), and the server refused
    // nothing: it logs every publish or subscription a user's permissions deny.
    const detail = await farm.client.getJob(job.id);
    expect(new Set(detail.shards.map((s) => s.agent))).toEqual(new Set(['perm-a', 'perm-b']));
    expect([...used].sort()).toEqual(
      [names.heartbeat, names.allJobEvents, names.workRenew, names.workRequest, names.workResult].sort(),
    );
    expect(nats.log()).not.toMatch(/(Publish|Subscription) Violation/);
    expect(nats.log()).toMatch(/Server is ready/);
    for (const p of [farm.coordinator, ...farm.agents.values()]) {
      expect(p.output(), `${p.name} log`).not.toMatch(/permissions violation/i);
    }
    // The viewer saw the job's events on its own user.
    await waitFor(() => viewerEvents.some((e) => e.event === 'job'), 5_000, 'job events at the viewer');
    expect(viewerEvents.every((e) => e.subject === names.jobEvents(jobId))).toBe(true);
    expect(viewer.errors).toEqual([]);
  });

  it('refuses clients without credentials or with a wrong password', async () => {
    await expect(connect({ servers: nats.url, reconnect: false })).rejects.toMatchObject({
      name: 'AuthorizationError',
      message: expect.stringMatching(/authorization violation/i),
    });
    await expect(
      connect({ servers: nats.url, reconnect: false, user: users.agent.user, pass: users.viewer.password }),
    ).rejects.toMatchObject({ name: 'AuthorizationError' });
  });

  it('an agent cannot write job state, publish job events or cancel notices, or manage the state stream', async () => {
    expect(jobId).not.toBe('');
    const key = `job.${jobId}`;
    const coordinator = await as('coordinator');
    const ckv = await new Kvm(jetstream(coordinator.nc)).open(names.stateBucket);
    const before = await ckv.get(key);
    expect(before?.operation).toBe('PUT');
    expect(JSON.parse(before!.string())).toMatchObject({ state: 'succeeded' });
    const forged = new TextEncoder().encode(JSON.stringify({ ...JSON.parse(before!.string()), state: 'cancelled' }));

    const agent = await as('agent');
    // What an agent may do works on its own user: open the blob bucket, read a blob, write one.
    const os = await new Objm(jetstream(agent.nc)).open(names.blobBucket);
    const output = await os.getBlob(blobKeys.jobOutput(jobId));
    expect(createHash('sha256').update(output!).digest('hex')).toBe(outputSha256);
    // A tile-sized blob (a 1024×1024 RGB8 output) in 512 KiB chunks, as the agent writes them; reading
    // it back needs the flow-control replies ($JS.FC) of the ordered consumer.
    const tile = randomBytes(3 * 1024 * 1024);
    const tileKey = blobKeys.shardOutput(jobId, 0, 99);
    await os.putBlob({ name: tileKey, options: { max_chunk_size: BLOB_CHUNK_BYTES } }, tile);
    const back = await within(10_000, os.getBlob(tileKey), 'reading the tile back');
    expect(Buffer.from(back!).equals(tile)).toBe(true);

    // KV writes are JetStream publishes to $KV.<bucket>.<key>: refused, as a request and as a publish.
    const kv = await new Kvm(jetstream(agent.nc)).open(names.stateBucket);
    await expect(kv.put(key, forged)).rejects.toThrow(violation(`$KV.${names.stateBucket}.${key}`));
    await expect(kv.put('job.x', forged)).rejects.toThrow(violation(`$KV.${names.stateBucket}.job.x`));
    await expect(kv.delete(key)).rejects.toThrow(violation(`$KV.${names.stateBucket}.${key}`));
    await refusedPublish(agent, `$KV.${names.stateBucket}.${key}`, forged);
    // Reads of the state are not an agent's either.
    await expect(kv.get(key)).rejects.toThrow(violation(`$JS.API.STREAM.MSG.GET.${STATE_STREAM}`));

    // Stream management of the state stream (and of the blob stream) is refused.
    const jsm = await jetstreamManager(agent.nc);
    await expect(jsm.streams.purge(STATE_STREAM)).rejects.toThrow(violation(`$JS.API.STREAM.PURGE.${STATE_STREAM}`));
    await expect(jsm.streams.purge(STATE_STREAM, { filter: `$KV.${names.stateBucket}.${key}` })).rejects.toThrow(
      violation(`$JS.API.STREAM.PURGE.${STATE_STREAM}`),
    );
    await expect(jsm.streams.delete(STATE_STREAM)).rejects.toThrow(violation(`$JS.API.STREAM.DELETE.${STATE_STREAM}`));
    await expect(jsm.streams.deleteMessage(STATE_STREAM, before!.revision)).rejects.toThrow(
      violation(`$JS.API.STREAM.MSG.DELETE.${STATE_STREAM}`),
    );
    await expect(jsm.streams.info(STATE_STREAM)).rejects.toThrow(violation(`$JS.API.STREAM.INFO.${STATE_STREAM}`));
    await expect(jsm.streams.purge(BLOB_STREAM)).rejects.toThrow(violation(`$JS.API.STREAM.PURGE.${BLOB_STREAM}`));
    await expect(jsm.streams.delete(BLOB_STREAM)).rejects.toThrow(violation(`$JS.API.STREAM.DELETE.${BLOB_STREAM}`));

    // Nor through a consumer of the blob stream that an agent may create, delivering a blob chunk it
    // wrote onto the state bucket's subject: JetStream delivers a push consumer's messages only to
    // subscribers, and no user may subscribe to $KV.>, so nothing is delivered and nothing stored.
    const chunk = `$O.${names.blobBucket}.C.permcheck${randomBytes(4).toString('hex')}`;
    await jetstream(agent.nc).publish(chunk, forged);
    await jsm.consumers.add(BLOB_STREAM, {
      name: 'permcheck',
      filter_subject: chunk,
      deliver_subject: `$KV.${names.stateBucket}.${key}`,
      ack_policy: AckPolicy.None,
    });

    // Cancel notices and job events: refused; a coordinator-side subscriber sees only the
    // coordinator's own probe messages on the same subjects.
    const heard: string[] = [];
    coordinator.nc.subscribe(names.cancel, {
      callback: (_e, m) => {
        heard.push(`cancel ${CancelNotice.decode(m.data).jobId}`);
      },
    });
    coordinator.nc.subscribe(names.allJobEvents, {
      callback: (_e, m) => {
        heard.push(`event ${m.subject} ${WatchJobResponse.decode(m.data).event}`);
      },
    });
    await coordinator.nc.flush();
    await refusedPublish(agent, names.cancel, CancelNotice.encode({ jobId }).finish());
    const fakeEvent = WatchJobResponse.encode({
      event: 'job',
      job: { ...(await farm.client.getJob(jobId)), state: JobState.JOB_STATE_FAILED },
      shard: undefined,
      unixMs: Date.now(),
    }).finish();
    await refusedPublish(agent, names.jobEvents(jobId), fakeEvent);
    coordinator.nc.publish(names.cancel, CancelNotice.encode({ jobId: 'probe' }).finish());
    coordinator.nc.publish(
      names.jobEvents('probe'),
      WatchJobResponse.encode({ event: 'probe', job: undefined, shard: undefined, unixMs: 0 }).finish(),
    );
    await waitFor(() => heard.length >= 2, 5_000, 'the probe messages');
    await new Promise((r) => setTimeout(r, 200));
    expect(heard.sort()).toEqual(['cancel probe', `event ${names.jobEvents('probe')} probe`]);

    // Read back with the coordinator's user: the record is the one the coordinator wrote.
    const after = await ckv.get(key);
    expect(after?.revision).toBe(before!.revision);
    expect(after?.operation).toBe('PUT');
    expect(dec.decode(after!.value)).toBe(dec.decode(before!.value));
    expect(await ckv.get('job.x')).toBeNull();
    const cjsm = await jetstreamManager(coordinator.nc);
    expect((await cjsm.consumers.info(BLOB_STREAM, 'permcheck')).delivered.stream_seq).toBe(0);
    expect((await farm.client.getJob(jobId)).state).toBe(JobState.JOB_STATE_SUCCEEDED);
    // The server logged the refusals, each one for this test's connections, none for the services'.
    expect(nats.log()).toContain(`${PROBE} agent" - Publish Violation - User "tessera-agent"`);
    expect(serviceViolations()).toEqual([]);
  });

  it('a viewer reads job events and state but cannot publish work results, events or state', async () => {
    expect(viewerEvents.length).toBeGreaterThan(0);
    const viewer = await as('viewer');
    const kv = await new Kvm(jetstream(viewer.nc)).open(names.stateBucket);
    const record = await kv.get(`job.${jobId}`);
    expect(JSON.parse(record!.string())).toMatchObject({ state: 'succeeded' });
    // The same through a direct get ($JS.API.DIRECT.GET.<stream>.<subject>), as Kvm.create binds.
    const direct = await new Kvm(jetstream(viewer.nc)).open(names.stateBucket, { allow_direct: true });
    expect((await direct.get(`job.${jobId}`))?.string()).toBe(record!.string());
    expect((await kv.status()).values).toBeGreaterThan(0);
    const keys: string[] = [];
    for await (const k of await kv.keys()) keys.push(k);
    expect(keys).toContain(`job.${jobId}`);

    const result = ShardResult.encode(
      ShardResult.fromPartial({ ref: { jobId, shardIndex: 0, fencingToken: 1 }, agentId: 'viewer', ok: true }),
    ).finish();
    await expect(viewer.nc.request(names.workResult, result, { timeout: 2_000 })).rejects.toThrow(
      violation(names.workResult),
    );
    await expect(viewer.nc.request(names.workRequest, new Uint8Array(), { timeout: 2_000 })).rejects.toThrow(
      violation(names.workRequest),
    );
    await refusedPublish(viewer, names.jobEvents(jobId), new Uint8Array());
    await refusedPublish(viewer, names.cancel, CancelNotice.encode({ jobId }).finish());
    await expect(kv.put(`job.${jobId}`, new Uint8Array())).rejects.toThrow(
      violation(`$KV.${names.stateBucket}.job.${jobId}`),
    );
    // Nor listen in on the agents' work traffic.
    const sub = viewer.nc.subscribe(names.workRequest);
    await viewer.nc.flush();
    const closed = await Promise.race([sub.closed, new Promise((r) => setTimeout(() => r('open'), 3_000))]);
    expect(String(closed)).toMatch(/Permissions Violation for Subscription to "tessera\.work\.request"/);
    expect((await farm.client.getJob(jobId)).state).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect(serviceViolations()).toEqual([]);
  });

  it('an agent reads the model store (manifests and files) but cannot write to it', async () => {
    // The coordinator created the store's buckets at start; an admin pushes through the coordinator's user.
    const coordinator = await as('coordinator');
    const admin = await ModelStore.open(coordinator.nc, { farm: PREFIX });
    const data = randomBytes(300_000);
    const sha256 = createHash('sha256').update(data).digest('hex');
    async function* bytes() {
      yield data;
    }
    await admin.putStream('perm-model', 'w.bin', bytes(), { sha256, size: data.length });
    const m = await admin.commit('perm-model', [{ path: 'w.bin', sha256, size: data.length }]);
    const agent = await as('agent');
    const store = await ModelStore.open(agent.nc, { farm: PREFIX });
    expect((await store.manifest('perm-model'))?.digest).toBe(m.digest);
    const parts: Uint8Array[] = [];
    for await (const c of store.read('perm-model', m.files[0])) parts.push(c);
    expect(Buffer.concat(parts).equals(data)).toBe(true);
    await expect(
      within(5_000, store.putStream('perm-model', 'x', bytes(), { sha256, size: data.length }), 'agent model write'),
    ).rejects.toThrow();
    expect(await admin.has({ sha256, size: data.length })).toBe(true);
    expect(serviceViolations()).toEqual([]);
  });
});
