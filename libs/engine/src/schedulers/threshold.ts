import { f32 } from './numeric.js';

/**
 * Imagen's dynamic thresholding as diffusers' `_threshold_sample` does it, per batch item, in float32:
 * s = quantile(|x̂₀|, ratio) over the item's elements (torch.quantile, linear interpolation),
 * s = clamp(s, min 1, max sampleMaxValue) — torch.clamp semantics, so when sampleMaxValue < 1 every s is
 * sampleMaxValue — then x̂₀ = clamp(x̂₀, −s, s) / s. `batchSize` must divide the sample length.
 */
export function dynamicThreshold(
  sample: Float32Array,
  batchSize: number,
  ratio: number,
  sampleMaxValue: number,
): Float32Array {
  if (!Number.isInteger(batchSize) || batchSize < 1 || sample.length % batchSize !== 0) {
    throw new RangeError(`batchSize ${batchSize} does not divide the sample length ${sample.length}`);
  }
  const per = sample.length / batchSize;
  const out = new Float32Array(sample.length);
  const q = f32(ratio);
  for (let b = 0; b < batchSize; b++) {
    const item = sample.subarray(b * per, (b + 1) * per);
    const sorted = Float32Array.from(item, Math.abs).sort();
    const s = Math.min(Math.max(quantileSorted(sorted, q), 1), sampleMaxValue);
    const sF = f32(s);
    for (let i = 0; i < per; i++) {
      const v = item[i];
      out[b * per + i] = f32((v < -sF ? -sF : v > sF ? sF : v) / sF);
    }
  }
  return out;
}

/** torch.quantile's linear method on an ascending float32 array: rank = q·(n−1) in float32, then torch.lerp. */
function quantileSorted(sorted: Float32Array, q: number): number {
  const rank = f32(q * (sorted.length - 1));
  const below = Math.floor(rank);
  const above = Math.ceil(rank);
  const weight = f32(rank - below);
  const a = sorted[below];
  const b = sorted[above];
  return weight < 0.5 ? f32(a + f32(weight * f32(b - a))) : f32(b - f32(f32(b - a) * f32(1 - weight)));
}
