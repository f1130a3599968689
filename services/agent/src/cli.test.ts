/**
 * `tessera-agent run upscale` as a process (issue 16 part 4): its own options reach it. The agent's
 * root command defines --threads, --models and --execution-provider too, and commander used to hand
 * `run upscale --threads N --models DIR` to the root, so the single pass ran with onnxruntime's default
 * threads and the default model cache whatever was asked.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/tessera-agent.js', import.meta.url));

describe('tessera-agent run upscale', () => {
  it('uses its own --threads and --models', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-agent-cli-'));
    const models = join(dir, 'models');
    const input = join(dir, 'in.png');
    const output = join(dir, 'out.png');
    const px = Buffer.alloc(24 * 20 * 3).map((_, i) => (i * 37) & 255);
    writeFileSync(
      input,
      await sharp(px, { raw: { width: 24, height: 20, channels: 3 } })
        .png()
        .toBuffer(),
    );
    const { stdout } = await promisify(execFile)(process.execPath, [
      BIN,
      'run',
      'upscale',
      '--model',
      'esrgan-slim-x2',
      '--input',
      input,
      '--output',
      output,
      '--threads',
      '1',
      '--models',
      models,
    ]);
    const r = JSON.parse(stdout) as { width: number; height: number; threads: number };
    expect(r).toMatchObject({ width: 48, height: 40, threads: 1 });
    // The converted model went to --models, not to the default cache.
    expect(readdirSync(models).filter((f) => f.startsWith('esrgan-slim-x2-') && f.endsWith('.onnx'))).toHaveLength(1);
    const meta = await sharp(output).metadata();
    expect([meta.width, meta.height]).toEqual([48, 40]);
  });
});
