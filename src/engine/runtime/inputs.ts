// Inputs for running a model: the graph's declared inputs, seeded random tensors for them,
// and tensors read from user files (raw little-endian .f32 and NumPy .npy).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PrunerError } from '../errors.ts';
import { Graph } from '../graph/graph.ts';
import { loadModel } from '../onnx/model.ts';
import { DataType, toNumber } from '../onnx/proto.ts';
import { decodeInto, parseNpyHeader } from '../data/npy.ts';
import type { InputData, InputElementType, InputTensor, ModelInputSpec } from './types.ts';

const ONNX_TO_ELEM: Record<number, InputElementType> = {
  [DataType.FLOAT]: 'float32',
  [DataType.DOUBLE]: 'float64',
  [DataType.INT64]: 'int64',
  [DataType.INT32]: 'int32',
  [DataType.UINT8]: 'uint8',
  [DataType.INT8]: 'int8',
  [DataType.BOOL]: 'bool',
};

/** The real inputs of a model (initializers listed as inputs by old exporters are excluded). */
export function inputSpecsOf(graph: Graph): ModelInputSpec[] {
  return graph.inputs.map((v) => {
    const tt = v.type?.tensor_type;
    const onnxType = tt?.elem_type ?? 0;
    const dims = (tt?.shape?.dim ?? []).map((d) => {
      if (d.dim_value !== undefined && d.dim_value !== null && toNumber(d.dim_value) > 0) return toNumber(d.dim_value);
      if (d.dim_param) return d.dim_param;
      return null;
    });
    return { name: v.name ?? '', type: ONNX_TO_ELEM[onnxType], onnxType, dims };
  });
}

export function modelInputSpecs(modelPath: string): ModelInputSpec[] {
  return inputSpecsOf(new Graph(loadModel(modelPath, { weights: 'file' })));
}

/** Concrete dims: symbolic dims take `overrides[name]` or 1; unknown dims are 1. */
export function resolveDims(spec: ModelInputSpec, overrides: Record<string, number> = {}): number[] {
  return spec.dims.map((d) => (typeof d === 'number' ? d : d !== null && overrides[d] !== undefined ? overrides[d] : 1));
}

/**
 * The sizes of an input beyond the first axis (a batch) that neither the model nor `dims`/`shapes`
 * fixes, which inputShape takes as 1: "x axis 2 (H)".
 */
export function unsizedAxes(spec: ModelInputSpec, dims: Record<string, number> = {}, shapes: Record<string, number[]> = {}): string[] {
  if (shapes[spec.name]) return [];
  return spec.dims.flatMap((d, axis) => (axis > 0 && typeof d !== 'number' && (d === null || dims[d] === undefined) ? [`${spec.name} axis ${axis}${d === null ? '' : ` (${d})`}`] : []));
}

/**
 * The shape to feed an input: a whole shape given by name (`shapes`, checked against the model's
 * rank and fixed dims) wins; otherwise `resolveDims`.
 */
