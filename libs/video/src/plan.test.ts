import { describe, expect, it } from 'vitest';
import { VideoPlanError } from './errors.js';
import { batchEnd, planFrameBatches, validateFramePlan, type FrameBatch } from './plan.js';
import { frameSources } from './cross-fade.js';

const spans = (bs: FrameBatch[]) => bs.map((b) => [b.start, batchEnd(b)]);

function expectError(fn: () => unknown, field: string, text: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(VideoPlanError);
    expect((e as VideoPlanError).field).toBe(field);
    expect((e as Error).message).toMatch(text);
    return;
  }
  throw new Error('expected a VideoPlanError');
}

describe('planFrameBatches', () => {
  it('60 frames, SVD-XT batches of 25, overlap 4: three even batches', () => {
    const plan = planFrameBatches({ totalFrames: 60, framesPerBatch: 25, overlap: 4, mode: 'keyframed' });
    expect(spans(plan)).toEqual([
      [0, 23],
      [19, 42],
      [38, 60],
    ]);
    expect(plan.map((b) => b.dependsOn)).toEqual([null, null, null]);
    expect(plan.map((b) => b.conditionFrame)).toEqual([null, null, null]);
  });

  it("layout 'full' keeps the model's frame count and shortens only the last batch", () => {
    const plan = planFrameBatches({ totalFrames: 60, framesPerBatch: 25, overlap: 4, mode: 'chained', layout: 'full' });
    expect(spans(plan)).toEqual([
      [0, 25],
      [21, 46],
      [42, 60],
    ]);
  });

  it('chained: batch b depends on b − 1 and is conditioned on the frame at its own start', () => {
    const plan = planFrameBatches({ totalFrames: 100, framesPerBatch: 14, overlap: 1, mode: 'chained' });
    expect(plan[0].dependsOn).toBeNull();
    expect(plan[0].conditionFrame).toBeNull();
    for (const b of plan.slice(1)) {
      expect(b.dependsOn).toBe(b.index - 1);
      // with overlap 1 the conditioning frame is the previous batch's last frame
      expect(b.conditionFrame).toBe(batchEnd(plan[b.index - 1]) - 1);
      expect(b.conditionFrame).toBe(b.start);
    }
  });

  it('a clip that fits one batch is one batch, whatever the overlap', () => {
    expect(planFrameBatches({ totalFrames: 3, framesPerBatch: 25, overlap: 12, mode: 'chained' })).toEqual([
      { index: 0, start: 0, count: 3, dependsOn: null, conditionFrame: null },
    ]);
  });

  it('overlap 0 (video upscale) gives disjoint batches', () => {
    const plan = planFrameBatches({ totalFrames: 50, framesPerBatch: 16, overlap: 0, mode: 'keyframed' });
    expect(spans(plan)).toEqual([
      [0, 13],
      [13, 26],
      [26, 38],
      [38, 50],
    ]);
  });

  it('even layout never leaves a stub batch; full layout may (but never ≤ overlap)', () => {
    // 47 = 25 + 21 + 1: 'full' ends with a 5-frame stub (overlap + 1), 'even' splits evenly.
    const full = planFrameBatches({
      totalFrames: 47,
      framesPerBatch: 25,
      overlap: 4,
      mode: 'keyframed',
      layout: 'full',
    });
    expect(full.map((b) => b.count)).toEqual([25, 25, 5]);
    const even = planFrameBatches({ totalFrames: 47, framesPerBatch: 25, overlap: 4, mode: 'keyframed' });
    expect(even.map((b) => b.count)).toEqual([19, 18, 18]);
  });

  it('even layout keeps middle batches ≥ overlap own frames (no frame in three batches)', () => {
    // stride 4, overlap 4: a naive even split (3, 3, 3 own frames) would put frame 7 in batches 0, 1 and 2.
    const plan = planFrameBatches({ totalFrames: 13, framesPerBatch: 8, overlap: 4, mode: 'keyframed' });
    validateFramePlan(plan, 13, 4);
    expect(plan.map((b) => b.count)).toEqual([7, 8, 6]);
  });

  it('holds every invariant over a sweep of inputs', () => {
    const problems: string[] = [];
    let plans = 0;
    const largest = (p: FrameBatch[]) => Math.max(...p.map((b) => b.count));
    const smallest = (p: FrameBatch[]) => Math.min(...p.map((b) => b.count));
    for (let F = 1; F <= 26; F++) {
      for (let O = 0; O <= F / 2; O++) {
        for (let T = 1; T <= 130; T++) {
          const input = { totalFrames: T, framesPerBatch: F, overlap: O, mode: 'chained' as const };
          const even = planFrameBatches(input);
          const full = planFrameBatches({ ...input, layout: 'full' });
          const at = `T=${T} F=${F} O=${O}`;
          for (const plan of [even, full]) {
            plans++;
            validateFramePlan(plan, T, O); // throws on any broken invariant
            const n = T <= F ? 1 : Math.ceil((T - O) / (F - O));
            if (plan.length !== n) problems.push(`${at}: ${plan.length} batches, the fewest is ${n}`);
            if (largest(plan) > F) problems.push(`${at}: a batch over ${F} frames`);
            if (n > 1 && smallest(plan) < O + 1) problems.push(`${at}: a batch under overlap + 1 frames`);
            // every clip frame has one or two sources, weights sum to 1, each batch frame is used exactly once
            const used = plan.map((b) => new Array<number>(b.count).fill(0));
            for (let f = 0; f < T; f++) {
              const src = frameSources(plan, O, f);
              const sum = src.reduce((a, x) => a + x.weight, 0);
              if (src.length > 2 || Math.abs(sum - 1) > 1e-12) problems.push(`${at}: frame ${f} weights ${sum}`);
              for (const x of src) {
                if (plan[x.batch].start + x.frame !== f) problems.push(`${at}: frame ${f} mapped wrong`);
                used[x.batch][x.frame]++;
              }
            }
            if (!used.flat().every((u) => u === 1)) problems.push(`${at}: a batch frame unused or used twice`);
          }
          if (largest(even) > largest(full) || smallest(even) < smallest(full)) {
            problems.push(`${at}: even layout less even than full`);
          }
        }
      }
    }
    expect(problems).toEqual([]);
    expect(plans).toBeGreaterThan(30_000);
  });

  it('names the field and the limit for bad input', () => {
    const base = { totalFrames: 60, framesPerBatch: 25, overlap: 4, mode: 'chained' as const };
    expectError(
      () => planFrameBatches({ ...base, totalFrames: 0 }),
      'total_frames',
      /total_frames must be an integer in \[1, 1000000\], got 0/,
    );
    expectError(() => planFrameBatches({ ...base, totalFrames: 2.5 }), 'total_frames', /integer/);

    expectError(() => planFrameBatches({ ...base, framesPerBatch: 0 }), 'frames_per_batch', /≥ 1/);
    expectError(() => planFrameBatches({ ...base, overlap: -1 }), 'overlap', /≥ 0/);
    expectError(() => planFrameBatches({ ...base, overlap: 25 }), 'overlap', /at most frames_per_batch \/ 2 = 12/);
    expectError(() => planFrameBatches({ ...base, overlap: 13 }), 'overlap', /= 12/);
    expectError(() => planFrameBatches({ ...base, mode: 'looped' as never }), 'mode', /keyframed/);
    expectError(() => planFrameBatches({ ...base, layout: 'tight' as never }), 'layout', /even/);
  });
});

describe('validateFramePlan', () => {
  const plan = () => planFrameBatches({ totalFrames: 60, framesPerBatch: 25, overlap: 4, mode: 'chained' });

  it('rejects plans that do not cover the clip with the given overlap', () => {
    expectError(() => validateFramePlan(plan(), 61, 4), 'batches', /ends at frame 60, the clip has 61/);
    expectError(() => validateFramePlan(plan(), 60, 3), 'batches', /batch 1 must start at frame 20/);
    expectError(() => validateFramePlan([], 60, 3), 'batches', /at least one batch/);
    const p = plan();
    p[2] = { ...p[2], dependsOn: 0 };
    expectError(() => validateFramePlan(p, 60, 4), 'batches', /batch 2 may depend only on batch 1/);
    const q = plan();
    q[1] = { ...q[1], index: 5 };
    expectError(() => validateFramePlan(q, 60, 4), 'batches', /position 1 has index 5/);
  });
});
