import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, Option } from 'commander';

/** A usage mistake found after parsing (bad combination, unreadable input): exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** An integer parser for commander within [min, max]; the message names the accepted range. */
export function intArg(min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value: string): number => {
    const trimmed = value.trim();
    const n = /^[+-]?\d+$/.test(trimmed) ? Number(trimmed) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in ${min}..${max}`;
      throw new InvalidArgumentError(`expected ${range}.`);
    }
    return n;
  };
}

/** Parses a HOST:PORT address; rejects empty hosts and ports outside 1..65535. */
export function addressArg(value: string): string {
  const m = /^(.+):(\d+)$/.exec(value.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) throw new InvalidArgumentError('expected HOST:PORT.');
  return value.trim();
}

/**
 * Reads a boolean environment variable: unset, "", "0", "false", "no", "off" are false; anything
 * else is true. (Commander's own `.env()` treats any value, even "0", as true for a flag.)
 */
export function envBool(name: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env[name];
  if (v === undefined) return false;
  return !['', '0', 'false', 'no', 'off'].includes(v.trim().toLowerCase());
}

/** A value option that also reads `env` (commander shows "(env: NAME)" in --help). */
export function valueOption(flags: string, description: string, env: string): Option {
  return new Option(flags, description).env(env);
}

/** A boolean flag whose default comes from `env` (see envBool). */
export function flagOption(flags: string, description: string, env: string): Option {
  return new Option(flags, `${description} (env: ${env}=1)`).default(envBool(env));
}

/** Reads an input file named by `flag`; a file that cannot be read is a usage error naming both. */
export async function readInput(flag: string, file: string): Promise<Buffer> {
  return readFile(file).catch((e: NodeJS.ErrnoException) => {
    throw new UsageError(`cannot read ${flag} ${JSON.stringify(file)}: ${e.code ?? e.message}`);
  });
}
