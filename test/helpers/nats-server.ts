/**
 * A real nats-server for a test suite: `NATS_URL` when set (shared server, tests isolate themselves
 * with a unique farm prefix), otherwise the `nats-server` binary spawned on a free port with its
 * own JetStream directory, killable and restartable for fault tests. A suite that needs its own
 * server configuration (users, permissions) passes `configFile`; that always spawns a server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from './process.js';
import { connect, errors } from '@nats-io/transport-node';

export interface TestNats {
  /** nats://127.0.0.1:PORT */
  readonly url: string;
  /** True when this harness owns the process (and can kill/restart it). */
  readonly owned: boolean;
  /** SIGKILL the server (keeps its JetStream dir). */
  kill(): Promise<void>;
  /** Start it again on the same port and store directory. */
  restart(): Promise<void>;
  /** Stop it and delete its store. */
  stop(): Promise<void>;
  /** What the server has logged (its last 256 KiB; empty for a shared server). */
  log(): string;
}

export interface StartNatsOptions {
  /**
   * A nats-server config file (`-c`). The harness still sets the address, port, JetStream and store
   * directory on the command line, which win over the file. Ignores `NATS_URL`: a shared server
   * does not run this suite's configuration.
   */
  configFile?: string;
  /** More nats-server arguments, after the harness's own. */
  args?: string[];
  /** Environment added to nats-server's (e.g. the passwords a config file reads as `$VAR`). */
  env?: Record<string, string>;
}

/** Starts (or points at) a nats-server with JetStream. */
export async function startNats(o: StartNatsOptions = {}): Promise<TestNats> {
  const external = o.configFile || o.args?.length ? undefined : process.env.NATS_URL;
  if (external) {
    return {
      url: external,
      owned: false,
      kill: async () => {
        throw new Error('NATS_URL is set: the shared server cannot be killed by a test');
      },
      restart: async () => {
        throw new Error('NATS_URL is set: the shared server cannot be restarted by a test');
      },
      stop: async () => {},
      log: () => '',
    };
  }
  const port = await freePort();
  const storeDir = mkdtempSync(join(tmpdir(), 'tessera-nats-'));
  let proc: ChildProcess | undefined;
  let log = '';
  const url = `nats://127.0.0.1:${port}`;
  const launch = async () => {
    proc = spawn(
      'nats-server',
      [
        ...(o.configFile ? ['-c', o.configFile] : []),
        ...['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir],
        ...(o.args ?? []),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...o.env } },
    );
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
      log = (log + d.toString()).slice(-256 * 1024);
    });
    const spawned = proc;
    const failed = new Promise<never>((_, reject) => {
      spawned.once('error', (e) => reject(new Error(`cannot start nats-server (is it installed?): ${e.message}`)));
      spawned.once('exit', (code) => reject(new Error(`nats-server exited with ${code}: ${stderr}`)));
    });
    failed.catch(() => {});
    await Promise.race([
      failed,
      waitFor(
        async () => {
          // A server that requires credentials answers an anonymous client with an authorization
          // error: it is up all the same.
          const nc = await connect({ servers: url, reconnect: false }).catch((e: unknown) =>
            e instanceof errors.AuthorizationError ? ('up' as const) : undefined,
          );
          if (!nc) return false;
          if (nc !== 'up') await nc.close();
          return true;
        },
        15_000,
        'nats-server to accept connections',
      ),
    ]);
  };
  const killProc = async () => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  };
  await launch();
  return {
    url,
    owned: true,
    kill: killProc,
    restart: async () => {
      await killProc();
      await launch();
    },
    stop: async () => {
      await killProc();
      rmSync(storeDir, { recursive: true, force: true });
    },
    log: () => log,
  };
}
