// Structural checks run when a model is loaded, so a damaged or inconsistent file is reported
// once, as a PrunerError naming the file and the node or tensor, instead of failing later.
// The checks read only the decoded structure and file sizes: no tensor bytes are copied.
import { PrunerError } from '../errors.ts';
import { ExternalResolver, inFileRange, isExternal, rawByteLength } from './external.ts';
import { DataType, type GraphProto, type ModelProto, type TensorProto, toNumber } from './proto.ts';

/** What validateStructure needs: the decoded proto, the file named in messages, the external-data folder. */
export interface StructureSource {
  path: string;
  dir: string;
  proto: ModelProto;
}

/**
 * Checks every tensor (dims, data size, external references) and that every node input and
 * graph output of the main graph is produced by a node, an initializer or a graph input.
 * Returns the resolver used, whose files are the model's external-data files.
 */
export function validateStructure(model: StructureSource, resolver = new ExternalResolver(model.path, model.dir)): ExternalResolver {
  const file = model.path;
  const g = model.proto.graph;
  if (!g) throw new PrunerError(`${file}: not an ONNX model (no graph)`, { subject: file });
  checkGraphTensors(g, file, resolver, 0);

  const known = new Set<string>();
  for (const v of g.input) if (v.name) known.add(v.name);
  for (const t of g.initializer) if (t.name) known.add(t.name);
  for (const s of g.sparse_initializer as { values?: { name?: string } }[]) if (s.values?.name) known.add(s.values.name);
  for (const n of g.node) for (const o of n.output) if (o) known.add(o);
  g.node.forEach((n, i) => {
    for (const inp of n.input) {
      if (inp && !known.has(inp)) {
        const name = n.name || `${n.op_type ?? 'node'}_${i}`;
        throw new PrunerError(
          `${file}: node ${JSON.stringify(name)} (${opLabel(n.op_type)}) reads ${JSON.stringify(inp)}, which no node, initializer or graph input produces`,
          { subject: file },
        );
      }
    }
  });
  for (const o of g.output) {
    if (o.name && !known.has(o.name)) {
      throw new PrunerError(`${file}: graph output ${JSON.stringify(o.name)} is not produced by any node, initializer or input`, { subject: file });
    }
  }
  return resolver;
}

/** An op type for a message: as is when it looks like one, quoted (escaped) otherwise. */
function opLabel(op: string | undefined): string {
  if (!op) return '?';
  return /^[A-Za-z0-9_.]+$/.test(op) ? op : JSON.stringify(op);
}

function checkGraphTensors(g: GraphProto, file: string, resolver: ExternalResolver, depth: number): void {
  if (depth > 64) throw new PrunerError(`${file}: subgraphs nested too deeply`, { subject: file });
  for (const t of g.initializer) checkTensor(t, file, resolver);
  for (const n of g.node) {
    for (const a of n.attribute) {
      if (a.t) checkTensor(a.t, file, resolver);
      for (const t of a.tensors) checkTensor(t, file, resolver);
      if (a.g) checkGraphTensors(a.g, file, resolver, depth + 1);
      for (const sub of a.graphs) checkGraphTensors(sub, file, resolver, depth + 1);
    }
  }
}

/** The field a tensor of this type keeps its values in when not in raw_data. */
function typedLength(t: TensorProto, dt: number): number | undefined {
  switch (dt) {
    case DataType.FLOAT: return t.float_data.length;
    case DataType.DOUBLE: return t.double_data.length;
    case DataType.INT64: return t.int64_data.length;
    case DataType.UINT32: case DataType.UINT64: return t.uint64_data.length;
    case DataType.INT32: case DataType.INT16: case DataType.UINT16: case DataType.INT8: case DataType.UINT8:
    case DataType.BOOL: case DataType.FLOAT16: case DataType.BFLOAT16:
      return t.int32_data.length;
  }
  return undefined;
}

function checkTensor(t: TensorProto, file: string, resolver: ExternalResolver): void {
  const where = () => `${file}: tensor ${JSON.stringify(t.name ?? '')}`;
  let count = 1;
  for (const d of t.dims) {
    const v = toNumber(d);
    if (!Number.isSafeInteger(v) || v < 0) throw new PrunerError(`${where()}: invalid dimension ${v}`, { subject: file });
    count *= v;
  }
  if (!Number.isSafeInteger(count)) throw new PrunerError(`${where()}: too many elements`, { subject: file });
  const dt = t.data_type ?? 0;
  const expected = rawByteLength(dt, count);
  const inFile = inFileRange(t);
  if (inFile) {
    if (expected !== undefined && inFile.length !== expected) {
      throw new PrunerError(`${where()}: raw_data has ${inFile.length} bytes, its shape needs ${expected}`, { subject: file });
    }
    return;
  }
  if (isExternal(t)) {
    const ref = resolver.resolve(t);
    if (expected !== undefined && ref.length !== expected) {
      throw new PrunerError(`${where()}: external data has ${ref.length} bytes, its shape needs ${expected}`, { subject: file });
    }
    return;
  }
  if (t.raw_data && t.raw_data.length > 0) {
    if (expected !== undefined && t.raw_data.length !== expected) {
      throw new PrunerError(`${where()}: raw_data has ${t.raw_data.length} bytes, its shape needs ${expected}`, { subject: file });
    }
    return;
  }
  const typed = typedLength(t, dt);
  if (typed !== undefined && typed !== count) {
    throw new PrunerError(`${where()}: holds ${typed} values, its shape needs ${count}`, { subject: file });
  }
}
