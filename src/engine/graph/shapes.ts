// Static shape inference over the graph index, for the CNN operator families.
//
// Shapes start at the graph inputs and the constant tensors and flow along `graph.order`.
// Symbolic dimensions ("N", "batch_size") stay strings; `opts.dims` binds them to numbers.
// Small numeric tensors whose *values* can be computed (Shape -> Gather -> Concat -> Reshape,
// as PyTorch exports a channel shuffle or a flatten) are tracked in `constValues`, so the
// shapes those chains feed into resolve too. Each operator's shape rule is found in the registry
// (graph/operators.ts: the entry's `shape` kind, computed here); an operator without one leaves its
// outputs unknown (listed in `unknown`); inference never throws on a model it does not understand.
import type { NodeProto, TensorProto, ValueInfoProto } from '../onnx/proto.ts';
import { DataType, toNumber } from '../onnx/proto.ts';
import { tensorDims, tensorElementCount, tensorToInts } from '../onnx/model.ts';
import { type Graph, attr, attrInt, attrInts, attrString } from './graph.ts';
import { operatorFacts, weightedFacts } from './operators.ts';
import type { Arithmetic } from './ops/types.ts';
import { PrunerError } from '../errors.ts';

/** A dimension: a number, or a symbolic name kept from the file (or made up for an unknown size). */
export type Dim = number | string;

export interface ShapeOptions {
  /** Values for symbolic dimensions of the graph inputs, by name (e.g. `{ N: 1 }`). */
  dims?: Record<string, number>;
  /**
   * Whole shapes of graph inputs by input name (e.g. `{ input: [1, 3, 224, 224] }`): they also
   * give a size to dimensions without a name (`?`), and bind the named ones they cover. A shape
   * that does not fit its input (rank, fixed sizes) is ignored here: `checkInputShapes` says why.
   */
  inputShapes?: InputShapes;
}

/** Concrete shapes of graph inputs, by input name. */
export type InputShapes = Record<string, number[]>;

/**
 * Why `shape` does not fit the declared shape of input `name` (rank, a fixed size, or a size that
 * is not a positive integer), or undefined when it fits.
 */
export function inputShapeMismatch(name: string, declared: readonly Dim[], shape: readonly number[]): string | undefined {
  const fmt = (s: readonly (Dim | null)[]) => `[${s.join(', ')}]`;
  if (shape.length !== declared.length) return `input ${name} is ${fmt(declared)} (rank ${declared.length}); ${fmt(shape)} has rank ${shape.length}`;
  const bad = shape.findIndex((d) => !Number.isSafeInteger(d) || d < 1);
  if (bad >= 0) return `input ${name}: size ${shape[bad]} of axis ${bad} is not a positive integer`;
  const fixed = declared.findIndex((d, i) => typeof d === 'number' && d !== shape[i]);
  if (fixed >= 0) return `input ${name} is ${fmt(declared)}: axis ${fixed} is fixed at ${declared[fixed]}, not ${shape[fixed]}`;
  return undefined;
}

/**
 * The named symbolic dimensions the given input shapes bind (`{ N: 1, H: 224 }`); throws a
 * message naming the input when a shape does not fit, an input is unknown, or one name gets two sizes.
 */
export function bindInputShapes(graph: Graph, inputShapes: InputShapes): Record<string, number> {
  const bind: Record<string, number> = {};
  const declared = new Map(graph.inputs.map((v) => [v.name ?? '', valueInfoShape(v)]));
  for (const [name, shape] of Object.entries(inputShapes)) {
    if (!declared.has(name)) throw new PrunerError(`the model has no input named ${name} (inputs: ${[...declared.keys()].join(', ')})`);
    const d = declared.get(name);
    if (!d) throw new PrunerError(`input ${name} declares no shape, so no size can be given to it`);
    const why = inputShapeMismatch(name, d, shape);
    if (why) throw new PrunerError(why);
    d.forEach((dim, i) => {
      if (typeof dim !== 'string' || dim === '?') return;
      if (bind[dim] !== undefined && bind[dim] !== shape[i]) throw new PrunerError(`${dim} is ${bind[dim]} in one input and ${shape[i]} in input ${name}`);
      bind[dim] = shape[i]!;
    });
  }
  return bind;
}

/**
 * Whole input shapes from sizes given by name (`dims`, e.g. `{ H: 224, W: 224 }`) and whole shapes
 * (`shapes`, which win): every input that either touches gets a whole shape, its batch (a symbolic
 * first size not given) counted as 1. Throws a message naming the input when a symbolic size of an
 * input so touched has no value (a size without a name needs the whole shape), or naming a size
 * no input has. Inputs neither touches are left out (their sizes stay symbolic).
 */
