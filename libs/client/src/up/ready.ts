import { setTimeout as sleep } from 'node:timers/promises';
import type { AgentInfo } from '@tessera/protocol';
import type { TesseraClient } from '../client.js';
import { TesseraRpcError } from '../errors.js';

/**
 * Polls ListAgents until at least `count` agents are listed, tolerating a coordinator that is not up
 * yet (any RPC error is retried). Rejects after `timeoutMs` naming the last error or the agents seen.
 */
export async function waitForAgents(
  client: TesseraClient,
  count: number,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<AgentInfo[]> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    try {
      const agents = await client.listAgents({}, { signal, deadlineMs: 2_000 });
      if (agents.length >= count) return agents;
      last = `${agents.length} of ${count} agents registered`;
    } catch (err) {
      if (!(err instanceof TesseraRpcError)) throw err;
      last = `${err.code}: ${err.details}`;
    }
    if (Date.now() > deadline) {
      throw new Error(`the farm at ${client.address} was not ready within ${Math.round(timeoutMs / 1000)} s (${last})`);
    }
    await sleep(500, undefined, { signal });
  }
}
