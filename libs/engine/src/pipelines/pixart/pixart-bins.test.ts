/**
 * Resolution binning against diffusers (pipelines/pixart_alpha/pipeline_pixart_alpha.py ASPECT_RATIO_*_BIN,
 * pipeline_pixart_sigma.py ASPECT_RATIO_2048_BIN, image_processor.py classify_height_width_bin and
 * resize_and_crop_tensor): entries read from those tables, the first-closest-key rule, and torch's bilinear
 * (align_corners=False) on cases whose result follows from its formula src = (dst + ½)·in/out − ½.
 */
import { describe, expect, it } from 'vitest';
import { aspectRatioBins, bilinear, classifyHeightWidthBin, resizeAndCrop } from './pixart-bins.js';

describe('PixArt aspect-ratio bins', () => {
  it('has diffusers’ tables: 33 bins for 256/512/1024, 40 for Σ’s 2048; none for other sample sizes', () => {
    const b256 = aspectRatioBins(32, 'alpha')!;
    const b1024 = aspectRatioBins(128, 'alpha')!;
    const b2048 = aspectRatioBins(256, 'sigma')!;
    expect([b256.length, aspectRatioBins(64, 'alpha')!.length, b1024.length, b2048.length]).toEqual([33, 33, 33, 40]);
    const at = (bins: typeof b256, r: string) => bins.find((b) => b.ratio === r);
    // Spot values copied from the tables.
    expect(at(b256, '0.48')).toEqual({ ratio: '0.48', height: 176, width: 368 });
    expect(at(b1024, '0.28')).toEqual({ ratio: '0.28', height: 512, width: 1856 });
    expect(at(b1024, '1.0')).toEqual({ ratio: '1.0', height: 1024, width: 1024 });
    expect(at(b1024, '3.0')).toEqual({ ratio: '3.0', height: 1728, width: 576 });
    expect(at(aspectRatioBins(64, 'alpha')!, '2.09')).toEqual({ ratio: '2.09', height: 736, width: 352 });
    expect(at(b2048, '0.26')).toEqual({ ratio: '0.26', height: 1024, width: 3968 });
    expect(at(b2048, '2.89')).toEqual({ ratio: '2.89', height: 3328, width: 1152 });
    expect(at(b2048, '3.62')).toEqual({ ratio: '3.62', height: 3712, width: 1024 });
    expect(b2048.map((b) => b.ratio).slice(0, 5)).toEqual(['0.25', '0.26', '0.27', '0.28', '0.32']);
    expect(b2048.map((b) => b.ratio).slice(-8)).toEqual(['2.5', '2.89', '3.0', '3.11', '3.62', '3.75', '3.88', '4.0']);
    expect(aspectRatioBins(256, 'alpha')).toBeNull();
    expect(aspectRatioBins(8, 'sigma')).toBeNull();
  });

  it('classify_height_width_bin picks the closest ratio, the first of a tie', () => {
    const b = aspectRatioBins(128, 'alpha')!;
    expect(classifyHeightWidthBin(1024, 1024, b)).toMatchObject({ height: 1024, width: 1024 });
    expect(classifyHeightWidthBin(768, 1344, b)).toMatchObject({ ratio: '0.57', height: 768, width: 1344 });
    expect(classifyHeightWidthBin(64, 96, b)).toMatchObject({ ratio: '0.68', height: 832, width: 1216 });
    // 0.305 is 0.025 from 0.28 and 0.015 from 0.32.
    expect(classifyHeightWidthBin(305, 1000, b).ratio).toBe('0.32');
    // Exactly between 0.32 and 0.33 (0.325): the first key wins, as Python's min.
    expect(classifyHeightWidthBin(325, 1000, b).ratio).toBe('0.32');
  });
});

describe('resize_and_crop_tensor', () => {
  it('bilinear ×½ averages 2×2 blocks (λ = ½ everywhere), ×1 is the identity', () => {
    const x = Float32Array.from({ length: 16 }, (_, i) => i);
    expect(Array.from(bilinear(x, 1, 4, 4, 2, 2))).toEqual([2.5, 4.5, 10.5, 12.5]);
    expect(Array.from(bilinear(x, 1, 4, 4, 4, 4))).toEqual(Array.from(x));
  });

  it('bilinear ×2 on a row: edges clamp, inner samples at ¼ and ¾', () => {
    const x = Float32Array.of(0, 4);
    // dst 0 → src −¼ → clamped 0; dst 1 → ¼; dst 2 → ¾; dst 3 → 1¼ → index 1 (i1 clamped).
    expect(Array.from(bilinear(x, 1, 1, 2, 1, 4))).toEqual([0, 1, 3, 4]);
  });

  it('covers the target then crops the centre; the same size is untouched', () => {
    const x = Float32Array.from({ length: 2 * 4 * 8 }, (_, i) => i % 32);
    const same = resizeAndCrop(x, 2, 4, 8, 4, 8);
    expect(same).toBe(x);
    // 4×8 → 4×4: ratio max(1, ½) = 1, no resize, crop columns 2..5 of each row.
    const cropped = resizeAndCrop(x, 2, 4, 8, 4, 4);
    expect(Array.from(cropped.subarray(0, 8))).toEqual([2, 3, 4, 5, 10, 11, 12, 13]);
    expect(cropped.length).toBe(2 * 16);
  });
});