export function inputShapesFromSizes(graph: Graph, dims: Record<string, number> = {}, shapes: InputShapes = {}): InputShapes {
  const out: InputShapes = {};
  const used = new Set<string>();
  const names = new Set<string>();
  for (const v of graph.inputs) {
    const name = v.name ?? '';
    const declared = valueInfoShape(v);
    for (const d of declared ?? []) if (typeof d === 'string' && d !== '?') names.add(d);
    if (Object.hasOwn(shapes, name)) {
      out[name] = [...shapes[name]!];
      continue;
    }
    if (!declared || !declared.some((d) => typeof d === 'string' && Object.hasOwn(dims, d))) continue;
    const missing: string[] = [];
    out[name] = declared.map((d, i) => {
      if (typeof d === 'number') return d;
      if (d !== '?' && Object.hasOwn(dims, d)) {
        used.add(d);
        return dims[d]!;
      }
      if (i === 0) return 1;
      missing.push(d === '?' ? `axis ${i} (no name)` : d);
      return 1;
    });
    if (missing.length) throw new PrunerError(`input ${name} is [${declared.join(', ')}]: no size for ${missing.join(', ')}; give ${missing.every((m) => !m.startsWith('axis')) ? 'it by name or ' : ''}the whole shape of ${name}`);
  }
  const unknown = Object.keys(dims).filter((d) => !used.has(d) && !names.has(d));
  if (unknown.length) throw new PrunerError(`no input has a size named ${unknown.join(', ')} (${names.size ? `symbolic sizes: ${[...names].join(', ')}` : 'no input has a named symbolic size'})`);
  return out;
}

export interface ShapeInference {
  /** Inferred shape of every value that could be inferred (constants included). */
  shapes: Map<string, Dim[]>;
  /** Values of small numeric tensors computed statically (shape arithmetic); entries may be symbolic. */
  constValues: Map<string, Dim[]>;
  /** True when some graph input has a symbolic first (batch) dimension left unbound. */
  symbolicBatch: boolean;
  /** Values whose shape could not be inferred (outputs of unknown operators and what depends on them). */
  unknown: string[];
  /** Operator types that inference does not know. */
  unsupportedOps: string[];
}

/** Tensors up to this many elements get their values tracked. */
const MAX_TRACKED_VALUES = 64;
/** Ends at or beyond this (INT64_MAX read as a double, or any huge value) mean "to the end". */
const HUGE_END = 2 ** 62;

const INT_TYPES = new Set<number>([DataType.INT8, DataType.UINT8, DataType.INT16, DataType.UINT16, DataType.INT32, DataType.UINT32, DataType.INT64, DataType.UINT64, DataType.BOOL]);

/** Infers the shape of every value in the graph it can. */
export function inferShapes(graph: Graph, opts: ShapeOptions = {}): ShapeInference {
  return new ShapeInferencer(graph, opts).run();
}

/** Product of the dims, or undefined when one is symbolic. */
export function numel(shape: readonly Dim[]): number | undefined {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== 'number') return undefined;
    n *= d;
  }
  return n;
}

/** The dims as numbers, or undefined when one is symbolic. */
export function numericShape(shape: readonly Dim[] | undefined): number[] | undefined {
  if (!shape) return undefined;
  return shape.every((d) => typeof d === 'number') ? (shape as number[]) : undefined;
}

/**
 * One dimension of a declared shape: its name, its size, or `?` when it has neither. A decoded
 * message reads an absent `dim_value` as 0 (the protobuf default, from the prototype): only an
 * own field is a size.
 */
export function dimOf(d: { dim_value?: unknown; dim_param?: string | null }): Dim {
  if (d.dim_param) return d.dim_param;
  if (Object.hasOwn(d, 'dim_value') && d.dim_value !== undefined && d.dim_value !== null) return toNumber(d.dim_value as Parameters<typeof toNumber>[0]);
  return '?';
}

/** Shape of a ValueInfoProto (symbolic names kept; missing dims become `?`), or undefined if it has none. */
export function valueInfoShape(v: ValueInfoProto | undefined): Dim[] | undefined {
  const s = v?.type?.tensor_type?.shape;
  if (!s) return undefined;
  return s.dim.map(dimOf);
}

// ---- symbolic dimension arithmetic (enough for shape chains; anything harder becomes an expression string) ----

function dimMul(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a * b;
  if (a === 1) return b;
  if (b === 1) return a;
  return `${a}*${b}`;
}

function dimAdd(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a + b;
  if (a === 0) return b;
  if (b === 0) return a;
  return `${a}+${b}`;
}

function dimSub(a: Dim, b: Dim): Dim {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (b === 0) return a;
  return `${a}-${b}`;
}

function dimDiv(a: Dim, b: Dim, integer: boolean): Dim {
  if (typeof a === 'number' && typeof b === 'number') return integer ? Math.trunc(a / b) : a / b;
  if (b === 1) return a;
  return `${a}/${b}`;
}

function broadcast(shapes: Dim[][]): Dim[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let d: Dim = 1;
    for (const s of shapes) {
      const x = s[s.length - rank + i];
      if (x === undefined || x === 1) continue;
      if (d === 1) d = x;
      else if (typeof d === 'string' && typeof x === 'number') d = x; // a symbol broadcast against n must be n (or 1)
    }
    out.push(d);
  }
  return out;
}

