import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Absolute path of a workspace service's bin script, found through the package's package.json
 * (`@tessera/coordinator` → bin/tessera-coordinator.js), so it works from any working directory.
 */
export function resolveServiceBin(pkg: string, bin: string): string {
  let pkgJson: string;
  try {
    pkgJson = fileURLToPath(import.meta.resolve(`${pkg}/package.json`));
  } catch {
    throw new Error(`cannot find ${pkg}; run \`npm ci\` at the repository root`);
  }
  const file = join(dirname(pkgJson), bin);
  if (!existsSync(file)) throw new Error(`${file} is missing; is ${pkg} built (\`npm run build\`)?`);
  return file;
}
