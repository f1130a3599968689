/** Process helpers for cross-process tests: free ports, polling, spawning Tessera binaries. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Polls `check` until it returns a truthy value; rejects naming `what` after `timeoutMs`. */
export async function waitFor<T>(
  check: () => Promise<T> | T,
  timeoutMs: number,
  what: string,
  everyMs = 50,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      lastError = e;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A spawned Tessera binary with its captured output. */
export interface Proc {
  readonly child: ChildProcess;
  readonly name: string;
  output(): string;
  /** Sends a signal and waits for exit (SIGKILL after 10 s). */
  stop(signal?: NodeJS.Signals): Promise<void>;
  exited(): Promise<number | null>;
}

/**
 * With `TESSERA_CPU_PROF_DIR=DIR` (benchmarks), spawned farm processes write V8 CPU profiles there on a
 * clean exit (`node --cpu-prof`, which NODE_OPTIONS does not allow).
 */
export function cpuProfileArgs(): string[] {
  const dir = process.env.TESSERA_CPU_PROF_DIR;
  return dir ? ['--cpu-prof', '--cpu-prof-dir', dir] : [];
}

/**
 * Spawns `node <bin> ...args` from the repo, capturing stdout+stderr (the last 100–200 kB; `onOutput`
 * sees all of it, in chunks as they arrive).
 */
export function spawnBin(
  bin: string,
  args: string[],
  name: string,
  env: Record<string, string> = {},
  onOutput?: (name: string, text: string) => void,
): Proc {
  const child = spawn(process.execPath, [...cpuProfileArgs(), join(repoRoot, bin), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let out = '';
  const append = (d: Buffer) => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
    onOutput?.(name, d.toString());
    if (process.env.TESSERA_TEST_LOGS) process.stderr.write(`[${name}] ${d.toString()}`);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    child,
    name,
    output: () => out,
    exited: () => exit,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(t);
    },
  };
}
