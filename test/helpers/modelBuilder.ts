// A tiny ONNX model builder for tests: hand-built graphs that exercise one rule at a time.
//
//   const b = new ModelBuilder({ opset: 13 });
//   const x = b.input('x', [1, 3, 8, 8]);
//   let y = b.conv(x, 3, 8, { k: 3 });
//   y = b.relu(b.bn(y, 8, { gamma: [...] }));
//   b.output(b.gemm(b.flatten(b.gap(y)), 8, 10));
//   const file = b.save(path.join(dir, 'm.onnx'));
import * as fs from 'node:fs';
import Long from 'long';
import { mulberry32 } from '../../src/engine/runtime/inputs.ts';
import { ModelProtoType, type ModelProto, type TensorProto, DataType, AttributeType } from '../../src/engine/onnx/proto.ts';

/** Deterministic PRNG (mulberry32, as the engine uses for inputs) so test models are the same on every run. */
export const prng = mulberry32;

/** Wrap a number to force a FLOAT attribute (plain integers become INT). */
export const f = (v: number) => ({ float: v });
export type AttrValue = number | number[] | string | { float: number } | { floats: number[] } | { tensor: TensorProto };

export type TensorInit = Float32Array | number[] | 'random' | 'ones' | 'zeros';

export interface ConvOpts { k?: number; stride?: number; pad?: number; group?: number; bias?: boolean; dilation?: number; name?: string; weight?: TensorInit }

export class ModelBuilder {
  private readonly nodes: any[] = [];
  private readonly inits: TensorProto[] = [];
  private readonly inputs: any[] = [];
  private readonly outputs: any[] = [];
  private readonly rand: () => number;
  private counter = 0;
  readonly opset: number;
  irVersion: number;
  /** Store float initializers in `float_data` instead of `raw_data`. */
  typedStorage = false;

  constructor(opts: { opset?: number; irVersion?: number; seed?: number } = {}) {
    this.opset = opts.opset ?? 13;
    this.irVersion = opts.irVersion ?? 7;
    this.rand = prng(opts.seed ?? 1);
  }

  private fresh(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }

  /** A value uniformly random in [-1, 1). */
  random(): number {
    return this.rand() * 2 - 1;
  }

  input(name: string, dims: (number | string)[], elemType: number = DataType.FLOAT): string {
    this.inputs.push(valueInfo(name, dims, elemType));
    return name;
  }

  output(name: string, dims?: (number | string)[], elemType: number = DataType.FLOAT): string {
    this.outputs.push(valueInfo(name, dims, elemType));
    return name;
  }

  floatTensor(name: string, dims: number[], data: TensorInit = 'random'): TensorProto {
    const n = dims.reduce((a, b) => a * b, 1);
    let values: Float32Array;
    if (data === 'random') values = Float32Array.from({ length: n }, () => this.random() * 0.5);
    else if (data === 'ones') values = new Float32Array(n).fill(1);
    else if (data === 'zeros') values = new Float32Array(n);
    else values = Float32Array.from(data);
    if (values.length !== n) throw new Error(`tensor ${name}: ${values.length} values for dims ${dims}`);
    const t: any = { name, dims: dims.map((d) => Long.fromNumber(d)), data_type: DataType.FLOAT };
    if (this.typedStorage) t.float_data = Array.from(values);
    else t.raw_data = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
    return t as TensorProto;
  }

  int64Tensor(name: string, values: number[], dims: number[] = [values.length]): TensorProto {
    const buf = Buffer.alloc(values.length * 8);
    values.forEach((v, i) => buf.writeBigInt64LE(BigInt(v), i * 8));
    return { name, dims: dims.map((d) => Long.fromNumber(d)), data_type: DataType.INT64, raw_data: buf } as unknown as TensorProto;
  }

  /** Adds a float initializer and returns its name. */
  init(name: string, dims: number[], data: TensorInit = 'random'): string {
    this.inits.push(this.floatTensor(name, dims, data));
    return name;
  }

  initInt64(name: string, values: number[], dims?: number[]): string {
    this.inits.push(this.int64Tensor(name, values, dims));
    return name;
  }

  initTensor(t: TensorProto): string {
    this.inits.push(t);
    return t.name!;
  }

