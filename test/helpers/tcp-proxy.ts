/**
 * A TCP proxy for fault tests: a client (an agent, a coordinator) connects to the proxy, the proxy
 * to the real server (nats-server). `sever()` drops every connection through it at once — the client
 * sees its connection reset — and can refuse new connections for a while before accepting them
 * again, so the client's reconnect loop is exercised too. `loseReplyTo()` lets one request through
 * and drops the connection before the server's reply gets back: the server applied a write whose
 * acknowledgement the client never sees; `loseRequest()` drops the request itself with the
 * connection. The server and every other client are untouched.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  /** The proxy's port on 127.0.0.1. */
  readonly port: number;
  /** `nats://127.0.0.1:PORT` for a NATS client. */
  readonly url: string;
  /** Connections open through the proxy now. */
  open(): number;
  /**
   * Resets every connection through the proxy; for `refuseMs` afterwards new connections are
   * reset as soon as they are accepted. Returns the number of connections cut.
   */
  sever(refuseMs?: number): number;
  /** Connections cut by `sever` so far (not counting refused ones). */
  severed(): number;
  /**
   * Arms a lost reply: the next chunk a client sends that `match`es is forwarded to the server,
   * then nothing more from the server reaches that client and the connection is closed. Resolves
   * once it has fired.
   */
  loseReplyTo(match: (clientBytes: string) => boolean): Promise<void>;
  /**
   * Arms a lost request: the next chunk a client sends that `match`es never reaches the server,
   * and the connection is cut. Resolves once it has fired.
   */
  loseRequest(match: (clientBytes: string) => boolean): Promise<void>;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  /** Server bytes are no longer forwarded (a lost reply). */
  muted: boolean;
}

/** Starts a proxy on a free port of 127.0.0.1 forwarding to `targetPort` on 127.0.0.1. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let refuseUntil = 0;
  let cut = 0;
  let trap: { match: (s: string) => boolean; fired: () => void; request: boolean } | undefined;
  const server: Server = createServer((client) => {
    if (Date.now() < refuseUntil) {
      client.on('error', () => {});
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    const pair: Pair = { client, upstream, muted: false };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    // Either side closing or failing (the server restarting, a sever) closes the other.
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      s.on('error', end);
      s.on('close', end);
    }
    client.on('data', (d: Buffer) => {
      const t = trap;
      if (t?.request && t.match(d.toString('latin1'))) {
        trap = undefined;
        pair.muted = true;
        end();
        t.fired();
        return;
      }
      upstream.write(d);
      if (t && t.match(d.toString('latin1'))) {
        trap = undefined;
        pair.muted = true;
        // Closed once the request is on its way: the server still reads and applies it.
        upstream.end(() => end());
        t.fired();
      }
    });
    upstream.on('data', (d: Buffer) => {
      if (!pair.muted) client.write(d);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    open: () => pairs.size,
    sever(refuseMs = 0) {
      refuseUntil = Date.now() + refuseMs;
      const n = pairs.size;
      for (const { client, upstream } of [...pairs]) {
        // A reset, not a FIN: the client learns at once that its connection is gone.
        if (!client.destroyed) client.resetAndDestroy();
        upstream.destroy();
      }
      pairs.clear();
      cut += n;
      return n;
    },
    severed: () => cut,
    loseReplyTo: (match) => new Promise<void>((fired) => (trap = { match, fired, request: false })),
    loseRequest: (match) => new Promise<void>((fired) => (trap = { match, fired, request: true })),
    async close() {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
