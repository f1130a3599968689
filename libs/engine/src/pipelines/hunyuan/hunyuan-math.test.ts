import { describe, expect, it } from 'vitest';
import { binHunyuanResolution, hunyuanRotaryEmbedding, resizeCropRegionForGrid } from './hunyuan-math.js';

// Expectations computed by hand from diffusers' pipeline_hunyuandit.py (map_to_standard_shapes,
// get_resize_crop_region_for_grid) and models/embeddings.py (get_2d_rotary_pos_embed, use_real=True).
describe('Hunyuan-DiT pipeline math', () => {
  it('resolution binning maps to the trained shape of the closest ratio, then area', () => {
    expect(binHunyuanResolution(1024, 1024)).toEqual({ width: 1024, height: 1024 });
    expect(binHunyuanResolution(64, 64)).toEqual({ width: 1024, height: 1024 });
    expect(binHunyuanResolution(1300, 1300)).toEqual({ width: 1280, height: 1280 });
    expect(binHunyuanResolution(800, 600)).toEqual({ width: 1024, height: 768 });
    expect(binHunyuanResolution(1920, 1080)).toEqual({ width: 1280, height: 768 });
    expect(binHunyuanResolution(960, 1280)).toEqual({ width: 960, height: 1280 });
  });

  it('crop region of the latent grid against the 512-px base grid', () => {
    expect(resizeCropRegionForGrid(64, 64, 32)).toEqual([
      [0, 0],
      [32, 32],
    ]);
    // 1024×768 (h = 48, w = 64 patches): width fills the base, height = round(32/64·48) = 24, centred.
    expect(resizeCropRegionForGrid(48, 64, 32)).toEqual([
      [4, 0],
      [28, 32],
    ]);
    expect(resizeCropRegionForGrid(64, 48, 32)).toEqual([
      [0, 4],
      [32, 28],
    ]);
  });

  it('rotary embedding: column coordinate in the first half, row in the second, each frequency repeated', () => {
    const { cos, sin } = hunyuanRotaryEmbedding(8, 2, 4, 32);
    // Grid 2×4 against base 32: region (8, 0)–(24, 32); h positions [8, 16], w positions [0, 8, 16, 24].
    // head_dim 8 → 2 frequencies per axis: 1 and 10000^(−1/2) = 0.01.
    const at = (arr: Float32Array, y: number, x: number, k: number) => arr[(y * 4 + x) * 8 + k];
    expect(at(cos, 1, 2, 0)).toBeCloseTo(Math.cos(16), 6);
    expect(at(cos, 1, 2, 1)).toBeCloseTo(Math.cos(16), 6);
    expect(at(cos, 1, 2, 2)).toBeCloseTo(Math.cos(0.16), 6);
    expect(at(sin, 1, 2, 4)).toBeCloseTo(Math.sin(16), 6);
    expect(at(sin, 1, 2, 6)).toBeCloseTo(Math.sin(0.16), 6);
    expect(at(cos, 0, 0, 0)).toBe(1);
    expect(at(sin, 0, 3, 0)).toBeCloseTo(Math.sin(24), 6);
    expect(cos.length).toBe(2 * 4 * 8);
    expect(() => hunyuanRotaryEmbedding(6, 2, 2, 32)).toThrow(RangeError);
  });
});
