/**
 * `npm ci` on a fresh clone: no dependency whose engines refuse the Node.js the README names, no CUDA
 * download, and the binaries built by the `prepare` script so `npx tessera-coordinator --help` works at once.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/process.js';

// npm's own range semantics (semver is in the tree through npm's tooling; typed here, no @types).
const semver = createRequire(import.meta.url)('semver') as {
  minVersion(range: string): { version: string } | null;
  satisfies(version: string, range: string): boolean;
};
const json = (file: string) => JSON.parse(readFileSync(join(repoRoot, file), 'utf8')) as Record<string, unknown>;
const pkg = json('package.json') as {
  engines: { node: string };
  scripts: Record<string, string>;
  allowScripts: Record<string, boolean>;
  overrides: Record<string, string>;
};

describe('npm ci on a fresh clone', () => {
  it('builds dist/ in the prepare script (the bins import it), and skips that without dev tools', () => {
    expect(pkg.scripts.prepare).toMatch(/tsc -b$/);
    // `npm ci --omit=dev` (the Docker deps stages) has no typescript: the script must then do nothing.
    expect(pkg.scripts.prepare).toContain("require.resolve('typescript/bin/tsc')");
    for (const bin of [
      'libs/client/bin/tessera.js',
      'services/agent/bin/tessera-agent.js',
      'services/coordinator/bin/tessera-coordinator.js',
    ])
      expect(readFileSync(join(repoRoot, bin), 'utf8')).toMatch(/import '\.\.\/dist\//);
  });

  it("denies onnxruntime-node's install script (its CUDA download) three ways: .npmrc, allowScripts, CI's env", () => {
    expect(pkg.allowScripts['onnxruntime-node']).toBe(false);
    // The project's rule: the repo's .npmrc keeps onnxruntime-node from downloading CUDA libraries.
    expect(existsSync(join(repoRoot, '.npmrc'))).toBe(true);
    expect(readFileSync(join(repoRoot, '.npmrc'), 'utf8')).toMatch(/^onnxruntime-node-install=skip$/m);
    // CI's npm may be older than allowScripts: the environment variable keeps it offline there.
    const ci = readFileSync(join(repoRoot, '.ci/run'), 'utf8');
    expect(ci.indexOf('ONNXRUNTIME_NODE_INSTALL="${ONNXRUNTIME_NODE_INSTALL:-skip}"')).toBeGreaterThan(0);
    expect(ci.indexOf('ONNXRUNTIME_NODE_INSTALL=')).toBeLessThan(ci.indexOf('npm ci --no-audit'));
  });

  it('every locked dependency with an install script is reviewed in allowScripts (npm 11 warns otherwise)', () => {
    const lock = json('package-lock.json') as { packages: Record<string, { hasInstallScript?: boolean }> };
    const unreviewed = Object.entries(lock.packages)
      .filter(([path, p]) => path.includes('node_modules/') && p.hasInstallScript)
      .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length))
      .filter((name) => !(name in pkg.allowScripts));
    expect(unreviewed).toEqual([]);
  });

  it('every locked package accepts the oldest Node.js the README names (no EBADENGINE)', () => {
    const oldest = semver.minVersion(pkg.engines.node)!.version;
    expect(oldest).toBe('20.19.0');
    const lock = json('package-lock.json') as {
      packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
    };
    const refusing = Object.entries(lock.packages)
      .filter(([, p]) => p.engines && !Array.isArray(p.engines) && p.engines.node)
      .filter(([, p]) => !semver.satisfies(oldest, (p.engines as { node: string }).node))
      .map(([name, p]) => `${name}@${p.version} (node ${(p.engines as { node: string }).node})`);
    expect(refusing).toEqual([]);
    // @nats-io/nuid 3 asks for Node 22 for no API change; 2.0.3 has the same Nuid/nuid exports.
    expect(pkg.overrides['@nats-io/nuid']).toBe('2.0.3');
  });
});
