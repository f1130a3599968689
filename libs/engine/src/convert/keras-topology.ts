import { UnsupportedModelError } from '../errors.js';

/**
 * The subset of a Keras Functional model (as saved in a TF.js layers model.json) that the converter
 * understands, as a closed union. Parsing rejects everything else with UnsupportedModelError, so a
 * model that parses is one the ONNX builder translates exactly.
 */
export type KerasLayer =
  | { kind: 'input'; name: string; channels: number }
  | {
      kind: 'conv2d';
      name: string;
      input: string;
      filters: number;
      kernel: [number, number];
      dilation: [number, number];
      /** Keras 'same' or 'valid' (valid only for 1×1 kernels: the spatial size never changes). */
      padding: 'same' | 'valid';
      groups: number;
      useBias: boolean;
      relu: boolean;
    }
  | { kind: 'relu'; name: string; input: string }
  | { kind: 'identity'; name: string; input: string }
  | { kind: 'concat'; name: string; inputs: string[]; axis: number }
  | { kind: 'add'; name: string; inputs: string[] }
  | { kind: 'upsample'; name: string; input: string; size: [number, number] };

/** A parsed Functional graph: layers in a valid evaluation order, one input, one output. */
export interface KerasGraph {
  layers: KerasLayer[];
  input: string;
  output: string;
}

type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses `modelJson.modelTopology` of a TF.js layers model. Throws UnsupportedModelError on anything else. */
export function parseKerasGraph(modelJson: object): KerasGraph {
  const topology = (modelJson as Json).modelTopology;
  if (!isObj(topology)) throw new UnsupportedModelError('', 'model.json has no modelTopology object');
  const model = isObj(topology.model_config) ? topology.model_config : topology;
  const className = model.class_name;
  if (className !== 'Functional' && className !== 'Model') {
    throw new UnsupportedModelError('', `model class '${String(className)}' (only Keras Functional models)`);
  }
  const config = model.config;
  if (!isObj(config) || !Array.isArray(config.layers)) {
    throw new UnsupportedModelError('', 'model config has no layers array');
  }
  const input = singleEndpoint(config.input_layers, 'input_layers');
  const output = singleEndpoint(config.output_layers, 'output_layers');
  const layers = config.layers.map((raw) => parseLayer(raw));
  return { layers: evaluationOrder(layers, input, output), input, output };
}

function singleEndpoint(v: unknown, field: string): string {
  if (!Array.isArray(v) || v.length !== 1 || !Array.isArray(v[0]) || typeof v[0][0] !== 'string') {
    throw new UnsupportedModelError('', `${field} must name exactly one layer, got ${JSON.stringify(v)}`);
  }
  if (v[0][1] !== 0 || v[0][2] !== 0) {
    throw new UnsupportedModelError(v[0][0], `${field} refers to node/tensor ${v[0][1]}/${v[0][2]}`);
  }
  return v[0][0];
}

function parseLayer(raw: unknown): KerasLayer {
  if (!isObj(raw) || typeof raw.class_name !== 'string' || !isObj(raw.config)) {
    throw new UnsupportedModelError('', `malformed layer entry ${JSON.stringify(raw)?.slice(0, 200)}`);
  }
  const c = raw.config;
  const name = typeof raw.name === 'string' ? raw.name : String(c.name);
  const fail = (msg: string): never => {
    throw new UnsupportedModelError(name, `${raw.class_name}: ${msg}`);
  };
  if (c.dtype !== undefined && c.dtype !== 'float32') fail(`dtype ${String(c.dtype)} (only float32)`);
  if (c.data_format !== undefined && c.data_format !== 'channels_last') fail(`data_format ${String(c.data_format)}`);
  const inputs = inboundNames(raw.inbound_nodes, fail);

  switch (raw.class_name) {
    case 'InputLayer': {
      const shape = c.batch_input_shape ?? c.batchInputShape;
      if (!Array.isArray(shape) || shape.length !== 4 || typeof shape[3] !== 'number') {
        return fail(`input shape ${JSON.stringify(shape)} (need [batch, H, W, channels] with known channels)`);
      }
      return { kind: 'input', name, channels: shape[3] };
    }
    case 'Conv2D': {
      const kernel = pair(c.kernel_size, 'kernel_size', fail);
      const strides = pair(c.strides ?? [1, 1], 'strides', fail);
      const dilation = pair(c.dilation_rate ?? [1, 1], 'dilation_rate', fail);
      if (strides[0] !== 1 || strides[1] !== 1) fail(`strides ${strides} (only 1)`);
      if (c.padding !== 'same' && c.padding !== 'valid') fail(`padding ${String(c.padding)}`);
      if (c.padding === 'valid' && (kernel[0] !== 1 || kernel[1] !== 1)) {
        fail(`padding valid with kernel ${kernel} shrinks the image (only 1×1 valid)`);
      }
      if (c.activation !== 'linear' && c.activation !== 'relu') fail(`activation ${String(c.activation)}`);
      const groups = c.groups ?? 1;
      if (typeof c.filters !== 'number' || typeof groups !== 'number' || groups < 1) fail('filters/groups');
      return {
        kind: 'conv2d',
        name,
        input: one(inputs, fail),
        filters: c.filters as number,
        kernel,
        dilation,
        padding: c.padding as 'same' | 'valid',
        groups: groups as number,
        useBias: c.use_bias !== false,
        relu: c.activation === 'relu',
      };
    }
    case 'Activation':
      if (c.activation === 'relu') return { kind: 'relu', name, input: one(inputs, fail) };
      if (c.activation === 'linear') return { kind: 'identity', name, input: one(inputs, fail) };
      return fail(`activation ${String(c.activation)}`);
    case 'ReLU':
      if ((c.max_value ?? null) !== null || (c.negative_slope ?? 0) !== 0 || (c.threshold ?? 0) !== 0) {
        fail('ReLU with max_value/negative_slope/threshold');
      }
      return { kind: 'relu', name, input: one(inputs, fail) };
    case 'Concatenate': {
      const axis = c.axis ?? -1;
      if (axis !== -1 && axis !== 3) fail(`axis ${String(axis)} (only the channel axis, 3 or -1)`);
      if (inputs.length < 2) fail('fewer than two inputs');
      return { kind: 'concat', name, inputs, axis: 3 };
    }
    case 'Add':
      if (inputs.length < 2) fail('fewer than two inputs');
      return { kind: 'add', name, inputs };
    case 'UpSampling2D': {
      if ((c.interpolation ?? 'nearest') !== 'nearest') fail(`interpolation ${String(c.interpolation)}`);
      const size = pair(c.size, 'size', fail);
      if (size[0] < 1 || size[1] < 1) fail(`size ${size}`);
      return { kind: 'upsample', name, input: one(inputs, fail), size };
    }
    default:
      return fail('layer class not supported by the converter');
  }
}

