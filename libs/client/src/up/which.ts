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

/** Why `tessera up` cannot start a farm without nats-server (printed after `tessera: `). */
export const NATS_MISSING_MESSAGE =
  'nats-server was not found on PATH. Install it (Debian/Ubuntu: `apt-get install nats-server`, ' +
  'macOS: `brew install nats-server`) or point at a running JetStream server with --nats URL (env TESSERA_NATS_URL).';
