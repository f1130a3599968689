/** Start-up errors are one clear line and a non-zero exit, never a stack trace. */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { AGENT_BIN, COORDINATOR_BIN } from './helpers/farm.js';
import { repoRoot } from './helpers/process.js';

const run = promisify(execFile);
const fail = (bin: string, args: string[]) =>
  run(process.execPath, [join(repoRoot, bin), ...args], { timeout: 60_000 }).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => e,
  );

describe('start-up', () => {
  it('a bad hardware table stops the coordinator with a message naming the file and the field', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tessera-bad-table-')), 'table.yaml');
    writeFileSync(
      file,
      'version: 1\nreserve_gb: 0\nclass_tolerance: 0.03\nclasses_gb: [6, 8]\nmodels:\n  - id: sdxl\n    family: SDXL\n    kind: image\n    min_vram_gb: eight\n    source: seed\n',
    );
    const r = await fail(COORDINATOR_BIN, ['--hardware-table', file, '--nats', 'nats://127.0.0.1:1', '--metrics', '']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`hardware table ${file}`);
    expect(r.stderr).toContain('min_vram_gb');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a missing hardware table file is named', async () => {
    const r = await fail(COORDINATOR_BIN, ['--hardware-table', '/nonexistent/table.yaml', '--metrics', '']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('/nonexistent/table.yaml');
  });

  it('the agent refuses a negative VRAM override', async () => {
    const r = await fail(AGENT_BIN, ['--vram-gb', '-4', '--metrics', '']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/vramGb must be a number ≥ 0, got -4/);
  });
});