function inboundNames(v: unknown, fail: (m: string) => never): string[] {
  if (v === undefined || (Array.isArray(v) && v.length === 0)) return [];
  if (!Array.isArray(v) || v.length !== 1 || !Array.isArray(v[0])) {
    return fail('layer is called more than once (shared layers) or has malformed inbound_nodes');
  }
  return v[0].map((ref: unknown) => {
    if (!Array.isArray(ref) || typeof ref[0] !== 'string') return fail('malformed inbound node');
    if (ref[1] !== 0 || ref[2] !== 0) return fail(`input ${ref[0]} uses node/tensor index ${ref[1]}/${ref[2]}`);
    if (isObj(ref[3]) && Object.keys(ref[3]).length > 0) return fail(`call kwargs ${JSON.stringify(ref[3])}`);
    return ref[0];
  });
}

function one(inputs: string[], fail: (m: string) => never): string {
  if (inputs.length !== 1) fail(`expected one input, got ${inputs.length}`);
  return inputs[0];
}

function pair(v: unknown, field: string, fail: (m: string) => never): [number, number] {
  const arr = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(arr) || arr.length !== 2 || !arr.every((x) => Number.isInteger(x) && x > 0)) {
    return fail(`${field} ${JSON.stringify(v)}`);
  }
  return [arr[0], arr[1]];
}

/** Orders layers so every input precedes its consumers; rejects dangling refs, cycles and dead branches. */
function evaluationOrder(layers: KerasLayer[], input: string, output: string): KerasLayer[] {
  const byName = new Map<string, KerasLayer>();
  for (const l of layers) {
    if (byName.has(l.name)) throw new UnsupportedModelError(l.name, 'duplicate layer name');
    byName.set(l.name, l);
  }
  const first = byName.get(input);
  if (first?.kind !== 'input') throw new UnsupportedModelError(input, 'declared model input is not an InputLayer');
  const ordered: KerasLayer[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, from: string): void => {
    const layer = byName.get(name);
    if (!layer) throw new UnsupportedModelError(from, `input '${name}' is not a layer of the model`);
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') throw new UnsupportedModelError(name, 'cycle in the layer graph');
    state.set(name, 'visiting');
    for (const dep of layerInputs(layer)) visit(dep, name);
    state.set(name, 'done');
    ordered.push(layer);
  };
  visit(output, output);
  for (const l of layers) {
    if (!state.has(l.name)) throw new UnsupportedModelError(l.name, 'layer does not contribute to the output');
    if (l.kind === 'input' && l.name !== input) throw new UnsupportedModelError(l.name, 'second model input');
  }
  return ordered;
}

/** The names of the layers whose outputs `layer` consumes, in order. */
export function layerInputs(layer: KerasLayer): string[] {
  switch (layer.kind) {
    case 'input':
      return [];
    case 'concat':
    case 'add':
      return layer.inputs;
    default:
      return [layer.input];
  }
}