function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

class ShapeInferencer {
  private readonly shapes = new Map<string, Dim[]>();
  private readonly values = new Map<string, Dim[]>();
  private readonly types = new Map<string, number>();
  private readonly unsupported = new Set<string>();
  private freshCount = 0;
  private symbolicBatch = false;

  constructor(private readonly g: Graph, private readonly opts: ShapeOptions) {}

  run(): ShapeInference {
    const g = this.g;
    const given = this.opts.inputShapes ?? {};
    const bind: Record<string, number> = { ...(this.opts.dims ?? {}) };
    const fits = (name: string, s: Dim[]): boolean => Object.hasOwn(given, name) && !inputShapeMismatch(name, s, given[name]!);
    for (const inp of g.inputs) {
      const name = inp.name ?? '';
      const s = valueInfoShape(inp);
      if (s && fits(name, s)) s.forEach((d, i) => { if (typeof d === 'string' && d !== '?' && !(d in bind)) bind[d] = given[name]![i]!; });
    }
    for (const inp of g.inputs) {
      const name = inp.name ?? '';
      const s = valueInfoShape(inp);
      if (!s) continue;
      const shape: Dim[] = fits(name, s)
        ? [...given[name]!]
        : s.map((d) => (typeof d === 'string' ? (d in bind ? bind[d]! : d === '?' ? this.fresh() : d) : d));
      if (typeof shape[0] === 'string') this.symbolicBatch = true;
      this.shapes.set(name, shape);
      const et = inp.type?.tensor_type?.elem_type;
      if (et) this.types.set(name, et);
    }
    for (const [name, t] of g.initializers) this.setConstant(name, t);
    for (const node of g.order) {
      if (node.op_type === 'Constant' && (node.domain ?? '') === '') {
        this.constantNode(node);
        continue;
      }
      const domain = node.domain ?? '';
      if (domain !== '' && domain !== 'ai.onnx') this.unsupported.add(`${domain}.${node.op_type}`);
      else {
        try {
          this.infer(node);
        } catch {
          // malformed attributes or inputs: leave the outputs unknown
        }
      }
      for (const o of node.output) {
        if (!o || this.shapes.has(o)) continue;
        const vi = valueInfoShape(g.valueInfo.get(o));
        if (vi && !g.outputNames.has(o)) this.shapes.set(o, vi.map((d) => (d === '?' ? this.fresh() : typeof d === 'string' && d in bind ? bind[d] : d)));
      }
    }
    const unknown: string[] = [];
    for (const node of g.order) for (const o of node.output) if (o && !this.shapes.has(o)) unknown.push(o);
    return { shapes: this.shapes, constValues: this.values, symbolicBatch: this.symbolicBatch, unknown, unsupportedOps: [...this.unsupported].sort() };
  }

  private fresh(): string {
    return `?${++this.freshCount}`;
  }

  private setConstant(name: string, t: TensorProto): void {
    const dims = tensorDims(t);
    this.shapes.set(name, dims);
    if (t.data_type) this.types.set(name, t.data_type);
    if (tensorElementCount(t) <= MAX_TRACKED_VALUES && t.data_type !== DataType.STRING) {
      try {
        this.values.set(name, tensorToInts(this.g.model, t));
      } catch {
        // unreadable element type: shape only
      }
    }
  }

  private constantNode(node: NodeProto): void {
    const out = node.output[0];
    if (!out) return;
    const a = node.attribute[0];
    if (!a) return;
    if (a.t) return this.setConstant(out, a.t);
    switch (a.name) {
      case 'value_float': this.shapes.set(out, []); this.values.set(out, [a.f ?? 0]); this.types.set(out, DataType.FLOAT); return;
      case 'value_int': this.shapes.set(out, []); this.values.set(out, [toNumber(a.i)]); this.types.set(out, DataType.INT64); return;
      case 'value_floats': this.shapes.set(out, [a.floats.length]); this.values.set(out, [...a.floats]); this.types.set(out, DataType.FLOAT); return;
      case 'value_ints': this.shapes.set(out, [a.ints.length]); this.values.set(out, a.ints.map(toNumber)); this.types.set(out, DataType.INT64); return;
    }
  }

  private shape(v: string | undefined): Dim[] | undefined {
    return v ? this.shapes.get(v) : undefined;
  }

  /** Numeric values of an input (constant or computed), or undefined. */
  private ints(v: string | undefined): number[] | undefined {
    if (!v) return undefined;
    const vals = this.values.get(v);
    return vals && vals.every((x) => typeof x === 'number') ? (vals as number[]) : undefined;
  }

  private isInt(v: string | undefined): boolean {
    const t = v ? this.types.get(v) : undefined;
    return t !== undefined && INT_TYPES.has(t);
  }