  /** A Constant node holding a float tensor; returns its output name. */
  constantNode(dims: number[], data: TensorInit = 'random', name?: string): string {
    const out = name ?? this.fresh('const');
    this.nodes.push({ op_type: 'Constant', name: `${out}_node`, input: [], output: [out], attribute: [encodeAttr('value', { tensor: this.floatTensor(`${out}_value`, dims, data) })] });
    return out;
  }

  constantInt64(values: number[], name?: string): string {
    const out = name ?? this.fresh('const');
    this.nodes.push({ op_type: 'Constant', name: `${out}_node`, input: [], output: [out], attribute: [encodeAttr('value', { tensor: this.int64Tensor(`${out}_value`, values) })] });
    return out;
  }

  /** Adds a node; returns its output names. */
  nodeMulti(op: string, inputs: string[], nOutputs: number, attrs: Record<string, AttrValue> = {}, name?: string): string[] {
    const nodeName = name ?? this.fresh(op);
    const outputs = Array.from({ length: nOutputs }, (_, i) => `${nodeName}_out${i}`);
    this.nodes.push({ op_type: op, name: nodeName, input: inputs, output: outputs, attribute: Object.entries(attrs).map(([k, v]) => encodeAttr(k, v)) });
    return outputs;
  }

  /** Adds a node with one output; returns the output name. */
  node(op: string, inputs: string[], attrs: Record<string, AttrValue> = {}, name?: string): string {
    return this.nodeMulti(op, inputs, 1, attrs, name)[0];
  }

  conv(x: string, cin: number, cout: number, o: ConvOpts = {}): string {
    const k = o.k ?? 3;
    const group = o.group ?? 1;
    const name = o.name ?? this.fresh('Conv');
    const w = this.init(`${name}.weight`, [cout, cin / group, k, k], o.weight ?? 'random');
    const inputs = [x, w];
    if (o.bias ?? true) inputs.push(this.init(`${name}.bias`, [cout]));
    const pad = o.pad ?? (k >> 1);
    const attrs: Record<string, AttrValue> = { kernel_shape: [k, k], pads: [pad, pad, pad, pad], strides: [o.stride ?? 1, o.stride ?? 1], group };
    if (o.dilation) attrs.dilations = [o.dilation, o.dilation];
    return this.node('Conv', inputs, attrs, name);
  }

  bn(x: string, c: number, o: { gamma?: TensorInit; beta?: TensorInit; mean?: TensorInit; var?: TensorInit; name?: string; eps?: number } = {}): string {
    const name = o.name ?? this.fresh('BatchNormalization');
    const varInit: TensorInit = o.var ?? Array.from({ length: c }, () => 0.5 + this.rand());
    const inputs = [
      x,
      this.init(`${name}.weight`, [c], o.gamma ?? Array.from({ length: c }, () => 0.2 + this.rand())),
      this.init(`${name}.bias`, [c], o.beta ?? 'random'),
      this.init(`${name}.running_mean`, [c], o.mean ?? 'random'),
      this.init(`${name}.running_var`, [c], varInit),
    ];
    return this.node('BatchNormalization', inputs, { epsilon: f(o.eps ?? 1e-5) }, name);
  }

  relu(x: string): string {
    return this.node('Relu', [x]);
  }

  add(a: string, b: string): string {
    return this.node('Add', [a, b]);
  }

  mul(a: string, b: string): string {
    return this.node('Mul', [a, b]);
  }

  gap(x: string): string {
    return this.node('GlobalAveragePool', [x]);
  }

  flatten(x: string, axis = 1): string {
    return this.node('Flatten', [x], { axis });
  }

  concat(xs: string[], axis = 1): string {
    return this.node('Concat', xs, { axis });
  }

  gemm(x: string, inFeatures: number, outFeatures: number, name?: string): string {
    const n = name ?? this.fresh('Gemm');
    const w = this.init(`${n}.weight`, [outFeatures, inFeatures]);
    const bias = this.init(`${n}.bias`, [outFeatures]);
    return this.node('Gemm', [x, w, bias], { alpha: f(1), beta: f(1), transB: 1 }, n);
  }