export function inputShape(spec: ModelInputSpec, dims: Record<string, number> = {}, shapes: Record<string, number[]> = {}): number[] {
  const given = shapes[spec.name];
  if (!given) return resolveDims(spec, dims);
  if (given.length !== spec.dims.length || spec.dims.some((d, i) => typeof d === 'number' && d !== given[i])) {
    throw new PrunerError(`shape ${given.join('x')} does not fit input ${spec.name} [${spec.dims.map((d) => d ?? '?').join(', ')}]`, { subject: spec.name });
  }
  return given;
}

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/**
 * mulberry32: a small, fast 32-bit PRNG (Tommy Ettinger's), good enough for test inputs and
 * reproducible across platforms. Returns uniforms in [0, 1).
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal values (Box–Muller over mulberry32), deterministic for a seed. */
export function seededNormal(n: number, seed: number): Float32Array {
  const u = mulberry32(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = 1 - u(); // (0, 1]: log is finite
    const u2 = u();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/**
 * Random inputs for every graph input: float inputs get N(0, 1) values from `seed` (each input its own
 * stream); integer and bool inputs get zeros (a valid index or mask for any vocabulary).
 */
export function randomInputs(
  specs: ModelInputSpec[],
  opts: { seed?: number; dims?: Record<string, number>; shapes?: Record<string, number[]> } = {},
): Record<string, InputTensor> {
  const seed = opts.seed ?? 0;
  const out: Record<string, InputTensor> = {};
  specs.forEach((spec, i) => {
    if (!spec.type) throw new PrunerError(`input ${spec.name}: element type ${spec.onnxType} is not supported for generated inputs`, { subject: spec.name });
    const dims = inputShape(spec, opts.dims, opts.shapes);
    const n = elementCount(dims);
    out[spec.name] = { type: spec.type, dims, data: zeroOrRandom(spec.type, n, seed + i * 0x9e3779b9) };
  });
  return out;
}

function zeroOrRandom(type: InputElementType, n: number, seed: number): InputData {
  switch (type) {
    case 'float32': return seededNormal(n, seed);
    case 'float64': return Float64Array.from(seededNormal(n, seed));
    case 'int64': return new BigInt64Array(n);
    case 'int32': return new Int32Array(n);
    case 'uint8': case 'bool': return new Uint8Array(n);
    case 'int8': return new Int8Array(n);
  }
}

/** Converts numeric data to the element type a model input expects. */
export function coerce(t: InputTensor, type: InputElementType): InputTensor {
  if (t.type === type) return t;
  const n = t.data.length;
  const get = (i: number): number => Number(t.data[i]);
  let data: InputData;
  switch (type) {
    case 'float32': data = new Float32Array(n); for (let i = 0; i < n; i++) data[i] = get(i); break;
    case 'float64': data = new Float64Array(n); for (let i = 0; i < n; i++) data[i] = get(i); break;
    case 'int64': data = new BigInt64Array(n); for (let i = 0; i < n; i++) data[i] = BigInt(Math.trunc(get(i))); break;
    case 'int32': data = new Int32Array(n); for (let i = 0; i < n; i++) data[i] = get(i); break;
    case 'uint8': case 'bool': data = new Uint8Array(n); for (let i = 0; i < n; i++) data[i] = get(i); break;
    case 'int8': data = new Int8Array(n); for (let i = 0; i < n; i++) data[i] = get(i); break;
  }
  return { type, dims: t.dims, data };
}

/** A parsed `--input` argument: `[name=]file[:AxBxC]`. */
export interface InputFileSpec {
  name?: string;
  file: string;
  shape?: number[];
}

/**
 * Parses `[name=]path[:1x3x224x224]`. The shape suffix is recognised only when it is digits and `x`
 * (so Windows drive letters survive); the name prefix only when it is one of `inputNames`.
 */
export function parseInputArg(arg: string, inputNames: readonly string[] = []): InputFileSpec {
  let rest = arg;
  let name: string | undefined;
  const eq = rest.indexOf('=');
  if (eq > 0 && inputNames.includes(rest.slice(0, eq))) {
    name = rest.slice(0, eq);
    rest = rest.slice(eq + 1);
  }
  let shape: number[] | undefined;
  const m = /:(\d+(?:x\d+)*)$/.exec(rest);
  if (m) {
    shape = m[1].split('x').map(Number);
    rest = rest.slice(0, m.index);
  }
  return { ...(name !== undefined ? { name } : {}), file: rest, ...(shape ? { shape } : {}) };
}

function readBytes(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new PrunerError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { subject: file, cause: e });
  }
}

/**
 * Fits a flat element count to a model input: every fixed dim must divide it, and a single
 * symbolic/unknown dim takes the rest (a batch of N images in one file). Undefined when it does not fit.
 */
export function inferShape(count: number, spec: ModelInputSpec | undefined): number[] | undefined {
  if (!spec || spec.dims.length === 0) return count === 1 && spec ? [] : undefined;
  const fixed = spec.dims.reduce<number>((a, d) => a * (typeof d === 'number' ? d : 1), 1);
  const free = spec.dims.filter((d) => typeof d !== 'number').length;
  if (free === 0) return fixed === count ? (spec.dims as number[]) : undefined;
  if (free > 1 || count % fixed !== 0) {
    // Several free dims: only the all-ones reading is unambiguous.
    return free > 1 && count === fixed ? spec.dims.map((d) => (typeof d === 'number' ? d : 1)) : undefined;
  }
  return spec.dims.map((d) => (typeof d === 'number' ? d : count / fixed));
}

/** Reads a raw little-endian float32 file; the shape is given or inferred from the model input. */
export function readF32(file: string, shape?: number[], spec?: ModelInputSpec): InputTensor {
  const buf = readBytes(file);
  if (buf.length === 0 || buf.length % 4 !== 0) {
    throw new PrunerError(`${file}: ${buf.length} bytes is not a whole number of float32 values`, { subject: file });
  }
  const count = buf.length / 4;
  const dims = shape ?? inferShape(count, spec);
  if (!dims) {
    const want = spec ? `[${spec.dims.map((d) => d ?? '?').join(', ')}]` : 'the model input';
    throw new PrunerError(`${file}: ${count} float32 values do not fit ${spec ? `input ${spec.name} ` : ''}${want}; give the shape as ${path.basename(file)}:AxBxC`, { subject: file });
  }
  if (elementCount(dims) !== count) {
    throw new PrunerError(`${file}: shape ${dims.join('x')} needs ${elementCount(dims)} float32 values, the file holds ${count}`, { subject: file });
  }
  // Copy: the file buffer may not be 4-byte aligned, and the data must be little-endian on any host.
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = buf.readFloatLE(i * 4);
  return { type: 'float32', dims, data };
}

