/**
 * A minimal ONNX graph builder over `onnx-proto` for the tiny Stable-Diffusion stand-ins. It knows what those
 * models need and nothing more: float32/int64 initializers, graph I/O typed float32 / float16 / int32 / int64
 * with fixed or symbolic dims, nodes with int/ints/float attributes. Graphs compute in float32; fp16 I/O is a
 * Cast at the boundary (as an fp16 export's tensors look from outside). Pure: the same calls give the same bytes.
 *
 * (onnx-build/graph.ts, written for the SVD stand-ins at the same time, has no int32 I/O, which the CLIP
 * `input_ids` of older exports use; the two can merge once both have landed.)
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type NodeProto = import('onnx-proto').onnx.INodeProto;
type TensorProto = import('onnx-proto').onnx.ITensorProto;
type AttributeProto = import('onnx-proto').onnx.IAttributeProto;
type ValueInfoProto = import('onnx-proto').onnx.IValueInfoProto;

/** ONNX opset of the tiny graphs (LayerNormalization needs 17). */
export const TINY_SD_OPSET = 17;

/** Element types of graph inputs and outputs. */
export type TinyIoType = 'float32' | 'float16' | 'int32' | 'int64';

const DT = onnx.TensorProto.DataType;
const ELEMENT: Record<TinyIoType, number> = {
  float32: DT.FLOAT,
  float16: DT.FLOAT16,
  int32: DT.INT32,
  int64: DT.INT64,
};
const AttrType = onnx.AttributeProto.AttributeType;

/** Attribute constructors. */
export const attr = {
  int: (name: string, v: number): AttributeProto => ({ name, type: AttrType.INT, i: v }),
  ints: (name: string, v: number[]): AttributeProto => ({ name, type: AttrType.INTS, ints: v }),
  float: (name: string, v: number): AttributeProto => ({ name, type: AttrType.FLOAT, f: v }),
  str: (name: string, v: string): AttributeProto => ({ name, type: AttrType.STRING, s: new TextEncoder().encode(v) }),
};

/** The ONNX element type code of float32 (for Cast). */
export const FLOAT = DT.FLOAT;

/** Accumulates a graph; `encode()` gives the serialized ModelProto. Value names come from `tmp()`. */
export class TinyGraph {
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private counter = 0;

  constructor(private readonly name: string) {}

  tmp(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  /** Declares a graph input and returns it as float32 (Cast unless already float32; ints are left as they are). */
  input(name: string, type: TinyIoType, dims: (number | string)[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return type === 'float16' ? this.op('Cast', [name], [attr.int('to', FLOAT)]) : name;
  }

  /** Makes the float32 value `x` the graph output `name` of element type `type`. */
  output(x: string, name: string, type: TinyIoType, dims: (number | string)[]): void {
    this.outputs.push(valueInfo(name, type, dims));
    if (type === 'float32') this.op('Identity', [x], [], [name]);
    else this.op('Cast', [x], [attr.int('to', ELEMENT[type])], [name]);
  }

  floats(prefix: string, dims: number[], data: ArrayLike<number>): string {
    if (dims.reduce((a, b) => a * b, 1) !== data.length)
      throw new RangeError(`${prefix}: dims ${dims} ≠ ${data.length}`);
    const name = this.tmp(prefix);
    const raw = new Uint8Array(data.length * 4);
    const view = new DataView(raw.buffer);
    for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
    this.initializers.push({ name, dims, dataType: DT.FLOAT, rawData: raw });
    return name;
  }

  /** An int64 initializer; `dims` defaults to a 1-D tensor of the values ([] for a scalar). */
  int64s(prefix: string, values: number[], dims: number[] = [values.length]): string {
    const name = this.tmp(prefix);
    const raw = new Uint8Array(values.length * 8);
    const view = new DataView(raw.buffer);
    values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
    this.initializers.push({ name, dims, dataType: DT.INT64, rawData: raw });
    return name;
  }

  op(opType: string, inputs: string[], attrs: AttributeProto[] = [], outputs?: string[]): string {
    const outs = outputs ?? [this.tmp(opType.toLowerCase())];
    this.nodes.push({ opType, input: inputs, output: outs, attribute: attrs, name: `${opType}:${outs[0]}` });
    return outs[0];
  }

  /** `x @ w + b` for a weight [k, n] (b optional). */
  linear(x: string, w: string, b?: string): string {
    const y = this.op('MatMul', [x, w]);
    return b ? this.op('Add', [y, b]) : y;
  }

  encode(docString: string): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: TINY_SD_OPSET }],
      producerName: 'tessera-engine onnx-build/sd',
      producerVersion: '1',
      docString,
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(name: string, type: TinyIoType, dims: (number | string)[]): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEMENT[type],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

/**
 * Seeded weights (mulberry32 uniforms in [−scale, scale)), independent of every other generator in the engine so
 * a tiny model's weights never change when noise code does.
 */
export class TinyWeights {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  uniform(count: number, scale: number, offset = 0): Float32Array {
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) out[i] = offset + (this.next() * 2 - 1) * scale;
    return out;
  }

  private next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}
