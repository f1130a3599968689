import { CommanderError } from 'commander';
import { formatCliError } from '../format/errors.js';
import type { CliContext } from './context.js';
import { UsageError } from './options.js';
import { buildProgram } from './program.js';

/** Exit status of the `tessera` CLI: 0 ok, 1 failure (server error, failed job), 2 usage, 130 interrupted. */
export type ExitStatus = 0 | 1 | 2 | 130;

/**
 * Runs the CLI on `argv` (node-style: argv[0] node, argv[1] script) and returns the exit status.
 * The first SIGINT/SIGTERM aborts the running command; a second exits at once.
 */
export async function runCli(argv: readonly string[]): Promise<ExitStatus> {
  const abort = new AbortController();
  const onSignal = (): void => {
    if (abort.signal.aborted) process.exit(130);
    abort.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // `tessera watch --json | head`: the reader left; stop quietly, as a SIGPIPE'd tool would.
  const onStdoutError = (err: NodeJS.ErrnoException): void => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  };
  process.stdout.on('error', onStdoutError);
  const ctx: CliContext = {
    signal: abort.signal,
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  };
  const program = buildProgram(ctx);
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (abort.signal.aborted) {
      ctx.err('tessera: interrupted');
      return 130;
    }
    if (err instanceof UsageError) {
      ctx.err(`tessera: ${err.message}`);
      return 2;
    }
    ctx.err(formatCliError(err, program.opts<{ server?: string }>().server));
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