  private set(node: NodeProto, i: number, shape: Dim[] | undefined, values?: Dim[], type?: number): void {
    const o = node.output[i];
    if (!o || !shape) return;
    this.shapes.set(o, shape);
    if (values && values.length <= MAX_TRACKED_VALUES) this.values.set(o, values);
    const t = type ?? this.types.get(node.input[0] ?? '');
    if (t !== undefined) this.types.set(o, t);
  }

  private infer(node: NodeProto): void {
    const op = node.op_type ?? '';
    const opset = this.g.opset();
    const x = this.shape(node.input[0]);
    const rule = operatorFacts(op)?.shape;
    if (!rule) {
      this.unsupported.add(op);
      return;
    }
    switch (rule.kind) {
      case 'same': {
        if (!x) return;
        let type: number | undefined;
        let vals = rule.values ? this.values.get(node.input[0]) : undefined;
        if (rule.values === 'cast') {
          type = attrInt(node, 'to', 0);
          if (vals && INT_TYPES.has(type)) vals = vals.map((v) => (typeof v === 'number' ? Math.trunc(v) : v));
        }
        this.set(node, 0, x, vals, type);
        if (rule.extra === 'mask' && node.output[1]) this.set(node, 1, x, undefined, DataType.BOOL);
        if (rule.extra === 'channelStats') {
          // training-mode outputs: running mean/var of shape [C]
          for (let i = 1; i < node.output.length; i++) this.set(node, i, [x[1]]);
        }
        return;
      }
      case 'broadcast': {
        const ins = node.input.filter((v) => v).map((v) => this.shape(v));
        if (ins.some((s) => !s)) return;
        const out = broadcast(ins as Dim[][]);
        const values = rule.arithmetic ? this.elementwiseValues(node, rule.arithmetic, out) : undefined;
        this.set(node, 0, out, values, rule.result === 'bool' ? DataType.BOOL : rule.result === 'second' ? this.types.get(node.input[1]) : undefined);
        return;
      }
      case 'conv': return this.conv(node);
      case 'convTranspose': return this.convTranspose(node);
      case 'pool': return this.pool(node);
      case 'globalPool':
        if (x) this.set(node, 0, [...x.slice(0, 2), ...x.slice(2).map(() => 1)]);
        return;
      case 'flatten': {
        if (!x) return;
        const axis = normAxis(attrInt(node, 'axis', 1), x.length);
        this.set(node, 0, [x.slice(0, axis).reduce(dimMul, 1), x.slice(axis).reduce(dimMul, 1)]);
        return;
      }
      case 'reshape': return this.reshape(node);
      case 'transpose': {
        if (!x) return;
        const perm = attrInts(node, 'perm') ?? x.map((_, i) => x.length - 1 - i);
        this.set(node, 0, perm.map((p) => x[p]));
        return;
      }
      case 'concat': return this.concat(node);
      case 'split': return this.split(node);
      case 'slice': return this.slice(node);
      case 'gather': return this.gather(node);
      case 'shape': {
        if (!x) return;
        let start = attrInt(node, 'start', 0);
        let end = attr(node, 'end') ? attrInt(node, 'end', x.length) : x.length;
        start = Math.min(Math.max(normAxis(start, x.length), 0), x.length);
        end = Math.min(Math.max(normAxis(end, x.length), 0), x.length);
        const vals = x.slice(start, Math.max(start, end));
        this.set(node, 0, [vals.length], vals, DataType.INT64);
        return;
      }
      case 'size':
        if (x) this.set(node, 0, [], [x.reduce(dimMul, 1)], DataType.INT64);
        return;
      case 'squeeze': return this.squeeze(node);
      case 'unsqueeze': return this.unsqueeze(node);
      case 'resize': return this.resize(node, rule.upsample === true);
      case 'pad': return this.pad(node);
      case 'gemm': {
        const b = this.shape(node.input[1]);
        if (!x || !b || x.length !== 2 || b.length !== 2) return;
        const m = attrInt(node, 'transA', 0) ? x[1] : x[0];
        const n = attrInt(node, 'transB', 0) ? b[0] : b[1];
        this.set(node, 0, [m, n]);
        return;
      }
      case 'matmul': {
        const w = weightedFacts(op);
        const b = this.shape(node.input[w?.weight ?? 1]);
        if (x && b) this.set(node, 0, matmulShape(x, b), undefined, w?.quantized ? DataType.INT32 : undefined);
        return;
      }
      case 'reduce': return this.reduce(node, rule.axesInputSince, opset);
      case 'argReduce': {
        if (!x) return;
        const axis = normAxis(attrInt(node, 'axis', 0), x.length);
        const keep = attrInt(node, 'keepdims', 1);
        this.set(node, 0, keep ? x.map((d, i) => (i === axis ? 1 : d)) : x.filter((_, i) => i !== axis), undefined, DataType.INT64);
        return;
      }
      case 'expand': {
        const target = this.values.get(node.input[1]);
        if (x && target) this.set(node, 0, broadcast([x, target]));
        return;
      }
      case 'tile': {
        const reps = this.values.get(node.input[1]);
        if (x && reps && reps.length === x.length) this.set(node, 0, x.map((d, i) => dimMul(d, reps[i])));
        return;
      }
      case 'constantOfShape': {
        const dims = this.values.get(node.input[0]);
        if (!dims) return;
        const a = attr(node, 'value');
        const fill = a?.t ? (tensorToInts(this.g.model, a.t)[0] ?? 0) : 0;
        const n = numel(dims);
        const type = a?.t?.data_type ?? DataType.FLOAT;
        this.set(node, 0, dims, n !== undefined && n <= MAX_TRACKED_VALUES ? new Array<number>(n).fill(fill) : undefined, type);
        return;
      }
      case 'range': {
        const [s, l, d] = [this.ints(node.input[0]), this.ints(node.input[1]), this.ints(node.input[2])];
        if (!s || !l || !d) {
          this.set(node, 0, [this.fresh()], undefined, this.types.get(node.input[0]));
          return;
        }
        const n = Math.max(Math.ceil((l[0] - s[0]) / d[0]), 0);
        this.set(node, 0, [n], Array.from({ length: n }, (_, i) => s[0] + i * d[0]), this.types.get(node.input[0]));
        return;
      }
      case 'topK': {
        if (!x) return;
        const axis = normAxis(attrInt(node, 'axis', -1), x.length);
        const k: Dim | undefined = opset >= 10 ? (this.values.get(node.input[1])?.[0] ?? this.fresh()) : attrInt(node, 'k', 0);
        const out = x.map((d, i) => (i === axis ? k : d));
        this.set(node, 0, out);
        this.set(node, 1, out, undefined, DataType.INT64);
        return;
      }
      case 'nonMaxSuppression':
        this.set(node, 0, [this.fresh(), 3], undefined, DataType.INT64);
        return;
      case 'nonZero':
        if (x) this.set(node, 0, [x.length, this.fresh()], undefined, DataType.INT64);
        return;
      case 'depthSpace': {
        if (!x || x.length !== 4) return;
        const b = attrInt(node, 'blocksize', 1);
        this.set(node, 0, rule.toSpace
          ? [x[0], dimDiv(x[1], b * b, true), dimMul(x[2], b), dimMul(x[3], b)]
          : [x[0], dimMul(x[1], b * b), dimDiv(x[2], b, true), dimDiv(x[3], b, true)]);
        return;
      }
    }
  }

