import { describe, expect, it } from 'vitest';
import { FrameQueue } from './frame-queue.js';

async function drain(q: FrameQueue): Promise<number[]> {
  const out: number[] = [];
  for await (const f of q.frames()) out.push(f[0]);
  return out;
}

describe('FrameQueue', () => {
  it('yields pushed frames in order to a consumer that starts before, during or after the pushes', async () => {
    const q = new FrameQueue();
    const consumed = drain(q);
    q.push(Uint8Array.of(0));
    await new Promise((r) => setImmediate(r));
    for (let i = 1; i < 3000; i++) q.push(Uint8Array.of(i & 255));
    expect(q.size).toBeGreaterThan(0);
    q.end();
    const out = await consumed;
    expect(out).toHaveLength(3000);
    expect(out.every((v, i) => v === (i & 255))).toBe(true);
    expect(q.size).toBe(0);
  });

  it('throws the failure after the queued frames, and refuses pushes after end', async () => {
    const q = new FrameQueue();
    q.push(Uint8Array.of(7));
    q.fail(new Error('assembly failed'));
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const f of q.frames()) seen.push(f[0]);
      })(),
    ).rejects.toThrow('assembly failed');
    expect(seen).toEqual([7]);
    expect(() => q.push(Uint8Array.of(1))).toThrow(/after end/);
  });
});
