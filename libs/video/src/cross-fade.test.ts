import { describe, expect, it } from 'vitest';
import { crossFadeWeights, frameSources } from './cross-fade.js';
import { planFrameBatches } from './plan.js';
import { VideoPlanError } from './errors.js';

describe('crossFadeWeights', () => {
  it('is (i + 1) / (overlap + 1): strictly increasing, inside (0, 1)', () => {
    expect(crossFadeWeights(4)).toEqual([0.2, 0.4, 0.6, 0.8]);
    for (let o = 1; o <= 64; o++) {
      const w = crossFadeWeights(o);
      expect(w).toHaveLength(o);
      w.forEach((x, i) => {
        expect(x).toBeGreaterThan(0);
        expect(x).toBeLessThan(1);
        if (i > 0) expect(x).toBeGreaterThan(w[i - 1]);
        // symmetric: the earlier batch's weights are the later batch's, reversed
        expect(1 - x).toBeCloseTo(w[o - 1 - i], 12);
      });
    }
  });

  it('overlap 0 is a hard cut; bad overlap is a VideoPlanError', () => {
    expect(crossFadeWeights(0)).toEqual([]);
    expect(() => crossFadeWeights(-1)).toThrow(VideoPlanError);
    expect(() => crossFadeWeights(1.5)).toThrow(/overlap must be an integer/);
  });
});

describe('frameSources', () => {
  const plan = planFrameBatches({ totalFrames: 60, framesPerBatch: 25, overlap: 4, mode: 'chained' });

  it('maps clip frames to batch frames, cross-fading the overlap', () => {
    expect(frameSources(plan, 4, 0)).toEqual([{ batch: 0, frame: 0, weight: 1 }]);
    expect(frameSources(plan, 4, 18)).toEqual([{ batch: 0, frame: 18, weight: 1 }]);
    const w = crossFadeWeights(4);
    for (let i = 0; i < 4; i++) {
      expect(frameSources(plan, 4, 19 + i)).toEqual([
        { batch: 0, frame: 19 + i, weight: 1 - w[i] },
        { batch: 1, frame: i, weight: w[i] },
      ]);
    }
    expect(frameSources(plan, 4, 23)).toEqual([{ batch: 1, frame: 4, weight: 1 }]);
    expect(frameSources(plan, 4, 59)).toEqual([{ batch: 2, frame: 21, weight: 1 }]);
  });

  it('rejects frames outside the clip', () => {
    expect(() => frameSources(plan, 4, 60)).toThrow(/outside the clip \[0, 60\)/);
    expect(() => frameSources(plan, 4, -1)).toThrow(VideoPlanError);
  });
});