  /** An integer initializer (INT8, UINT8 or INT32, raw little-endian data); returns its name. */
  initInt(name: string, dims: number[], values: ArrayLike<number>, dataType: number): string {
    const n = dims.reduce((a, b) => a * b, 1);
    if (values.length !== n) throw new Error(`tensor ${name}: ${values.length} values for dims ${dims}`);
    const size = dataType === DataType.INT32 ? 4 : 1;
    const buf = Buffer.alloc(n * size);
    for (let i = 0; i < n; i++) {
      if (dataType === DataType.INT32) buf.writeInt32LE(values[i], i * 4);
      else if (dataType === DataType.INT8) buf.writeInt8(values[i], i);
      else buf.writeUInt8(values[i], i);
    }
    this.inits.push({ name, dims: dims.map((d) => Long.fromNumber(d)), data_type: dataType, raw_data: buf } as unknown as TensorProto);
    return name;
  }

  /**
   * A DequantizeLinear of integer constants: `q` (dims `dims`, element type `dataType`), `scale` and
   * `zeroPoint` of one element (per tensor: scalars) or one per index of `axis` (per channel).
   * Returns the dequantised value's name.
   */
  dequantized(name: string, dims: number[], q: QuantizedTensor, dataType: number = DataType.INT8): string {
    const perChannel = q.axis !== undefined;
    const sDims = perChannel ? [q.scale.length] : [];
    const inputs = [this.initInt(`${name}_quantized`, dims, q.q, dataType), this.init(`${name}_scale`, sDims, q.scale)];
    if (q.zeroPoint) inputs.push(this.initInt(`${name}_zero_point`, sDims, q.zeroPoint, dataType));
    return this.node('DequantizeLinear', inputs, perChannel ? { axis: q.axis! } : {}, `${name}_DequantizeLinear`);
  }

  /** A QuantizeLinear → DequantizeLinear pair on an activation (uint8, as ONNX Runtime's static quantisation writes them); per channel on axis 1 when `scale` has several values. */
  qdq(x: string, scale: number[], zeroPoint: number[], name?: string): string {
    const n = name ?? this.fresh('qdq');
    const perChannel = scale.length > 1;
    const sDims = perChannel ? [scale.length] : [];
    const s = this.init(`${n}_scale`, sDims, scale);
    const z = this.initInt(`${n}_zero_point`, sDims, zeroPoint, DataType.UINT8);
    const attrs: Record<string, AttrValue> = perChannel ? { axis: 1 } : {};
    const q = this.node('QuantizeLinear', [x, s, z], attrs, `${n}_QuantizeLinear`);
    return this.node('DequantizeLinear', [q, s, z], attrs, `${n}_DequantizeLinear`);
  }

  build(): ModelProto {
    return {
      ir_version: Long.fromNumber(this.irVersion),
      producer_name: 'onnx-pruner-tests',
      opset_import: [{ domain: '', version: Long.fromNumber(this.opset) }],
      graph: { name: 'test', node: this.nodes, initializer: this.inits, input: this.inputs, output: this.outputs, value_info: [], sparse_initializer: [] } as any,
      metadata_props: [],
      functions: [],
    } as ModelProto;
  }

  toBuffer(): Uint8Array {
    return ModelProtoType.encode(ModelProtoType.fromObject(this.build() as any)).finish();
  }

  save(file: string): string {
    fs.writeFileSync(file, this.toBuffer());
    return file;
  }
}

function valueInfo(name: string, dims: (number | string)[] | undefined, elemType: number): any {
  const tensor_type: any = { elem_type: elemType };
  // '?' is a dynamic size without a name (neither dim_value nor dim_param)
  if (dims) tensor_type.shape = { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: Long.fromNumber(d) } : d === '?' ? {} : { dim_param: d })) };
  return { name, type: { tensor_type } };
}

function encodeAttr(name: string, v: AttrValue): any {
  if (typeof v === 'number') return Number.isInteger(v) ? { name, type: AttributeType.INT, i: Long.fromNumber(v) } : { name, type: AttributeType.FLOAT, f: v };
  if (typeof v === 'string') return { name, type: AttributeType.STRING, s: Buffer.from(v, 'utf8') };
  if (Array.isArray(v)) {
    if (v.every((x) => Number.isInteger(x))) return { name, type: AttributeType.INTS, ints: v.map((x) => Long.fromNumber(x)) };
    return { name, type: AttributeType.FLOATS, floats: v };
  }
  if ('float' in v) return { name, type: AttributeType.FLOAT, f: v.float };
  if ('floats' in v) return { name, type: AttributeType.FLOATS, floats: v.floats };
  return { name, type: AttributeType.TENSOR, t: v.tensor };
}

