import onnxProto from 'onnx-proto';
import { UnsupportedModelError } from '../errors.js';
import { layerInputs, parseKerasGraph, type KerasLayer } from './keras-topology.js';
import { layerWeight, readWeights, type WeightTensor } from './keras-weights.js';
import { graphScale, receptiveFieldRadius } from './receptive-field.js';

const { onnx } = onnxProto;
type NodeProto = import('onnx-proto').onnx.INodeProto;
type TensorProto = import('onnx-proto').onnx.ITensorProto;
type AttributeProto = import('onnx-proto').onnx.IAttributeProto;

/** Bumped whenever the converter's output changes, so cached conversions are redone. */
export const CONVERTER_VERSION = '1';
/** ONNX opset the converted graph targets (Conv, Relu, Concat, Add/Sum, Resize, Transpose). */
export const CONVERTED_OPSET = 17;

/** Result of converting a TF.js layers upscaler. */
export interface ConvertedModel {
  /** Serialized ONNX ModelProto. */
  onnx: Uint8Array;
  /** Integer upscaling factor (output size = input size · scale). */
  scale: number;
  /** Receptive-field radius in input pixels (see receptiveFieldRadius). */
  receptiveFieldPx: number;
}

/**
 * Converts a TF.js layers model (parsed model.json + concatenated weight shards) of an RGB upscaler
 * into ONNX. The ONNX graph keeps the Keras interface: one input named like the Keras InputLayer,
 * float32 NHWC `[N, H, W, 3]` with pixel values 0–255; one output named like the Keras output layer,
 * float32 NHWC `[N, H·scale, W·scale, 3]`, 0–255, unclamped. N, H and W are dynamic. Internally the
 * graph transposes to NCHW once, runs Conv (kernels HWIO → OIHW), Relu, Concat, Add/Sum and nearest
 * Resize, and transposes back. Anything outside that subset throws UnsupportedModelError.
 */
export function convertLayersModelToOnnx(modelJson: object, weights: Uint8Array): ConvertedModel {
  const graph = parseKerasGraph(modelJson);
  const scale = graphScale(graph);
  const receptiveFieldPx = receptiveFieldRadius(graph);
  const tensors = readWeights(modelJson, weights);
  const used = new Set<WeightTensor>();
  const channels = new Map<string, number>();
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  const t = (layer: string): string => `${layer}/nchw`;

  for (const layer of graph.layers) {
    const ins = layerInputs(layer);
    const inCh = ins.map((n) => channels.get(n) as number);
    switch (layer.kind) {
      case 'input':
        nodes.push(node('Transpose', [layer.name], [t(layer.name)], [ints('perm', [0, 3, 1, 2])]));
        channels.set(layer.name, layer.channels);
        break;
      case 'conv2d': {
        const { kernelOihw, bias } = convWeights(layer, inCh[0], tensors, used);
        initializers.push(
          floatTensor(`${layer.name}/W`, [layer.filters, inCh[0] / layer.groups, ...layer.kernel], kernelOihw),
        );
        initializers.push(floatTensor(`${layer.name}/B`, [layer.filters], bias));
        const out = layer.relu ? `${layer.name}/preact` : t(layer.name);
        nodes.push(
          node('Conv', [t(layer.input), `${layer.name}/W`, `${layer.name}/B`], [out], convAttrs(layer), layer.name),
        );
        if (layer.relu) nodes.push(node('Relu', [out], [t(layer.name)]));
        channels.set(layer.name, layer.filters);
        break;
      }
      case 'relu':
      case 'identity':
        nodes.push(
          node(layer.kind === 'relu' ? 'Relu' : 'Identity', [t(layer.input)], [t(layer.name)], [], layer.name),
        );
        channels.set(layer.name, inCh[0]);
        break;
      case 'concat':
        nodes.push(node('Concat', layer.inputs.map(t), [t(layer.name)], [int('axis', 1)], layer.name));
        channels.set(
          layer.name,
          inCh.reduce((a, b) => a + b, 0),
        );
        break;
      case 'add':
        if (inCh.some((c) => c !== inCh[0])) throw new UnsupportedModelError(layer.name, `Add of channels ${inCh}`);
        nodes.push(
          node(layer.inputs.length === 2 ? 'Add' : 'Sum', layer.inputs.map(t), [t(layer.name)], [], layer.name),
        );
        channels.set(layer.name, inCh[0]);
        break;
      case 'upsample':
        initializers.push(floatTensor(`${layer.name}/scales`, [4], Float32Array.from([1, 1, ...layer.size])));
        nodes.push(
          node(
            'Resize',
            [t(layer.input), '', `${layer.name}/scales`],
            [t(layer.name)],
            [str('mode', 'nearest'), str('coordinate_transformation_mode', 'asymmetric'), str('nearest_mode', 'floor')],
            layer.name,
          ),
        );
        channels.set(layer.name, inCh[0]);
        break;
    }
  }
  const unused = [...tensors].filter(([, w]) => !used.has(w)).map(([n]) => n);
  if (unused.length > 0) throw new UnsupportedModelError('', `weights not used by any layer: ${unused.join(', ')}`);
  const inCh = channels.get(graph.input);
  const outCh = channels.get(graph.output);
  if (inCh !== 3 || outCh !== 3)
    throw new UnsupportedModelError('', `not an RGB upscaler: ${inCh} → ${outCh} channels`);
  nodes.push(node('Transpose', [t(graph.output)], [graph.output], [ints('perm', [0, 2, 3, 1])]));

  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: CONVERTED_OPSET }],
    producerName: 'tessera-engine',
    producerVersion: CONVERTER_VERSION,
    docString: `TF.js layers upscaler x${scale} converted by @tessera/engine; NHWC float32 0-255 in and out`,
    metadataProps: [
      { key: 'tessera.scale', value: String(scale) },
      { key: 'tessera.receptive_field_px', value: String(receptiveFieldPx) },
      { key: 'tessera.layout', value: 'NHWC' },
    ],
    graph: {
      name: 'upscaler',
      node: nodes,
      initializer: initializers,
      input: [nhwcValue(graph.input, 'H', 'W')],
      output: [nhwcValue(graph.output, 'H_out', 'W_out')],
    },
  });
  return { onnx: onnx.ModelProto.encode(model).finish(), scale, receptiveFieldPx };
}