  /** Values of Add/Sub/Mul/Div (and friends) on small tracked tensors, with scalar broadcasting. */
  private elementwiseValues(node: NodeProto, op: Arithmetic, out: Dim[]): Dim[] | undefined {
    const a = this.values.get(node.input[0]);
    const b = this.values.get(node.input[1]);
    if (!a || !b) return undefined;
    const n = numel(out);
    if (n === undefined || (a.length !== n && a.length !== 1) || (b.length !== n && b.length !== 1)) return undefined;
    const integer = this.isInt(node.input[0]);
    return Array.from({ length: n }, (_, i) => {
      const p = a[a.length === 1 ? 0 : i];
      const q = b[b.length === 1 ? 0 : i];
      switch (op) {
        case 'add': return dimAdd(p, q);
        case 'sub': return dimSub(p, q);
        case 'mul': return dimMul(p, q);
        case 'div': return dimDiv(p, q, integer);
        case 'max': return typeof p === 'number' && typeof q === 'number' ? Math.max(p, q) : this.fresh();
        case 'min': return typeof p === 'number' && typeof q === 'number' ? Math.min(p, q) : this.fresh();
      }
    });
  }

  private conv(node: NodeProto): void {
    const facts = weightedFacts(node.op_type);
    const x = this.shape(node.input[0]);
    const w = this.shape(node.input[facts?.weight ?? 1]);
    if (!x || !w) return;
    const spatial = x.length - 2;
    const kernel = attrInts(node, 'kernel_shape') ?? w.slice(2);
    const out = this.windowed(node, x.slice(2), kernel, spatial, false);
    if (!out) return;
    const type = facts?.quantized === 'qlinear' ? this.types.get(node.input[0]) : facts?.quantized === 'integer' ? DataType.INT32 : undefined;
    this.set(node, 0, [x[0], w[0], ...out], undefined, type);
  }

  /** Output spatial sizes of a sliding window (Conv and pools): pads, strides, dilations, auto_pad, ceil_mode. */
  private windowed(node: NodeProto, inSp: Dim[], kernel: Dim[], spatial: number, ceil: boolean): Dim[] | undefined {
    const strides = attrInts(node, 'strides') ?? new Array<number>(spatial).fill(1);
    const dil = attrInts(node, 'dilations') ?? new Array<number>(spatial).fill(1);
    const pads = attrInts(node, 'pads') ?? new Array<number>(2 * spatial).fill(0);
    const autoPad = attrString(node, 'auto_pad', 'NOTSET');
    return inSp.map((d, i) => {
      const k = kernel[i];
      if (typeof d !== 'number' || typeof k !== 'number') return this.fresh();
      const s = strides[i] ?? 1;
      const ek = (k - 1) * (dil[i] ?? 1) + 1;
      if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return Math.ceil(d / s);
      const padded = autoPad === 'VALID' ? d : d + (pads[i] ?? 0) + (pads[i + spatial] ?? 0);
      if (!ceil) return Math.floor((padded - ek) / s) + 1;
      let o = Math.ceil((padded - ek) / s) + 1;
      // the last window must start inside the input or the left padding (as PyTorch and ONNX Runtime do)
      if ((o - 1) * s >= d + (autoPad === 'VALID' ? 0 : (pads[i] ?? 0))) o--;
      return o;
    });
  }

