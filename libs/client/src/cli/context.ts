import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { TesseraClient } from '../client.js';
import type { TlsOptions } from '../options.js';
import { UsageError } from './options.js';

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
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsServerName?: string;
  timeout: number;
}

/** The TLS settings of the global options: off, system roots, or the given files (read now). */
export function tlsOptionsOf(g: GlobalOptions): TlsOptions | boolean {
  if (!g.tlsCa && !g.tlsCert && !g.tlsKey && !g.tlsServerName) return g.tls;
  if (!g.tlsCert !== !g.tlsKey) throw new UsageError('--tls-cert and --tls-key go together (mutual TLS)');
  const read = (flag: string, file: string | undefined): Buffer | undefined => {
    if (!file) return undefined;
    try {
      return readFileSync(file);
    } catch (e) {
      throw new UsageError(`${flag}: cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  return {
    rootCerts: read('--tls-ca', g.tlsCa),
    certChain: read('--tls-cert', g.tlsCert),
    privateKey: read('--tls-key', g.tlsKey),
    serverName: g.tlsServerName || undefined,
  };
}

/** Builds a client from the global options of the command being run. The caller closes it. */
export function clientFor(cmd: Command): TesseraClient {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  return new TesseraClient(g.server, { token: g.token, tls: tlsOptionsOf(g), deadlineMs: g.timeout * 1000 });
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