/** Reads a whole NumPy .npy file (format versions 1-3, C order; see data/npy.ts for the dtypes). */
export function readNpy(file: string): InputTensor {
  const buf = readBytes(file);
  const { dtype, shape: dims, dataOffset } = parseNpyHeader(buf, file);
  const n = elementCount(dims);
  const body = buf.subarray(dataOffset);
  if (body.length < n * dtype.size) {
    throw new PrunerError(`${file}: not a usable .npy file (shape (${dims.join(', ')}) needs ${n * dtype.size} data bytes, found ${body.length})`, { subject: file });
  }
  const view = new DataView(body.buffer, body.byteOffset, n * dtype.size);
  if (dtype.kind === 'b') return { type: 'bool', dims, data: Uint8Array.from(body.subarray(0, n)) };
  if (dtype.kind === 'u' && dtype.size === 1) return { type: 'uint8', dims, data: Uint8Array.from(body.subarray(0, n)) };
  if (dtype.kind === 'i' && dtype.size === 1) return { type: 'int8', dims, data: Int8Array.from(body.subarray(0, n)) };
  if (dtype.kind === 'i' && dtype.size === 8) {
    const d = new BigInt64Array(n);
    for (let i = 0; i < n; i++) d[i] = view.getBigInt64(i * 8, dtype.littleEndian);
    return { type: 'int64', dims, data: d };
  }
  if (dtype.kind === 'f') {
    // float16 and float64 become float32: models fed by this tool take float32.
    const d = new Float32Array(n);
    decodeInto(body, dtype, n, d);
    return { type: 'float32', dims, data: d };
  }
  // int16/int32 and uint16/32/64 as int32 (larger values do not fit a model's integer inputs anyway).
  const d = new Int32Array(n);
  decodeInto(body, dtype, n, d);
  return { type: 'int32', dims, data: d };
}

/** Reads one input file (.npy by content/extension, anything else as raw float32) for a model input. */
export function readInputFile(arg: InputFileSpec, spec?: ModelInputSpec): InputTensor {
  const isNpy = arg.file.toLowerCase().endsWith('.npy');
  let t: InputTensor;
  if (isNpy) {
    t = readNpy(arg.file);
    if (arg.shape && elementCount(arg.shape) === elementCount(t.dims)) t = { ...t, dims: arg.shape };
    else if (arg.shape) throw new PrunerError(`${arg.file}: shape ${arg.shape.join('x')} does not match the array's [${t.dims.join(', ')}]`, { subject: arg.file });
  } else t = readF32(arg.file, arg.shape, spec);
  if (spec) {
    if (!spec.type) throw new PrunerError(`input ${spec.name}: element type ${spec.onnxType} cannot be fed from a file`, { subject: spec.name });
    if (spec.dims.length !== t.dims.length || spec.dims.some((d, i) => typeof d === 'number' && d !== t.dims[i])) {
      throw new PrunerError(`${arg.file}: shape [${t.dims.join(', ')}] does not match input ${spec.name} [${spec.dims.map((d) => d ?? '?').join(', ')}]`, { subject: arg.file });
    }
    t = coerce(t, spec.type);
  }
  return t;
}

/**
 * Maps `--input` arguments to model inputs: `name=file` by name, the rest in graph-input order.
 * Every model input must get exactly one file.
 */
export function inputsFromFiles(args: readonly string[], specs: ModelInputSpec[]): { feeds: Record<string, InputTensor>; files: Record<string, string> } {
  const names = specs.map((s) => s.name);
  const parsed = args.map((a) => parseInputArg(a, names));
  const feeds: Record<string, InputTensor> = {};
  const files: Record<string, string> = {};
  const unnamed = parsed.filter((p) => p.name === undefined);
  for (const p of parsed.filter((q) => q.name !== undefined)) {
    if (files[p.name!]) throw new PrunerError(`input ${p.name} is given twice (${files[p.name!]}, ${p.file})`, { subject: p.file });
    feeds[p.name!] = readInputFile(p, specs.find((s) => s.name === p.name));
    files[p.name!] = p.file;
  }
  const open = specs.filter((s) => !files[s.name]);
  if (unnamed.length > open.length) throw new PrunerError(`${unnamed.length + Object.keys(files).length} input files given, the model has ${specs.length} input(s): ${names.join(', ')}`);
  unnamed.forEach((p, i) => {
    feeds[open[i].name] = readInputFile(p, open[i]);
    files[open[i].name] = p.file;
  });
  const missing = specs.filter((s) => !files[s.name]);
  if (missing.length) throw new PrunerError(`no input file for model input(s) ${missing.map((s) => s.name).join(', ')}`);
  return { feeds, files };
}