function convWeights(
  layer: Extract<KerasLayer, { kind: 'conv2d' }>,
  inChannels: number,
  tensors: Map<string, WeightTensor>,
  used: Set<WeightTensor>,
): { kernelOihw: Float32Array; bias: Float32Array } {
  const [kh, kw] = layer.kernel;
  const o = layer.filters;
  if (inChannels % layer.groups !== 0 || o % layer.groups !== 0) {
    throw new UnsupportedModelError(layer.name, `groups ${layer.groups} do not divide channels ${inChannels}→${o}`);
  }
  const i = inChannels / layer.groups;
  const kernel = layerWeight(tensors, layer.name, 'kernel');
  const expected = [kh, kw, i, o];
  if (kernel.shape.join() !== expected.join()) {
    throw new UnsupportedModelError(layer.name, `kernel shape ${kernel.shape} where HWIO ${expected} was expected`);
  }
  used.add(kernel);
  const kernelOihw = new Float32Array(kernel.data.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let c = 0; c < i; c++)
        for (let f = 0; f < o; f++) {
          kernelOihw[((f * i + c) * kh + y) * kw + x] = kernel.data[((y * kw + x) * i + c) * o + f];
        }
  let bias: Float32Array = new Float32Array(o);
  if (layer.useBias) {
    const b = layerWeight(tensors, layer.name, 'bias');
    if (b.shape.join() !== String(o)) throw new UnsupportedModelError(layer.name, `bias shape ${b.shape}, want [${o}]`);
    used.add(b);
    bias = b.data;
  }
  return { kernelOihw, bias };
}

/** ONNX pads for Keras padding: 'same' puts the odd pixel at the end, like TensorFlow. */
function convAttrs(layer: Extract<KerasLayer, { kind: 'conv2d' }>): AttributeProto[] {
  const total = layer.padding === 'same' ? layer.kernel.map((k, a) => layer.dilation[a] * (k - 1)) : [0, 0];
  const begin = total.map((p) => Math.floor(p / 2));
  const end = total.map((p, a) => p - begin[a]);
  return [
    ints('kernel_shape', layer.kernel),
    ints('strides', [1, 1]),
    ints('dilations', layer.dilation),
    ints('pads', [begin[0], begin[1], end[0], end[1]]),
    int('group', layer.groups),
  ];
}

function node(
  opType: string,
  input: string[],
  output: string[],
  attribute: AttributeProto[] = [],
  name?: string,
): NodeProto {
  return { opType, input, output, attribute, name: name ?? `${opType}:${output[0]}` };
}

const AttrType = onnx.AttributeProto.AttributeType;
const ints = (name: string, v: number[]): AttributeProto => ({ name, type: AttrType.INTS, ints: v });
const int = (name: string, v: number): AttributeProto => ({ name, type: AttrType.INT, i: v });
const str = (name: string, v: string): AttributeProto => ({
  name,
  type: AttrType.STRING,
  s: new TextEncoder().encode(v),
});

function floatTensor(name: string, dims: number[], data: Float32Array): TensorProto {
  const raw = new Uint8Array(data.length * 4);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
  return { name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: raw };
}

function nhwcValue(name: string, h: string, w: string): import('onnx-proto').onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: [{ dimParam: 'N' }, { dimParam: h }, { dimParam: w }, { dimValue: 3 }] },
      },
    },
  };
}
