import { describe, expect, it } from 'vitest';
import type { ImageTask } from '@tessera/protocol';
import { splitImageInput } from './image-inputs.js';

const task = (over: Partial<ImageTask>): ImageTask =>
  ({ width: 2, height: 1, inputKind: 'none', controlnets: [], ...over }) as ImageTask;
const cn = (modelDir: string) => ({ modelDir, preprocess: '', scale: 0.5, guidanceStart: 0, guidanceEnd: 1 });

describe('splitImageInput', () => {
  it('passes the input through without ControlNets', () => {
    const input = Uint8Array.of(1, 2, 3, 4, 5, 6);
    expect(splitImageInput(task({ inputKind: 'image' }), input, '/m')).toEqual({ init: input, controlNets: [] });
  });

  it('takes the init image first, then one control image per ControlNet, dirs under the models dir', () => {
    const input = Uint8Array.from({ length: 18 }, (_, i) => i);
    const r = splitImageInput(task({ inputKind: 'image', controlnets: [cn('a'), cn('b')] }), input, '/m');
    expect(Array.from(r.init)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(r.controlNets.map((c) => [c.dir, Array.from(c.image.data), c.preprocess, c.scale])).toEqual([
      ['/m/a', [6, 7, 8, 9, 10, 11], 'none', 0.5],
      ['/m/b', [12, 13, 14, 15, 16, 17], 'none', 0.5],
    ]);
    const txt = splitImageInput(task({ controlnets: [cn('a')] }), input.subarray(0, 6), '/m');
    expect(txt.init.length).toBe(0);
    expect(() => splitImageInput(task({ controlnets: [cn('a')] }), input, '/m')).toThrow(/expected 0 \+ 1×6/);
  });
});