/** Integer values with their scale and zero point: per tensor (`axis` undefined, one scale) or per channel along `axis`. */
export interface QuantizedTensor {
  q: number[];
  scale: number[];
  zeroPoint?: number[];
  axis?: number;
}

/**
 * Linear quantisation of float `values` (dims `dims`) to int8 (or any [lo, hi] range), as ONNX Runtime's
 * static quantisation does for weights: per channel along `axis` (one scale per index) or per tensor,
 * symmetric (zero point 0) or asymmetric (min/max mapped to the range).
 */
export function quantize(values: ArrayLike<number>, dims: number[], o: { axis?: number; symmetric?: boolean; lo?: number; hi?: number } = {}): QuantizedTensor {
  const lo = o.lo ?? -128;
  const hi = o.hi ?? 127;
  const n = values.length;
  const channels = o.axis === undefined ? 1 : dims[o.axis];
  const inner = o.axis === undefined ? n : dims.slice(o.axis + 1).reduce((a, b) => a * b, 1);
  const chan = (i: number) => (o.axis === undefined ? 0 : Math.floor(i / inner) % channels);
  const min = new Array<number>(channels).fill(0);
  const max = new Array<number>(channels).fill(0);
  for (let i = 0; i < n; i++) {
    const c = chan(i);
    min[c] = Math.min(min[c], values[i]);
    max[c] = Math.max(max[c], values[i]);
  }
  const scale: number[] = [];
  const zeroPoint: number[] = [];
  for (let c = 0; c < channels; c++) {
    if (o.symmetric ?? true) {
      const m = Math.max(Math.abs(min[c]), Math.abs(max[c])) || 1;
      scale.push(Math.fround(m / Math.min(-lo, hi)));
      zeroPoint.push(0);
    } else {
      const s = Math.fround((max[c] - min[c]) / (hi - lo) || 1);
      scale.push(s);
      zeroPoint.push(Math.max(lo, Math.min(hi, Math.round(lo - min[c] / s))));
    }
  }
  const q = Array.from({ length: n }, (_, i) => Math.max(lo, Math.min(hi, Math.round(values[i] / scale[chan(i)]) + zeroPoint[chan(i)])));
  return { q, scale, zeroPoint, ...(o.axis !== undefined ? { axis: o.axis } : {}) };
}

/**
 * A small DenseNet (pre-activation: BN → ReLU → Conv, features concatenated): stem conv0 + norm0,
 * one dense block of two layers (`l1`, `l2`: norm1 → ReLU → 1×1 conv1 → norm2 → ReLU → 3×3 conv2),
 * norm5 over every feature, pooling and a classifier. conv2 of each layer has no BatchNorm after
 * it: the BNs that normalise its channels are further on (l2.norm1 and norm5 for l1.conv2, norm5
 * for l2.conv2), slices of BNs over the concatenation. Input `x` [1, 3, 16, 16], output [1, 10].
 */
export function denseNetLike(file: string, opts: { seed?: number } = {}): string {
  const b = new ModelBuilder({ seed: opts.seed ?? 5 });
  const gamma = (c: number) => Array.from({ length: c }, (_, i) => 0.05 + ((i * 7) % c) / c);
  const x = b.input('x', [1, 3, 16, 16]);
  const f0 = b.relu(b.bn(b.conv(x, 3, 8, { k: 3, name: 'conv0', bias: false }), 8, { name: 'norm0', gamma: gamma(8) }));
  const features = [f0];
  let width = 8;
  for (const l of ['l1', 'l2']) {
    const cat = features.length === 1 ? features[0]! : b.concat([...features]);
    let h = b.relu(b.bn(cat, width, { name: `${l}.norm1`, gamma: gamma(width) }));
    h = b.conv(h, width, 16, { k: 1, name: `${l}.conv1`, bias: false });
    h = b.relu(b.bn(h, 16, { name: `${l}.norm2`, gamma: gamma(16) }));
    features.push(b.conv(h, 16, 4, { k: 3, name: `${l}.conv2`, bias: false }));
    width += 4;
  }
  const y = b.relu(b.bn(b.concat([...features]), width, { name: 'norm5', gamma: gamma(width) }));
  b.output(b.gemm(b.flatten(b.gap(y)), width, 10, 'classifier'));
  return b.save(file);
}
