// Graph index: who produces and who consumes every value, constant lookup (initializers,
// Constant nodes, through Identity), opsets, attributes, and a topological order.
import { PrunerError } from '../errors.ts';
import type { OnnxModel } from '../onnx/model.ts';
import { tensorToFloat32, tensorToInts } from '../onnx/model.ts';
import { type AttributeProto, type NodeProto, type TensorProto, type ValueInfoProto, toNumber } from '../onnx/proto.ts';

export class Graph {
  readonly model: OnnxModel;
  readonly nodes: NodeProto[];
  /** Nodes in topological order (the file's order is not trusted). */
  readonly order: NodeProto[];
  readonly producer = new Map<string, NodeProto>();
  readonly consumers = new Map<string, NodeProto[]>();
  readonly initializers = new Map<string, TensorProto>();
  /** Outputs of Constant nodes that hold a tensor (`value` attribute). */
  readonly constantNodes = new Map<string, TensorProto>();
  readonly inputs: ValueInfoProto[];
  readonly outputs: ValueInfoProto[];
  readonly outputNames: Set<string>;
  readonly valueInfo = new Map<string, ValueInfoProto>();
  readonly opsets = new Map<string, number>();
  readonly byName = new Map<string, NodeProto>();
  /**
   * Nodes that had no name in the file and were given a display name (`<op>_<index>`) by this index.
   * Writers of a modified model clear these names again so that untouched nodes stay as they were.
   */
  readonly synthesizedNames = new Set<NodeProto>();

  constructor(model: OnnxModel) {
    this.model = model;
    const g = model.proto.graph;
    if (!g) throw new PrunerError(`${model.path}: model has no graph`, { subject: model.path });
    this.nodes = g.node;
    for (const op of model.proto.opset_import) this.opsets.set(op.domain ?? '', toNumber(op.version));
    for (const t of g.initializer) if (t.name) this.initializers.set(t.name, t);
    const initNames = this.initializers;
    // IR 3-4 models list initializers as graph inputs too; those are not real inputs.
    this.inputs = g.input.filter((v) => !initNames.has(v.name ?? ''));
    this.outputs = g.output;
    this.outputNames = new Set(g.output.map((o) => o.name ?? ''));
    for (const v of [...g.input, ...g.output, ...g.value_info]) if (v.name) this.valueInfo.set(v.name, v);
    g.node.forEach((n, i) => {
      if (!n.name) {
        // unnamed nodes get a stable display name; recorded so a writer can drop it again
        n.name = `${n.op_type ?? 'node'}_${i}`;
        this.synthesizedNames.add(n);
      }
      this.byName.set(n.name, n);
      for (const o of n.output) if (o) this.producer.set(o, n);
      for (const inp of n.input) {
        if (!inp) continue;
        let list = this.consumers.get(inp);
        if (!list) this.consumers.set(inp, (list = []));
        list.push(n);
      }
      if (n.op_type === 'Constant' && (n.domain ?? '') === '') {
        const a = n.attribute.find((x) => x.name === 'value');
        if (a?.t && n.output[0]) this.constantNodes.set(n.output[0], a.t);
      }
    });
    this.order = topoSort(this);
  }

  opset(domain = ''): number {
    return this.opsets.get(domain === 'ai.onnx' ? '' : domain) ?? 0;
  }

  consumersOf(value: string): NodeProto[] {
    return this.consumers.get(value) ?? [];
  }

  /** The constant tensor behind a value: an initializer, a Constant node, or either through Identity chains. */
  constantTensor(value: string): TensorProto | undefined {
    const src = this.constantSource(value);
    return src === undefined ? undefined : this.initializers.get(src) ?? this.constantNodes.get(src);
  }

  /** The value name that actually holds the constant (after following Identity), or undefined. */
  constantSource(value: string): string | undefined {
    let name = value;
    for (let hops = 0; hops < 16; hops++) {
      if (this.initializers.has(name) || this.constantNodes.has(name)) return name;
      const p = this.producer.get(name);
      if (p && p.op_type === 'Identity' && p.input[0]) {
        name = p.input[0];
        continue;
      }
      return undefined;
    }
    return undefined;
  }

  isConstant(value: string): boolean {
    return this.constantTensor(value) !== undefined;
  }

  constantFloats(value: string): Float32Array | undefined {
    const t = this.constantTensor(value);
    return t ? tensorToFloat32(this.model, t) : undefined;
  }

  constantInts(value: string): number[] | undefined {
    const t = this.constantTensor(value);
    return t ? tensorToInts(this.model, t) : undefined;
  }
}

export function attr(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((a) => a.name === name);
}

export function attrInt(node: NodeProto, name: string, dflt: number): number {
  const a = attr(node, name);
  return a && a.i !== undefined && a.i !== null ? toNumber(a.i) : dflt;
}

export function attrFloat(node: NodeProto, name: string, dflt: number): number {
  const a = attr(node, name);
  return a && a.f !== undefined && a.f !== null ? a.f : dflt;
}

export function attrInts(node: NodeProto, name: string): number[] | undefined {
  const a = attr(node, name);
  return a ? a.ints.map((v) => toNumber(v)) : undefined;
}

export function attrString(node: NodeProto, name: string, dflt: string): string {
  const a = attr(node, name);
  return a?.s ? Buffer.from(a.s).toString('utf8') : dflt;
}

function topoSort(g: Graph): NodeProto[] {
  const n = g.nodes.length;
  const indeg = new Map<NodeProto, number>();
  const known = new Set<string>([...g.initializers.keys(), ...g.model.proto.graph!.input.map((v) => v.name ?? '')]);
  for (const node of g.nodes) {
    let d = 0;
    for (const inp of node.input) if (inp && !known.has(inp) && g.producer.has(inp)) d++;
    indeg.set(node, d);
  }
  const ready: NodeProto[] = g.nodes.filter((x) => indeg.get(x) === 0);
  const out: NodeProto[] = [];
  while (ready.length) {
    const node = ready.shift()!;
    out.push(node);
    for (const o of node.output) {
      if (!o) continue;
      for (const c of g.consumersOf(o)) {
        // a node may consume the same value twice
        const times = c.input.filter((x) => x === o).length;
        const left = indeg.get(c)! - times;
        indeg.set(c, left);
        if (left === 0) ready.push(c);
      }
    }
  }
  if (out.length !== n) {
    const stuck = g.nodes.find((x) => !out.includes(x));
    throw new PrunerError(`${g.model.path}: the graph has a cycle or a dangling input (at node ${stuck?.name ?? '?'})`, { subject: g.model.path });
  }
  return out;
}