  private convTranspose(node: NodeProto): void {
    const x = this.shape(node.input[0]);
    const w = this.shape(node.input[1]);
    if (!x || !w) return;
    const spatial = x.length - 2;
    const group = attrInt(node, 'group', 1);
    const cout = dimMul(w[1], group);
    const outputShape = attrInts(node, 'output_shape');
    if (outputShape) {
      this.set(node, 0, [x[0], cout, ...outputShape.slice(-spatial)]);
      return;
    }
    const kernel = attrInts(node, 'kernel_shape') ?? w.slice(2);
    const strides = attrInts(node, 'strides') ?? new Array<number>(spatial).fill(1);
    const dil = attrInts(node, 'dilations') ?? new Array<number>(spatial).fill(1);
    const pads = attrInts(node, 'pads') ?? new Array<number>(2 * spatial).fill(0);
    const outPad = attrInts(node, 'output_padding') ?? new Array<number>(spatial).fill(0);
    const autoPad = attrString(node, 'auto_pad', 'NOTSET');
    const sp = x.slice(2).map((d, i) => {
      const k = kernel[i];
      if (typeof d !== 'number' || typeof k !== 'number') return this.fresh();
      if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return d * strides[i];
      const p = autoPad === 'VALID' ? 0 : pads[i] + pads[i + spatial];
      return strides[i] * (d - 1) + (outPad[i] ?? 0) + (k - 1) * dil[i] + 1 - p;
    });
    this.set(node, 0, [x[0], cout, ...sp]);
  }

  private pool(node: NodeProto): void {
    const x = this.shape(node.input[0]);
    const kernel = attrInts(node, 'kernel_shape');
    if (!x || !kernel) return;
    const out = this.windowed(node, x.slice(2), kernel, x.length - 2, attrInt(node, 'ceil_mode', 0) === 1);
    if (!out) return;
    const shape = [x[0], x[1], ...out];
    this.set(node, 0, shape);
    if (node.output[1]) this.set(node, 1, shape, undefined, DataType.INT64);
  }

  private reshape(node: NodeProto): void {
    const x = this.shape(node.input[0]);
    const target = this.g.opset() >= 5 ? this.values.get(node.input[1] ?? '') : attrInts(node, 'shape');
    if (!target) return;
    const allowZero = attrInt(node, 'allowzero', 0) === 1;
    const out: Dim[] = target.map((d, i) => (d === 0 && !allowZero ? (x?.[i] ?? this.fresh()) : d));
    const minus = out.indexOf(-1);
    if (minus >= 0) {
      if (!x) return;
      out[minus] = inferredDim(x, out.filter((_, i) => i !== minus)) ?? this.fresh();
    }
    this.set(node, 0, out, x ? this.values.get(node.input[0]) : undefined);
  }

  private concat(node: NodeProto): void {
    const ins = node.input.filter((v) => v).map((v) => this.shape(v));
    if (ins.some((s) => !s) || ins.length === 0) return;
    const shapes = ins as Dim[][];
    const rank = shapes[0].length;
    const axis = normAxis(attrInt(node, 'axis', 0), rank);
    const out = [...shapes[0]];
    out[axis] = shapes.slice(1).reduce((acc, s) => dimAdd(acc, s[axis]), shapes[0][axis]);
    // other dims: prefer a number over a symbol
    for (let i = 0; i < rank; i++) if (i !== axis && typeof out[i] !== 'number') out[i] = shapes.find((s) => typeof s[i] === 'number')?.[i] ?? out[i];
    let values: Dim[] | undefined;
    if (rank === 1) {
      const parts = node.input.filter((v) => v).map((v) => this.values.get(v));
      if (parts.every((p) => p)) values = (parts as Dim[][]).flat();
    }
    this.set(node, 0, out, values);
  }

