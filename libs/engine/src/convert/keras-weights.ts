import { UnsupportedModelError } from '../errors.js';

/** One named float32 weight tensor, in the layout TF.js stored it (Conv2D kernels are HWIO). */
export interface WeightTensor {
  shape: number[];
  data: Float32Array;
}

/**
 * Splits the concatenated weight shards of a TF.js layers model (all groups' shard files, in
 * manifest order) into named tensors. Only unquantised float32 is accepted; the byte count must match
 * the manifest exactly. Pure.
 */
export function readWeights(modelJson: object, weights: Uint8Array): Map<string, WeightTensor> {
  const manifest = (modelJson as { weightsManifest?: unknown }).weightsManifest;
  if (!Array.isArray(manifest)) throw new UnsupportedModelError('', 'model.json has no weightsManifest');
  const view = new DataView(weights.buffer, weights.byteOffset, weights.byteLength);
  const out = new Map<string, WeightTensor>();
  let offset = 0;
  for (const group of manifest as { weights?: unknown }[]) {
    for (const spec of (group.weights ?? []) as {
      name: string;
      shape: number[];
      dtype?: string;
      quantization?: unknown;
    }[]) {
      if (spec.quantization) throw new UnsupportedModelError('', `weight '${spec.name}' is quantised`);
      if ((spec.dtype ?? 'float32') !== 'float32') {
        throw new UnsupportedModelError('', `weight '${spec.name}' has dtype ${spec.dtype} (only float32)`);
      }
      const count = spec.shape.reduce((a, b) => a * b, 1);
      if (offset + count * 4 > weights.byteLength) {
        throw new UnsupportedModelError('', `weights end before '${spec.name}' (${weights.byteLength} bytes given)`);
      }
      const data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(offset + i * 4, true);
      offset += count * 4;
      out.set(spec.name, { shape: [...spec.shape], data });
    }
  }
  if (offset !== weights.byteLength) {
    throw new UnsupportedModelError('', `manifest describes ${offset} weight bytes, ${weights.byteLength} given`);
  }
  return out;
}

/**
 * Finds a layer's weight by suffix ('kernel' / 'bias'). TF.js names them `<layer>/<suffix>`, sometimes
 * with a scope prefix or a `:0` suffix; exactly one candidate must match.
 */
export function layerWeight(weights: Map<string, WeightTensor>, layer: string, suffix: string): WeightTensor {
  const exact = weights.get(`${layer}/${suffix}`);
  if (exact) return exact;
  const matches = [...weights.keys()].filter((k) => {
    const bare = k.replace(/:0$/, '');
    return bare === `${layer}/${suffix}` || bare.endsWith(`/${layer}/${suffix}`);
  });
  if (matches.length !== 1) {
    throw new UnsupportedModelError(layer, `expected one weight '${layer}/${suffix}', found ${matches.length}`);
  }
  return weights.get(matches[0]) as WeightTensor;
}
