import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The first executable file called `name` on `pathEnv` (PATH syntax), or null. */
export function findExecutable(name: string, pathEnv: string = process.env.PATH ?? ''): string | null {
  for (const dir of pathEnv.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return null;
}

/**
 * Where nats-server is looked for after PATH: Debian installs it in /usr/sbin, which a non-root
 * user's PATH usually lacks; Homebrew in /opt/homebrew/bin or /usr/local/bin.
 */
export const NATS_FALLBACK_DIRS: readonly string[] = [
  '/usr/sbin',
  '/usr/local/sbin',
  '/sbin',
  '/usr/local/bin',
  '/opt/homebrew/bin',
];

/** The nats-server binary: on `pathEnv`, else in `fallbackDirs`; null when in neither. */
export function findNatsServer(
  pathEnv: string = process.env.PATH ?? '',
  fallbackDirs: readonly string[] = NATS_FALLBACK_DIRS,
): string | null {
  return findExecutable('nats-server', pathEnv) ?? findExecutable('nats-server', fallbackDirs.join(delimiter));
}

/** Why `tessera up` cannot start a farm without nats-server (printed after `tessera: `); `given` = --nats-server. */
export function natsMissingMessage(given?: string): string {
  const where =
    given !== undefined
      ? `nats-server ${given} (--nats-server) is not an executable file`
      : `nats-server was not found on PATH nor in ${NATS_FALLBACK_DIRS.join(', ')}`;
  return (
    `${where}. Install it (Debian/Ubuntu: \`apt-get install nats-server\`, macOS: \`brew install nats-server\`), ` +
    'name it with --nats-server FILE, or point at a running JetStream server with --nats URL (env TESSERA_NATS_URL).'
  );
}