  private split(node: NodeProto): void {
    const x = this.shape(node.input[0]);
    if (!x) return;
    const opset = this.g.opset();
    const axis = normAxis(attrInt(node, 'axis', 0), x.length);
    const n = node.output.length;
    let sizes: Dim[] | undefined = opset >= 13 ? (node.input[1] ? this.values.get(node.input[1]) : undefined) : attrInts(node, 'split');
    if (opset >= 13 && node.input[1] && !sizes) return;
    if (!sizes) {
      const total = x[axis];
      if (typeof total !== 'number') sizes = new Array<Dim>(n).fill(dimDiv(total, n, true));
      else if (opset >= 18 && attr(node, 'num_outputs')) {
        // opset 18: chunks of ceil(total / n), the last one smaller
        const chunk = Math.ceil(total / n);
        sizes = Array.from({ length: n }, (_, i) => Math.max(0, Math.min(chunk, total - chunk * i)));
      } else sizes = new Array<number>(n).fill(total / n);
    }
    const vals = x.length === 1 ? this.values.get(node.input[0]) : undefined;
    let offset = 0;
    sizes.forEach((s, i) => {
      const part = typeof s === 'number' && vals ? vals.slice(offset, offset + s) : undefined;
      if (typeof s === 'number') offset += s;
      this.set(node, i, x.map((d, j) => (j === axis ? s : d)), part);
    });
  }

  private slice(node: NodeProto): void {
    const x = this.shape(node.input[0]);
    if (!x) return;
    let starts: number[] | undefined, ends: number[] | undefined, axes: number[] | undefined, steps: number[] | undefined;
    if (this.g.opset() >= 10) {
      starts = this.ints(node.input[1]);
      ends = this.ints(node.input[2]);
      axes = node.input[3] ? this.ints(node.input[3]) : undefined;
      steps = node.input[4] ? this.ints(node.input[4]) : undefined;
      if ((node.input[3] && !axes) || (node.input[4] && !steps)) return;
    } else {
      starts = attrInts(node, 'starts');
      ends = attrInts(node, 'ends');
      axes = attrInts(node, 'axes');
    }
    if (!starts || !ends) {
      // the sliced axes are unknown: the rank survives
      this.set(node, 0, x.map(() => this.fresh()));
      return;
    }
    axes ??= starts.map((_, i) => i);
    steps ??= starts.map(() => 1);
    const out = [...x];
    const ranges: Array<[number, number, number] | undefined> = x.map(() => undefined);
    axes.forEach((a0, i) => {
      const a = normAxis(a0, x.length);
      const d = x[a];
      const step = steps![i];
      if (typeof d !== 'number') {
        out[a] = this.fresh();
        return;
      }
      let s = starts![i];
      let e = ends![i];
      if (s < 0) s += d;
      if (e < 0) e += d;
      if (e >= HUGE_END) e = d;
      if (step > 0) {
        s = Math.min(Math.max(s, 0), d);
        e = Math.min(Math.max(e, 0), d);
        out[a] = Math.max(0, Math.ceil((e - s) / step));
      } else {
        s = Math.min(Math.max(s, 0), d - 1);
        e = Math.min(Math.max(e, -1), d - 1);
        out[a] = Math.max(0, Math.ceil((e - s) / step));
      }
      ranges[a] = [s, step, out[a] as number];
    });
    let values: Dim[] | undefined;
    const vals = this.values.get(node.input[0]);
    if (vals && x.length === 1) {
      const r = ranges[0];
      values = r ? Array.from({ length: r[2] }, (_, i) => vals[r[0] + i * r[1]]) : vals;
    }
    this.set(node, 0, out, values);
  }

  private gather(node: NodeProto): void {
    const x = this.shape(node.input[0]);
    const idxShape = this.shape(node.input[1]);
    if (!x || !idxShape) return;
    const axis = normAxis(attrInt(node, 'axis', 0), x.length);
    const out = [...x.slice(0, axis), ...idxShape, ...x.slice(axis + 1)];
    let values: Dim[] | undefined;
    const vals = this.values.get(node.input[0]);
    const idx = this.ints(node.input[1]);
    if (vals && idx && x.length === 1 && typeof x[0] === 'number') {
      const n = x[0];
      values = idx.map((i) => vals[i < 0 ? i + n : i]);
      if (values.some((v) => v === undefined)) values = undefined;
    }
    this.set(node, 0, out, values);
  }

  private axesOf(node: NodeProto, inputFromOpset: number): number[] | undefined {
    return this.g.opset() >= inputFromOpset ? (node.input[1] ? this.ints(node.input[1]) : undefined) : attrInts(node, 'axes');
  }

  private squeeze(node: NodeProto): void {
    const x = this.shape(node.input[0]);
    if (!x) return;
    if (this.g.opset() >= 13 && node.input[1] && !this.ints(node.input[1])) return;
    const axes = this.axesOf(node, 13)?.map((a) => normAxis(a, x.length));
    const out = x.filter((d, i) => (axes ? !axes.includes(i) : d !== 1));
    this.set(node, 0, out, this.values.get(node.input[0]));
  }

  private unsqueeze(node: NodeProto): void {
    const x = this.shape(node.input[0]);
    const axes0 = this.axesOf(node, 13);
    if (!x || !axes0) return;
    const rank = x.length + axes0.length;
    const axes = axes0.map((a) => normAxis(a, rank));
    const out: Dim[] = [];
    let j = 0;
    for (let i = 0; i < rank; i++) out.push(axes.includes(i) ? 1 : x[j++]);
    this.set(node, 0, out, this.values.get(node.input[0]));
  }

