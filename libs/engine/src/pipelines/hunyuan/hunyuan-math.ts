/**
 * The pure pieces of diffusers' HunyuanDiTPipeline (pipelines/hunyuandit/pipeline_hunyuandit.py and
 * models/embeddings.py): resolution binning to the trained shapes, the crop region of the latent grid against the
 * 512-px base grid, and the 2-D rotary position embeddings (cos, sin) [N, head_dim] the transformer takes as
 * `cos_cis_img` / `sin_cis_img`. float32 where torch / numpy hold float32.
 */
const f32 = Math.fround;

/** The shapes Hunyuan-DiT was trained on, as (width, height), grouped by aspect ratio (diffusers' STANDARD_SHAPE). */
const STANDARD_RATIO = [1.0, 4.0 / 3.0, 3.0 / 4.0, 16.0 / 9.0, 9.0 / 16.0];
const STANDARD_SHAPE: [number, number][][] = [
  [
    [1024, 1024],
    [1280, 1280],
  ],
  [
    [1024, 768],
    [1152, 864],
    [1280, 960],
  ],
  [
    [768, 1024],
    [864, 1152],
    [960, 1280],
  ],
  [[1280, 768]],
  [[768, 1280]],
];

/** Whether (width, height) is one of the trained shapes (diffusers' SUPPORTED_SHAPE). */
export function isSupportedHunyuanShape(width: number, height: number): boolean {
  return STANDARD_SHAPE.some((g) => g.some(([w, h]) => w === width && h === height));
}

/**
 * diffusers' `use_resolution_binning`: a size that is not a trained shape maps to the trained shape of the closest
 * aspect ratio, then the closest area (first minimum on ties, as numpy's argmin). Returns { width, height }.
 */
export function binHunyuanResolution(width: number, height: number): { width: number; height: number } {
  if (isSupportedHunyuanShape(width, height)) return { width, height };
  const argmin = (xs: number[]) => xs.reduce((best, x, i) => (x < xs[best] ? i : best), 0);
  const r = argmin(STANDARD_RATIO.map((s) => Math.abs(s - width / height)));
  const a = argmin(STANDARD_SHAPE[r].map(([w, h]) => Math.abs(w * h - width * height)));
  const [w, h] = STANDARD_SHAPE[r][a];
  return { width: w, height: h };
}

/** Python's round() (half to even). */
function pyRound(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** diffusers' `get_resize_crop_region_for_grid(src=(h, w), tgt_size)`: [[top, left], [bottom, right]]. */
export function resizeCropRegionForGrid(h: number, w: number, base: number): [[number, number], [number, number]] {
  let rh: number;
  let rw: number;
  if (h / w > 1) {
    rh = base;
    rw = Math.trunc(pyRound((base / h) * w));
  } else {
    rw = base;
    rh = Math.trunc(pyRound((base / w) * h));
  }
  const top = Math.trunc(pyRound((base - rh) / 2));
  const left = Math.trunc(pyRound((base - rw) / 2));
  return [
    [top, left],
    [top + rh, left + rw],
  ];
}

/**
 * `get_2d_rotary_pos_embed(head_dim, crops, (gh, gw), use_real=True)`: positions are numpy linspaces over the crop
 * region (endpoint excluded, float32), laid out row-major over the [gh, gw] grid; the first head_dim/2 columns rotate
 * by the column (w) coordinate and the rest by the row (h) coordinate — diffusers meshgrids (w, h) and calls the
 * first "emb_h" — each as cos/sin(pos·θ^(−2i/d)) repeated twice (repeat_interleave). Returns float32 [N·head_dim].
 */
export function hunyuanRotaryEmbedding(
  headDim: number,
  gridH: number,
  gridW: number,
  base: number,
): { cos: Float32Array; sin: Float32Array } {
  if (headDim % 4 !== 0) throw new RangeError(`head_dim ${headDim} must be a multiple of 4`);
  const [[top, left], [bottom, right]] = resizeCropRegionForGrid(gridH, gridW, base);
  const lin = (a: number, b: number, n: number) => Array.from({ length: n }, (_, i) => f32(a + (i * (b - a)) / n));
  const hs = lin(top, bottom, gridH);
  const ws = lin(left, right, gridW);
  const half = headDim / 2; // each axis gets head_dim/2 columns: half/2 frequencies, each repeated twice
  const freqs = Array.from({ length: half / 2 }, (_, i) => f32(1 / f32(10000 ** f32((2 * i) / half))));
  const n = gridH * gridW;
  const cos = new Float32Array(n * headDim);
  const sin = new Float32Array(n * headDim);
  for (let y = 0; y < gridH; y++) {
    for (let x = 0; x < gridW; x++) {
      const row = (y * gridW + x) * headDim;
      for (const [offset, pos] of [
        [0, ws[x]],
        [half, hs[y]],
      ] as const) {
        for (let i = 0; i < freqs.length; i++) {
          const angle = f32(pos * freqs[i]);
          const c = f32(Math.cos(angle));
          const s = f32(Math.sin(angle));
          cos[row + offset + 2 * i] = c;
          cos[row + offset + 2 * i + 1] = c;
          sin[row + offset + 2 * i] = s;
          sin[row + offset + 2 * i + 1] = s;
        }
      }
    }
  }
  return { cos, sin };
}
