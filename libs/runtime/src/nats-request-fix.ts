/**
 * A work-around for a cost in the NATS client (nats.js 3.4, `RequestOne` in @nats-io/nats-core):
 * when a request gets its reply, the client resolves the promise and then calls `cancel()`, which
 * builds `new RequestError("cancelled")` (an Error, so V8 captures a stack trace) only to reject the
 * promise it has just resolved, a no-op. Every request pays for it: each JetStream publish
 * (KV write, object-store chunk), each direct get, each work request and result. Under
 * `npm run bench -- load` that Error was 7.8 % of the coordinator's CPU and 6.4 % of the agents'.
 *
 * The fix replaces the reply path with the same steps minus the discarded error: cancel the timer,
 * resolve, unregister from the connection's request multiplexer. Errors and timeouts take the
 * client's own path. It is applied only when the client's code has the shape it was written
 * against (a later client that changed it is left alone); test/nats-request-fix.test.ts checks
 * replies, timeouts and "no responders" on a real server with it applied.
 */
import { RequestOne } from '@nats-io/nats-core/internal';

interface RequestOneInternals {
  timer?: { cancel(): void };
  deferred: { resolve(v: unknown): void };
  mux: { cancel(r: unknown): void };
}
type Resolver = (this: RequestOneInternals, err: Error | null, msg: unknown) => void;

const FIXED = Symbol.for('tessera.requestOneReplyPath');

/** Applies the fix once per process; true when it is in place. */
export function fixRequestReplyPath(): boolean {
  const proto = RequestOne.prototype as unknown as { resolver: Resolver; [FIXED]?: true };
  if (proto[FIXED]) return true;
  const original = proto.resolver;
  const source = original.toString();
  // The shape the fix assumes: on success, resolve and then this.cancel().
  if (!/this\.deferred\.resolve\(msg\)[\s\S]*this\.cancel\(\)/.test(source) || !/this\.timer/.test(source))
    return false;
  proto.resolver = function (this: RequestOneInternals, err, msg) {
    if (err) return original.call(this, err, msg);
    this.timer?.cancel();
    this.deferred.resolve(msg);
    this.mux.cancel(this);
  };
  proto[FIXED] = true;
  return true;
}
