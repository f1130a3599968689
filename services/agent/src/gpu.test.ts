import { describe, expect, it } from 'vitest';
import { detectGpus, parseNvidiaSmi } from './gpu.js';

describe('GPU detection', () => {
  it('parses one line per device, in GiB', () => {
    const gpus = parseNvidiaSmi(
      '0, NVIDIA GeForce RTX 3090, GPU-aaaa, 24576\n1, NVIDIA A100-SXM4-80GB, GPU-bbbb, 81920\n',
    );
    expect(gpus).toEqual([
      { index: 0, name: 'NVIDIA GeForce RTX 3090', uuid: 'GPU-aaaa', memoryGb: 24 },
      { index: 1, name: 'NVIDIA A100-SXM4-80GB', uuid: 'GPU-bbbb', memoryGb: 80 },
    ]);
  });

  it('keeps commas inside device names', () => {
    expect(parseNvidiaSmi('0, Odd, Name, GPU-x, 8192')[0].name).toBe('Odd, Name');
  });

  it('rejects output it does not understand', () => {
    expect(() => parseNvidiaSmi('garbage')).toThrow(/unexpected nvidia-smi line/);
  });

  it('reports no GPUs cleanly when nvidia-smi is absent', async () => {
    const d = await detectGpus('/nonexistent/nvidia-smi');
    expect(d.ok).toBe(false);
    expect(d.gpus).toEqual([]);
    if (!d.ok) expect(d.reason).toMatch(/not found/);
  });
});
