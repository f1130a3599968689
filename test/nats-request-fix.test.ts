/**
 * @tessera/runtime's fix of the NATS client's reply path (libs/runtime/src/nats-request-fix.ts): it
 * applies to the client version in the lockfile, and requests still behave on a real server: replies,
 * many at once, no responders, timeouts, and JetStream calls.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, errors, type NatsConnection, type RequestError } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixRequestReplyPath } from '@tessera/runtime';
import { startNats, type TestNats } from './helpers/nats-server.js';

describe('fixRequestReplyPath', () => {
  let nats: TestNats;
  let nc: NatsConnection;

  beforeAll(async () => {
    // Applies to the installed client: if an upgrade changed its request code, this fails and the
    // fix (and its cost figures in docs/benchmarks.md) must be revisited.
    expect(fixRequestReplyPath()).toBe(true);
    expect(fixRequestReplyPath()).toBe(true); // once only
    nats = await startNats();
    nc = await connect({ servers: nats.url, noAsyncTraces: true });
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  it('replies arrive, many at once, each to its own request', async () => {
    const sub = nc.subscribe('echo.>', {
      callback: (_e, m) => {
        m.respond(new TextEncoder().encode(`re:${new TextDecoder().decode(m.data)}`));
      },
    });
    const replies = await Promise.all(
      Array.from({ length: 500 }, (_, i) => nc.request(`echo.${i % 7}`, new TextEncoder().encode(String(i)))),
    );
    expect(replies.map((m) => m.string())).toEqual(Array.from({ length: 500 }, (_, i) => `re:${i}`));
    sub.unsubscribe();
  });

  it('no responders and timeouts still reject with the client errors', async () => {
    const noOne = await nc.request('nobody.home').catch((e: unknown) => e);
    expect(noOne).toBeInstanceOf(errors.RequestError);
    expect((noOne as RequestError).isNoResponders()).toBe(true);
    const sub = nc.subscribe('silent', { callback: () => undefined });
    await nc.flush();
    await expect(nc.request('silent', undefined, { timeout: 200 })).rejects.toBeInstanceOf(errors.TimeoutError);
    sub.unsubscribe();
  });

  it('JetStream calls, which are requests, still work and still report API errors', async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'FIX', subjects: ['fix.>'] });
    const acks = await Promise.all(Array.from({ length: 50 }, (_, i) => jetstream(nc).publish(`fix.${i}`, 'x')));
    expect(acks.map((a) => a.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    await expect(jsm.streams.info('NO_SUCH_STREAM')).rejects.toThrow(/stream not found/);
  });
});
