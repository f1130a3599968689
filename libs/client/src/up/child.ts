import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/** How a child process ended. `error` is set when it could not be started at all. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** A process `tessera up` started: its stdout and stderr go to `logFile`. */
export interface ChildSpec {
  /** Short name used in messages, e.g. "coordinator", "agent local-1". */
  name: string;
  command: string;
  args: readonly string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
}

/** Children still running, killed (SIGKILL) if this process exits without stopping them. */
const live = new Set<FarmChild>();
let exitHookInstalled = false;

/**
 * One child of the local farm, in its own process group (so Ctrl-C reaches only `tessera up`, which
 * then stops the children in order). `exited` resolves once, whether the exit was asked for or not.
 */
export class FarmChild {
  readonly exited: Promise<ChildExit>;
  private exit: ChildExit | undefined;
  private stopping = false;

  private constructor(
    readonly spec: ChildSpec,
    private readonly proc: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => {
      proc.once('error', (error) => {
        this.exit ??= { code: null, signal: null, error };
        live.delete(this);
        resolve(this.exit);
      });
      proc.once('exit', (code, signal) => {
        this.exit ??= { code, signal };
        live.delete(this);
        resolve(this.exit);
      });
    });
  }

  /** Starts `spec`, truncating its log file. */
  static start(spec: ChildSpec): FarmChild {
    const fd = openSync(spec.logFile, 'w');
    try {
      const proc = spawn(spec.command, [...spec.args], {
        stdio: ['ignore', fd, fd],
        env: spec.env ?? process.env,
        detached: true,
      });
      const child = new FarmChild(spec, proc);
      live.add(child);
      installExitHook();
      return child;
    } finally {
      closeSync(fd);
    }
  }

  get name(): string {
    return this.spec.name;
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  /** True once `stop()` was called: an exit after that is expected. */
  get isStopping(): boolean {
    return this.stopping;
  }

  /** SIGTERM, wait up to `graceMs`, then SIGKILL the whole process group. Resolves when it is gone. */
  async stop(graceMs = 10_000): Promise<ChildExit> {
    this.stopping = true;
    if (this.exit) return this.exit;
    signal(this.proc, 'SIGTERM', false);
    let timer: NodeJS.Timeout | undefined;
    const killed = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        signal(this.proc, 'SIGKILL', true);
        resolve();
      }, graceMs);
    });
    await Promise.race([this.exited, killed]);
    clearTimeout(timer);
    return this.exited;
  }
}

function signal(proc: ChildProcess, sig: NodeJS.Signals, group: boolean): void {
  if (proc.pid === undefined) return;
  try {
    process.kill(group ? -proc.pid : proc.pid, sig);
  } catch {
    // already gone
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  });
}

/** The last `lines` lines of a log file ("" if it cannot be read). */
export async function tailFile(file: string, lines = 20): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

/** "exited with code 1", "was killed by SIGSEGV", "could not start: spawn x ENOENT". Pure. */
export function describeExit(exit: ChildExit): string {
  if (exit.error) return `could not start: ${exit.error.message}`;
  if (exit.signal) return `was killed by ${exit.signal}`;
  return `exited with code ${exit.code}`;
}