  private resize(node: NodeProto, upsample: boolean): void {
    const x = this.shape(node.input[0]);
    if (!x) return;
    const opset = this.g.opset();
    let scales: number[] | undefined;
    let sizes: Dim[] | undefined;
    if (upsample) {
      scales = opset >= 9 ? this.ints(node.input[1]) : attr(node, 'scales')?.floats;
    } else if (opset < 11) {
      scales = this.ints(node.input[1]);
    } else {
      const s = node.input[2] ? this.ints(node.input[2]) : undefined;
      if (s && s.length > 0) scales = s;
      else sizes = node.input[3] ? this.values.get(node.input[3]) : undefined;
    }
    const axes = opset >= 18 ? attrInts(node, 'axes')?.map((a) => normAxis(a, x.length)) : undefined;
    const full = (v: Dim[]): Dim[] => {
      if (!axes) return v;
      const out: Dim[] = x.map(() => 1);
      axes.forEach((a, i) => (out[a] = v[i]));
      return out;
    };
    if (sizes) {
      const sz = full(sizes);
      // keep_aspect_ratio_policy (opset 18) changes sizes; only the default "stretch" is exact
      this.set(node, 0, axes ? x.map((d, i) => (axes.includes(i) ? sz[i] : d)) : sz);
      return;
    }
    if (!scales) return;
    const sc = axes ? x.map((_, i) => (axes.includes(i) ? scales![axes.indexOf(i)] : 1)) : scales;
    this.set(node, 0, x.map((d, i) => (typeof d === 'number' ? Math.floor(d * (sc[i] ?? 1)) : sc[i] === 1 ? d : this.fresh())));
  }

  private pad(node: NodeProto): void {
    const x = this.shape(node.input[0]);
    if (!x) return;
    const opset = this.g.opset();
    const pads = opset >= 11 ? this.ints(node.input[1]) : (attrInts(node, 'pads') ?? attrInts(node, 'paddings'));
    if (!pads) {
      this.set(node, 0, x.map(() => this.fresh()));
      return;
    }
    const axes = opset >= 18 && node.input[3] ? this.ints(node.input[3])?.map((a) => normAxis(a, x.length)) : undefined;
    const ax = axes ?? x.map((_, i) => i);
    const n = ax.length;
    const out = [...x];
    ax.forEach((a, i) => (out[a] = dimAdd(out[a], pads[i] + pads[i + n])));
    this.set(node, 0, out);
  }

  private reduce(node: NodeProto, axesInputSince: number, opset: number): void {
    const x = this.shape(node.input[0]);
    if (!x) return;
    const axesFromInput = opset >= axesInputSince;
    let axes: number[] | undefined;
    if (axesFromInput && node.input[1]) {
      axes = this.ints(node.input[1]);
      if (!axes) return;
    } else if (!axesFromInput) axes = attrInts(node, 'axes');
    if (axes && axes.length === 0) axes = undefined;
    if (!axes && axesFromInput && attrInt(node, 'noop_with_empty_axes', 0)) {
      this.set(node, 0, x);
      return;
    }
    const norm = (axes ?? x.map((_, i) => i)).map((a) => normAxis(a, x.length));
    const keep = attrInt(node, 'keepdims', 1) === 1;
    this.set(node, 0, keep ? x.map((d, i) => (norm.includes(i) ? 1 : d)) : x.filter((_, i) => !norm.includes(i)));
  }
}

/** Numpy matmul shape rules (1-D operands promoted and the added axis dropped again). */
export function matmulShape(a: Dim[], b: Dim[]): Dim[] {
  const a2 = a.length === 1 ? [1, a[0]] : a;
  const b2 = b.length === 1 ? [b[0], 1] : b;
  const batch = broadcast([a2.slice(0, -2), b2.slice(0, -2)]);
  const out = [...batch];
  if (a.length !== 1) out.push(a2[a2.length - 2]);
  if (b.length !== 1) out.push(b2[b2.length - 1]);
  return out;
}

/**
 * The `-1` of a Reshape: element count of `input` divided by the known target dims.
 * Symbols that appear on both sides cancel (`[N, 512, 1, 1] -> [N, -1]` gives 512).
 */
function inferredDim(input: Dim[], known: Dim[]): Dim | undefined {
  let num = 1;
  const syms: string[] = [];
  for (const d of input) {
    if (typeof d === 'number') num *= d;
    else syms.push(d);
  }
  let den = 1;
  for (const d of known) {
    if (typeof d === 'number') den *= d;
    else {
      const i = syms.indexOf(d);
      if (i < 0) return undefined;
      syms.splice(i, 1);
    }
  }
  if (den === 0) return undefined;
  const q = num / den;
  if (syms.length === 0) return q;
  return q === 1 && syms.length === 1 ? syms[0] : [q, ...syms].join('*');
}

