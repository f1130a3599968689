/**
 * A real nats-server for a test suite: `NATS_URL` when set (shared server, tests isolate themselves
 * with a unique farm prefix), otherwise the `nats-server` binary spawned on a free port with its
 * own JetStream directory, killable and restartable for fault tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from './process.js';
import { connect } from '@nats-io/transport-node';

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
}

/** Starts (or points at) a nats-server with JetStream. */
export async function startNats(): Promise<TestNats> {
  const external = process.env.NATS_URL;
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
    };
  }
  const port = await freePort();
  const storeDir = mkdtempSync(join(tmpdir(), 'tessera-nats-'));
  let proc: ChildProcess | undefined;
  const url = `nats://127.0.0.1:${port}`;
  const launch = async () => {
    proc = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', storeDir], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
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
          const nc = await connect({ servers: url, reconnect: false }).catch(() => undefined);
          if (!nc) return false;
          await nc.close();
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
  };
}
