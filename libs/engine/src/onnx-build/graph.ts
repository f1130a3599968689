/**
 * A small builder for ONNX graphs over `onnx-proto`, for the tiny test models that stand in for real
 * exports (the SVD ones in tiny-svd.ts, the Stable Diffusion ones in sd/). It knows only what those models
 * need: float32 / int64 initializers, graph I/O typed float32 / float16 / int32 / int64 (int32: the CLIP
 * `input_ids` of older exports) with fixed or symbolic dims, nodes with int/ints/float/string attributes,
 * and fp16 boundaries (Cast in, Cast out). Pure: the same calls give the same bytes.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type NodeProto = import('onnx-proto').onnx.INodeProto;
type TensorProto = import('onnx-proto').onnx.ITensorProto;
type AttributeProto = import('onnx-proto').onnx.IAttributeProto;
type ValueInfoProto = import('onnx-proto').onnx.IValueInfoProto;

/** ONNX opset of the built graphs (what onnxruntime-node 1.x runs everywhere; LayerNormalization needs 17). */
export const TINY_OPSET = 17;

/** Element types the builder declares for graph inputs and outputs. */
export type TinyElementType = 'float32' | 'float16' | 'int32' | 'int64';

/** A dim of a graph input/output: a fixed size or a symbolic name (dynamic). */
export type TinyDim = number | string;

const DT = onnx.TensorProto.DataType;
const ELEMENT: Record<TinyElementType, number> = {
  float32: DT.FLOAT,
  float16: DT.FLOAT16,
  int32: DT.INT32,
  int64: DT.INT64,
};
const AttrType = onnx.AttributeProto.AttributeType;

/** Attribute constructors (`a.int('axis', 1)`, …). */
export const a = {
  int: (name: string, v: number): AttributeProto => ({ name, type: AttrType.INT, i: v }),
  ints: (name: string, v: number[]): AttributeProto => ({ name, type: AttrType.INTS, ints: v }),
  float: (name: string, v: number): AttributeProto => ({ name, type: AttrType.FLOAT, f: v }),
  str: (name: string, v: string): AttributeProto => ({ name, type: AttrType.STRING, s: new TextEncoder().encode(v) }),
};

/**
 * Accumulates nodes, initializers and the graph signature; `encode()` returns the serialized ModelProto.
 * Every value name must be unique; `tmp(prefix)` hands out fresh ones.
 */
export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private counter = 0;

  constructor(private readonly name: string) {}

  /** A fresh value name. */
  tmp(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  /** Declares a graph input. */
  input(name: string, type: TinyElementType, dims: TinyDim[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  /**
   * Declares a graph input and returns it as float32 when it is a float: Cast from float16, as-is when
   * float32. Int inputs come back as they are (ids to index with; cast them where a float is needed).
   */
  floatInput(name: string, type: TinyElementType, dims: TinyDim[]): string {
    this.input(name, type, dims);
    return type === 'float16' ? this.toFloat(name) : name;
  }

  /** Declares a graph output (some node must produce `name`). */
  output(name: string, type: TinyElementType, dims: TinyDim[]): void {
    this.outputs.push(valueInfo(name, type, dims));
  }

  /** A float32 initializer (`dims` must hold `data.length` values; [] for a scalar). */
  floats(prefix: string, dims: number[], data: ArrayLike<number>): string {
    if (dims.reduce((p, d) => p * d, 1) !== data.length)
      throw new RangeError(`${prefix}: dims ${dims} ≠ ${data.length}`);
    const name = this.tmp(prefix);
    const raw = new Uint8Array(data.length * 4);
    const view = new DataView(raw.buffer);
    for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i], true);
    this.initializers.push({ name, dims, dataType: DT.FLOAT, rawData: raw });
    return name;
  }

  /** An int64 initializer (shapes, axes, slice bounds); `dims` defaults to 1-D ([] for a scalar). */
  int64s(prefix: string, values: number[], dims: number[] = [values.length]): string {
    const name = this.tmp(prefix);
    const raw = new Uint8Array(values.length * 8);
    const view = new DataView(raw.buffer);
    values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
    this.initializers.push({ name, dims, dataType: DT.INT64, rawData: raw });
    return name;
  }

  /** Adds one node; returns its first output (a fresh name unless `outputs` is given). */
  op(opType: string, inputs: string[], attrs: AttributeProto[] = [], outputs?: string[]): string {
    const outs = outputs ?? [this.tmp(opType.toLowerCase())];
    this.nodes.push({ opType, input: inputs, output: outs, attribute: attrs, name: `${opType}:${outs[0]}` });
    return outs[0];
  }

  /** `x @ w + b` for a weight [k, n] (`b` optional). */
  linear(x: string, w: string, b?: string): string {
    const y = this.op('MatMul', [x, w]);
    return b ? this.op('Add', [y, b]) : y;
  }

  /** Cast to float32 (the graphs compute in float32 whatever their I/O type). */
  toFloat(x: string): string {
    return this.op('Cast', [x], [a.int('to', DT.FLOAT)]);
  }

  /** Cast float32 to `type` into the graph output `name` (Identity when already float32). */
  emit(x: string, name: string, type: TinyElementType): void {
    if (type === 'float32') this.op('Identity', [x], [], [name]);
    else this.op('Cast', [x], [a.int('to', ELEMENT[type])], [name]);
  }

  /** The serialized ModelProto (IR 8, opset TINY_OPSET). */
  encode(docString: string): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: TINY_OPSET }],
      producerName: 'tessera-engine onnx-build',
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

function valueInfo(name: string, type: TinyElementType, dims: TinyDim[]): ValueInfoProto {
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
 * Seeded weights: mulberry32 uniforms mapped to [−scale, scale). Deterministic and independent of any
 * other generator in the engine, so a tiny model's weights never change when noise code does.
 */
export class WeightRng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** `count` uniforms in [offset − scale, offset + scale) (offset default 0). */
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
