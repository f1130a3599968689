import type { Command } from 'commander';
import { TesseraClient } from '../client.js';

/** What every command action gets: the process-wide cancellation signal (Ctrl-C) and stdout/stderr. */
export interface CliContext {
  signal: AbortSignal;
  out(line: string): void;
  err(line: string): void;
}

/** Global options, as parsed from the program (see program.ts). */
export interface GlobalOptions {
  server: string;
  token?: string;
  tls: boolean;
  timeout: number;
}

/** Builds a client from the global options of the command being run. The caller closes it. */
export function clientFor(cmd: Command): TesseraClient {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  return new TesseraClient(g.server, { token: g.token, tls: g.tls, deadlineMs: g.timeout * 1000 });
}

/** Runs `fn` with a client for `cmd`, closing it afterwards. */
export async function withClient<T>(cmd: Command, fn: (client: TesseraClient) => Promise<T>): Promise<T> {
  const client = clientFor(cmd);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

/** Pretty JSON for one value (status, jobs, agents). */
export function toJsonText(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
