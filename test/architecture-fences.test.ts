/**
 * The architecture's fences in eslint.config.js, proven on fixtures that break them: the coordinator
 * importing the engine, a second module importing onnxruntime-node, the farm core importing I/O. And
 * the engine's pure entry point loads no onnxruntime. And the size limits of issue 11.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/process.js';

const fixtures = join(repoRoot, 'test/fixtures/fences');

async function restricted(files: string[]): Promise<Map<string, number[]>> {
  const eslint = new ESLint({ cwd: repoRoot, ignore: false });
  const out = new Map<string, number[]>();
  for (const r of await eslint.lintFiles(files)) {
    const lines = r.messages.filter((m) => m.ruleId === '@typescript-eslint/no-restricted-imports').map((m) => m.line);
    out.set(r.filePath.slice(repoRoot.length + 1), lines);
  }
  return out;
}

describe('architecture fences (npm run lint)', () => {
  it('fail on the coordinator importing the engine, a second onnxruntime importer, and I/O in the core', async () => {
    const found = await restricted([fixtures]);
    expect(Object.fromEntries(found)).toEqual({
      // @tessera/engine and a deep import fail; @tessera/engine/pure is allowed.
      'test/fixtures/fences/coordinator/imports-engine.ts': [2, 3],
      'test/fixtures/fences/engine/second-ort.ts': [2],
      // node:fs, NATS, a protocol value, the shell fail; protocol types and pure siblings are allowed.
      'test/fixtures/fences/core/imports-io.ts': [2, 3, 4, 5],
    });
  });

  it('hold on the real code: the core, the coordinator and the engine pass', async () => {
    const found = await restricted([
      join(repoRoot, 'services/coordinator/src'),
      join(repoRoot, 'libs/engine/src/ort-session.ts'),
      join(repoRoot, 'libs/engine/src/ort-upscaler.ts'),
    ]);
    expect(found.size).toBeGreaterThan(30);
    expect([...found].filter(([, lines]) => lines.length > 0)).toEqual([]);
  });

  it('importing @tessera/engine/pure does not load onnxruntime-node (the main entry does)', () => {
    const loads = (entry: string) =>
      execFileSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `import { createRequire } from 'node:module';
           const r = createRequire(${JSON.stringify(join(repoRoot, 'services/agent/package.json'))});
           await import(r.resolve(${JSON.stringify(entry)}));
           process.stdout.write(String(Object.keys(r.cache).some((k) => k.includes('onnxruntime-node'))));`,
        ],
        { encoding: 'utf8' },
      );
    expect(loads('@tessera/engine/pure')).toBe('false');
    expect(loads('@tessera/engine')).toBe('true');
  });

  it('keep every hand-written source file at 400 lines or fewer, and coordinator.ts at 250 (issue 11)', () => {
    const files = execFileSync('git', ['ls-files', '*.ts', '*.tsx', '*.mts', '*.mjs'], {
      cwd: repoRoot,
      encoding: 'utf8',
    })
      .split('\n')
      .filter((f) => f && !f.includes('/gen/') && !f.startsWith('test/fixtures/'));
    const lines = (f: string) => readFileSync(join(repoRoot, f), 'utf8').split('\n').length - 1;
    expect(files.length).toBeGreaterThan(100);
    expect(files.filter((f) => lines(f) > 400).map((f) => `${f}: ${lines(f)} lines`)).toEqual([]);
    expect(lines('services/coordinator/src/coordinator.ts')).toBeLessThanOrEqual(250);
  });
});
