import { describe, expect, it } from 'vitest';
import {
  addedTimeIds,
  applyGuidance,
  encoderHiddenStates,
  guidanceScales,
  unetSample,
  usesGuidance,
} from './svd-math.js';

const f32 = Math.fround;

describe('SVD guidance ramp', () => {
  it('is torch.linspace(min, max, numFrames) in float32: min on frame 0, max on the last frame', () => {
    const g = guidanceScales(1, 3, 25); // SVD-XT defaults
    expect(g).toHaveLength(25);
    expect(g[0]).toBe(1);
    expect(g[24]).toBe(3);
    expect(g[12]).toBe(2);
    // torch's CPU linspace: start + step·i for the first half, end − step·(n−1−i) for the second
    const step = f32(2 / 24);
    for (let i = 0; i < 25; i++) expect(g[i]).toBe(i < 12 ? f32(1 + f32(step * i)) : f32(3 - f32(step * (24 - i))));
    for (let i = 1; i < 25; i++) expect(g[i] - g[i - 1]).toBeCloseTo(1 / 12, 6);
  });

  it('SVD (14 frames) and a single frame', () => {
    const g = guidanceScales(1, 3, 14);
    expect(g[0]).toBe(1);
    expect(g[13]).toBe(3);
    expect(g[1]).toBeCloseTo(1 + 2 / 13, 6);
    expect(Array.from(guidanceScales(1.5, 3, 1))).toEqual([1.5]);
    expect(Array.from(guidanceScales(2.5, 2.5, 4))).toEqual([2.5, 2.5, 2.5, 2.5]);
  });

  it('guidance runs the unconditional half only when some frame has a scale above 1', () => {
    expect(usesGuidance(1, 3)).toBe(true);
    expect(usesGuidance(1, 1)).toBe(false);
    expect(usesGuidance(0.5, 1)).toBe(false);
    expect(usesGuidance(1.2, 1)).toBe(true);
  });

  it('applies each frame its own scale: uncond + g_f·(cond − uncond)', () => {
    const frames = 4;
    const frameSize = 3;
    const scales = guidanceScales(1, 2.5, frames); // 1, 1.5, 2, 2.5
    const pred = new Float32Array(2 * frames * frameSize);
    for (let k = 0; k < frames * frameSize; k++) {
      pred[k] = 0.25 * k; // unconditional half
      pred[frames * frameSize + k] = 0.25 * k + 1; // conditional half: uncond + 1
    }
    const out = applyGuidance(pred, scales);
    expect(out).toHaveLength(frames * frameSize);
    for (let f = 0; f < frames; f++) {
      for (let j = 0; j < frameSize; j++) {
        const k = f * frameSize + j;
        expect(out[k]).toBe(f32(0.25 * k + scales[f]));
      }
    }
  });
});

describe('SVD tensor layout', () => {
  it('builds the UNet sample [N,F,8,h,w]: noisy latents then image latents, zeros for the unconditional item', () => {
    const frames = 3;
    const imageLatent = Float32Array.from({ length: 8 }, (_, i) => 100 + i); // [1,4,1,2]
    const latents = Float32Array.from({ length: frames * 8 }, (_, i) => i); // [1,3,4,1,2]
    const cfg = unetSample(latents, imageLatent, frames, true);
    expect(cfg).toHaveLength(2 * frames * 16);
    for (let n = 0; n < 2; n++) {
      for (let f = 0; f < frames; f++) {
        const base = (n * frames + f) * 16;
        expect(Array.from(cfg.subarray(base, base + 8))).toEqual(Array.from(latents.subarray(f * 8, f * 8 + 8)));
        expect(Array.from(cfg.subarray(base + 8, base + 16))).toEqual(
          n === 0 ? new Array(8).fill(0) : Array.from(imageLatent),
        );
      }
    }
    const single = unetSample(latents, imageLatent, frames, false);
    expect(single).toEqual(cfg.subarray(frames * 16));
  });

  it('added_time_ids are [fps − 1, motion_bucket_id, noise_aug_strength] per item', () => {
    expect(Array.from(addedTimeIds(7, 127, 0.02, 2))).toEqual([6, 127, f32(0.02), 6, 127, f32(0.02)]);
    expect(Array.from(addedTimeIds(25, 30, 0, 1))).toEqual([24, 30, 0]);
  });

  it('encoder_hidden_states put zeros before the embedding under guidance', () => {
    const e = Float32Array.from([1, 2, 3]);
    expect(Array.from(encoderHiddenStates(e, true))).toEqual([0, 0, 0, 1, 2, 3]);
    expect(Array.from(encoderHiddenStates(e, false))).toEqual([1, 2, 3]);
  });
});
