import { UnsupportedModelError } from '../errors.js';
import { layerInputs, type KerasGraph, type KerasLayer } from './keras-topology.js';

/**
 * Receptive-field radius of the graph in input pixels: the smallest r such that every output pixel
 * depends only on input pixels within ±r (per axis, Chebyshev) of its source position. Pure.
 *
 * Computed backwards from the output: a stride-1 conv adds ceil(dilation·(k−1)/2) at its own
 * resolution; a nearest upsampling by s maps a radius r at the high resolution to ceil(r/s) below it
 * (exact for floor-mapped nearest neighbour); elementwise layers add nothing; branches take the max.
 * Tiles cut with at least this much context on every side reproduce the single-pass result.
 */
export function receptiveFieldRadius(graph: KerasGraph): number {
  const need = new Map<string, [number, number]>([[graph.output, [0, 0]]]);
  for (let i = graph.layers.length - 1; i >= 0; i--) {
    const layer = graph.layers[i];
    const own = need.get(layer.name);
    if (!own) continue;
    const atInputs = backProject(layer, own);
    for (const dep of layerInputs(layer)) {
      const prev = need.get(dep) ?? [0, 0];
      need.set(dep, [Math.max(prev[0], atInputs[0]), Math.max(prev[1], atInputs[1])]);
    }
  }
  const r = need.get(graph.input) ?? [0, 0];
  return Math.max(r[0], r[1]);
}

function backProject(layer: KerasLayer, r: [number, number]): [number, number] {
  switch (layer.kind) {
    case 'conv2d':
      return [
        r[0] + Math.ceil((layer.dilation[0] * (layer.kernel[0] - 1)) / 2),
        r[1] + Math.ceil((layer.dilation[1] * (layer.kernel[1] - 1)) / 2),
      ];
    case 'upsample':
      return [Math.ceil(r[0] / layer.size[0]), Math.ceil(r[1] / layer.size[1])];
    default:
      return r;
  }
}

/**
 * Total upscaling factor of the graph (product of the nearest-upsampling sizes on every path to the
 * output). Throws UnsupportedModelError when branches of different resolution meet or the factor
 * differs between height and width.
 */
export function graphScale(graph: KerasGraph): number {
  const scale = new Map<string, [number, number]>();
  for (const layer of graph.layers) {
    const ins = layerInputs(layer).map((n): [number, number] => scale.get(n) ?? [1, 1]);
    const base: [number, number] = ins[0] ?? [1, 1];
    if (ins.some((s) => s[0] !== base[0] || s[1] !== base[1])) {
      throw new UnsupportedModelError(layer.name, 'merges branches of different resolution');
    }
    scale.set(layer.name, layer.kind === 'upsample' ? [base[0] * layer.size[0], base[1] * layer.size[1]] : base);
  }
  const [sy, sx] = scale.get(graph.output) ?? [1, 1];
  if (sy !== sx) throw new UnsupportedModelError('', `anisotropic upscaling ${sy}x${sx}`);
  return sy;
}
