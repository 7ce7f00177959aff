// Loading an ONNX model: the structure is decoded, tensor bytes stay where they are
// (zero-copy views into the file buffer, or byte ranges of external-data files read on demand).
import * as fs from 'node:fs';
import * as path from 'node:path';
import protobuf from 'protobufjs/light.js';
import { PrunerError } from '../errors.ts';
import { ModelProtoType, type ModelProto, type TensorProto, DataType, toNumber } from './proto.ts';
import { ExternalResolver, type FileRange, isExternal, rawByteLength, readRangeInto, readRangeSync } from './external.ts';
import { validateStructure } from './validate.ts';
import { lazySliceOf, sliceBytes } from './slice.ts';

export interface OnnxModel {
  /** Absolute path of the .onnx file. */
  path: string;
  /** Folder that external-data locations are relative to. */
  dir: string;
  /** Size of the .onnx file in bytes (without external data). */
  fileSize: number;
  /** Total size on disk including external-data files. */
  sizeOnDisk: number;
  proto: ModelProto;
  /** Absolute paths of the external-data files the model's tensors refer to (empty when all data is inline). */
  externalFiles?: string[];
}

/** protobuf (and so ONNX without external data) cannot hold more than 2 GiB in one message. */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;

export function decodeModel(buf: Uint8Array, file = '<buffer>'): ModelProto {
  if (buf.length === 0) throw new PrunerError(`${file}: empty file, not an ONNX model`, { subject: file });
  const reader = protobuf.Reader.create(buf);
  reader.discardUnknown = false;
  let m: ModelProto;
  try {
    m = ModelProtoType.decode(reader) as unknown as ModelProto;
  } catch (e) {
    // protobufjs throws RangeError/Error (or overflows the stack) on garbage: all mean "not ONNX".
    const why = (e as Error)?.message ?? String(e);
    throw new PrunerError(`${file}: not a valid ONNX model (${why.split('\n')[0]})`, { subject: file, cause: e });
  }
  if (!m.graph) throw new PrunerError(`${file}: not a valid ONNX model (no graph)`, { subject: file });
  return m;
}

/**
 * Loads a model from a path: decodes the structure and checks it (validateStructure).
 * raw_data stays a zero-copy view into the file buffer; external data is only checked
 * (location inside the model folder, range inside the file) and read on demand.
 */
export function loadModel(file: string): OnnxModel {
  const abs = path.resolve(file);
  const cannotRead = (e: unknown) =>
    new PrunerError(`${abs}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { subject: abs, cause: e });
  let fd: number;
  try {
    fd = fs.openSync(abs, 'r');
  } catch (e) {
    throw cannotRead(e);
  }
  let buf: Buffer;
  try {
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) throw new PrunerError(`${abs}: is a folder, not an ONNX file`, { subject: abs });
    if (!st.isFile()) throw new PrunerError(`${abs}: not a regular file`, { subject: abs });
    if (st.size > PROTOBUF_LIMIT) {
      throw new PrunerError(
        `${abs}: ${(st.size / 2 ** 30).toFixed(2)} GiB in one file; ONNX files over 2 GiB must keep their weights in external data`,
        { subject: abs },
      );
    }
    // Read so that most float bytes start on a 4-byte boundary: they are then scored in place
    // (forEachRowBlock, readFloats) instead of being copied into an aligned buffer first.
    const shift = alignmentShift(fd, st.size);
    if (shift === 0) buf = Buffer.allocUnsafe(st.size);
    else {
      const whole = Buffer.allocUnsafe(st.size + 3);
      const start = (shift - (whole.byteOffset % 4) + 4) % 4;
      buf = whole.subarray(start, start + st.size);
    }
    let done = 0;
    while (done < st.size) {
      const n = fs.readSync(fd, buf, done, st.size - done, done);
      if (n === 0) break;
      done += n;
    }
    if (done < st.size) buf = buf.subarray(0, done);
  } catch (e) {
    if (e instanceof PrunerError) throw e;
    throw cannotRead(e);
  } finally {
    fs.closeSync(fd);
  }
  return modelFromBuffer(buf, abs, { own: true });
}

/** raw_data from this size on has a field header (tag and length) of at least four bytes. */
const ALIGN_MOVE_MIN = 2 ** 14;

/**
 * Moves each initializer's (and Constant node's) raw_data of 2- or 4-byte elements that does not
 * start on a multiple of its element size back onto one, by 1 to 3 bytes, over its own field's tag
 * and length: bytes of the file buffer that the decoded model no longer reads. The tensor's view
 * then points at the moved bytes, so scoring, compensation and slicing read it in place instead of
 * copying it. (The read alignment of loadModel aligns the tensors of one residue of 4 only; in an
 * exported ResNet-50 that is a third of the weight bytes.) The values are unchanged.
 */
function alignTensorBytes(proto: ModelProto, buf: Uint8Array): void {
  const align = (t: TensorProto | null | undefined) => {
    const raw = t?.raw_data;
    if (!raw || raw.length < ALIGN_MOVE_MIN || raw.buffer !== buf.buffer) return;
    const size = ELEMENT_SIZES[t!.data_type ?? 0];
    if (size !== 2 && size !== 4) return;
    const d = raw.byteOffset % size;
    if (d === 0 || raw.byteOffset - d < buf.byteOffset) return;
    const whole = new Uint8Array(raw.buffer);
    whole.copyWithin(raw.byteOffset - d, raw.byteOffset, raw.byteOffset + raw.length);
    t!.raw_data = Buffer.from(raw.buffer, raw.byteOffset - d, raw.length);
  };
  const graph = proto.graph;
  if (!graph) return;
  for (const t of graph.initializer ?? []) align(t);
  for (const n of graph.node ?? []) for (const a of n.attribute ?? []) align(a.t);
}

/** Bytes per element of the types alignTensorBytes moves (FLOAT, INT32, UINT32: 4; FLOAT16, BFLOAT16, INT16, UINT16: 2). */
const ELEMENT_SIZES: Record<number, number> = { 1: 4, 6: 4, 12: 4, 10: 2, 16: 2, 4: 2, 5: 2 };

/** Tensors smaller than this do not count when choosing the read alignment. */
const ALIGN_MIN_BYTES = 64 * 1024;

/**
 * The shift (0–3) of the file buffer's start that puts the most bytes of FLOAT raw_data on a
 * 4-byte boundary, found by walking the file's protobuf framing (ModelProto.graph → initializer →
 * raw_data) with small positional reads that skip over the tensor bytes. Only a hint: on anything
 * unexpected it returns 0 and the file is read as usual (decodeModel then judges it).
 */
function alignmentShift(fd: number, size: number): number {
  if (size < ALIGN_MIN_BYTES) return 0;
  const WINDOW = 64 * 1024;
  const win = Buffer.allocUnsafe(WINDOW);
  let winAt = 0;
  let winLen = 0;
  const byteAt = (pos: number): number => {
    if (pos < winAt || pos >= winAt + winLen) {
      winAt = pos;
      winLen = fs.readSync(fd, win, 0, Math.min(WINDOW, size - pos), pos);
      if (winLen <= 0) throw new Error('short read');
    }
    return win[pos - winAt];
  };
  let pos = 0;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      const b = byteAt(pos++);
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
    throw new Error('bad varint');
  };
  const skip = (wire: number): void => {
    if (wire === 0) varint();
    else if (wire === 1) pos += 8;
    else if (wire === 2) {
      const len = varint(); // read before pos is used: `pos += varint()` would add to the old pos
      pos += len;
    }
    else if (wire === 5) pos += 4;
    else throw new Error('unsupported wire type');
  };
  // walks the fields in [pos, end), calling `field` for each length-delimited one (pos at its bytes)
  const fields = (end: number, field: (num: number, len: number) => void): void => {
    while (pos < end) {
      const tag = varint();
      const num = Math.floor(tag / 8);
      const wire = tag & 7;
      if (wire !== 2) {
        skip(wire);
        continue;
      }
      const len = varint();
      const next = pos + len;
      if (next > end) throw new Error('field past its end');
      field(num, len);
      pos = next;
    }
    if (pos !== end) throw new Error('misframed');
  };
  const aligned = [0, 0, 0, 0];
  try {
    fields(size, (num, len) => {
      if (num !== 7) return; // ModelProto.graph
      fields(pos + len, (gnum, glen) => {
        if (gnum !== 5 || glen < ALIGN_MIN_BYTES) return; // GraphProto.initializer
        const tEnd = pos + glen;
        let dataType = 0;
        let rawAt = -1;
        let rawLen = 0;
        while (pos < tEnd) {
          const tag = varint();
          const tnum = Math.floor(tag / 8);
          const wire = tag & 7;
          if (tnum === 2 && wire === 0) dataType = varint(); // TensorProto.data_type
          else if (tnum === 9 && wire === 2) { // TensorProto.raw_data
            rawLen = varint();
            rawAt = pos;
            pos += rawLen;
          } else skip(wire);
        }
        if (dataType === DataType.FLOAT && rawAt >= 0 && rawLen >= ALIGN_MIN_BYTES) aligned[(4 - (rawAt % 4)) % 4] += rawLen;
      });
    });
  } catch {
    return 0;
  }
  let best = 0;
  for (let s = 1; s < 4; s++) if (aligned[s] > aligned[best]) best = s;
  return best;
}

/**
 * A model from the bytes of an .onnx file already in memory (decoded and checked like loadModel).
 * `file` names the model in messages; external-data locations are relative to its folder. With
 * `own` (loadModel's own read buffer, which nothing else sees), tensor bytes that do not start on a
 * boundary of their element size are moved onto one, in place (alignTensorBytes).
 */
export function modelFromBuffer(buf: Uint8Array, file: string, opts: { own?: boolean } = {}): OnnxModel {
  const abs = path.resolve(file);
  const proto = decodeModel(buf, abs);
  if (opts.own) alignTensorBytes(proto, buf);
  const model: OnnxModel = { path: abs, dir: path.dirname(abs), fileSize: buf.length, sizeOnDisk: buf.length, proto };
  const resolver = validateStructure(model, resolverFor(model));
  const files = resolver.resolvedFiles();
  model.externalFiles = files.map((f) => f.file);
  model.sizeOnDisk = buf.length + files.reduce((s, f) => s + f.size, 0);
  return model;
}

export function tensorElementCount(t: TensorProto): number {
  let n = 1;
  for (const d of t.dims) n *= toNumber(d);
  return n;
}

export function tensorDims(t: TensorProto): number[] {
  return t.dims.map((d) => toNumber(d));
}

const resolvers = new WeakMap<object, ExternalResolver>();

/** The (memoised) external-data resolver of a model. */
export function resolverFor(model: { path: string; dir: string; proto: object }): ExternalResolver {
  let r = resolvers.get(model.proto);
  if (!r || r.dir !== model.dir) {
    r = new ExternalResolver(model.path, model.dir);
    resolvers.set(model.proto, r);
  }
  return r;
}

/** Where an external tensor's bytes are (checked), or undefined for inline tensors. */
export function tensorExternalRange(model: OnnxModel, t: TensorProto): FileRange | undefined {
  return isExternal(t) ? resolverFor(model).resolve(t) : undefined;
}

/** The raw little-endian bytes of a tensor stored in raw_data or in external data (or a lazy slice's, copied out). */
export function tensorRawBytes(model: OnnxModel, t: TensorProto): Uint8Array | undefined {
  const lazy = lazySliceOf(t);
  if (lazy) return sliceBytes(lazy);
  if (isExternal(t)) return readRangeSync(resolverFor(model).resolve(t));
  if (t.raw_data && t.raw_data.length > 0) return t.raw_data;
  return undefined;
}

export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Bytes decoded per block when fp16/bf16 external data is read by ranges. */
const HALF_BLOCK_BYTES = 4 * 2 ** 20;

/**
 * FLOAT, FLOAT16 and BFLOAT16 values as float32 in one pass, without element-by-element DataView
 * reads: FLOAT bytes are copied (external data is read straight into the result's memory),
 * 16-bit types are decoded by table (fp16) or by shift (bf16); external 16-bit data is read by
 * 4 MiB ranges, so only the result is held. Undefined for other types or when the data is not
 * raw bytes (typed fields) or the host is big-endian.
 */
export function tensorFloatsFast(model: OnnxModel, t: TensorProto): Float32Array | undefined {
  const dt = t.data_type ?? 0;
  if (!LITTLE_ENDIAN || (dt !== DataType.FLOAT && dt !== DataType.FLOAT16 && dt !== DataType.BFLOAT16) || lazySliceOf(t)) return undefined;
  const n = tensorElementCount(t);
  const es = dt === DataType.FLOAT ? 4 : 2;
  if (isExternal(t)) {
    const r = resolverFor(model).resolve(t);
    if (r.length < n * es) throw new PrunerError(`${model.path}: tensor ${JSON.stringify(t.name ?? '')}: ${r.length} bytes of data, its shape needs ${n * es}`, { subject: model.path });
    const out = new Float32Array(n);
    if (dt === DataType.FLOAT) {
      readRangeInto(r, new Uint8Array(out.buffer, 0, n * 4));
      return out;
    }
    const block = new Uint16Array(Math.min(n, HALF_BLOCK_BYTES / 2));
    const bytes = new Uint8Array(block.buffer);
    for (let done = 0; done < n; done += block.length) {
      const m = Math.min(block.length, n - done);
      readRangeInto({ file: r.file, offset: r.offset + done * 2, length: m * 2 }, bytes.subarray(0, m * 2));
      decodeHalves(block, m, out, done, dt);
    }
    return out;
  }
  const raw = t.raw_data;
  if (!raw || raw.length === 0) return undefined;
  checkRawLength(model, t, raw, dt, n);
  if (dt === DataType.FLOAT) {
    const out = new Float32Array(n);
    new Uint8Array(out.buffer).set(raw.subarray(0, n * 4));
    return out;
  }
  // 16-bit: a view when 2-byte aligned, else one copy of the bytes
  const halves = raw.byteOffset % 2 === 0 ? new Uint16Array(raw.buffer, raw.byteOffset, n) : new Uint16Array(new Uint8Array(raw.subarray(0, n * 2)).buffer);
  const out = new Float32Array(n);
  decodeHalves(halves, n, out, 0, dt);
  return out;
}

/** Floats per block of forEachRowBlock (16 MiB). */
export const ROW_BLOCK_FLOATS = 4 * 2 ** 20;

/**
 * Calls `fn` with the tensor's values as float32, by blocks of whole rows of axis 0 (at most
 * `blockFloats` floats, 16 MiB by default, or one row when a row is larger): a 4-byte aligned
 * FLOAT raw_data is read in place, anything else (unaligned raw_data, external data, FLOAT16,
 * BFLOAT16) is decoded into one reused block, so a tensor of any size costs one block of memory.
 * Each block is valid only during its call. Returns false (without calling `fn`) for types or
 * storage it does not handle. Callers whose result is per row can ask for small blocks (a block
 * that stays in the CPU cache between the copy and the use); callers that add up blocks keep the
 * default, so their sums keep their grouping.
 */
export function forEachRowBlock(
  model: OnnxModel,
  t: TensorProto,
  fn: (block: Float32Array, firstRow: number, rows: number) => void,
  blockFloats: number = ROW_BLOCK_FLOATS,
): boolean {
  const dt = t.data_type ?? 0;
  if (!LITTLE_ENDIAN || (dt !== DataType.FLOAT && dt !== DataType.FLOAT16 && dt !== DataType.BFLOAT16) || lazySliceOf(t)) return false;
  const dims = tensorDims(t);
  const n = tensorElementCount(t);
  const rows = dims.length ? dims[0] : 1;
  if (rows === 0 || n === 0) return false;
  const rowLen = n / rows;
  const es = dt === DataType.FLOAT ? 4 : 2;
  const external = isExternal(t) ? resolverFor(model).resolve(t) : undefined;
  const raw = external ? undefined : t.raw_data;
  if (!external && (!raw || raw.length === 0)) return false;
  const have = external ? external.length : raw!.length;
  if (have < n * es) throw new PrunerError(`${model.path}: tensor ${JSON.stringify(t.name ?? '')}: ${have} bytes of data, its shape needs ${n * es}`, { subject: model.path });
  const perBlock = Math.max(1, Math.floor(blockFloats / rowLen));
  if (raw && dt === DataType.FLOAT && raw.byteOffset % 4 === 0) {
    const all = new Float32Array(raw.buffer, raw.byteOffset, n);
    for (let r = 0; r < rows; r += perBlock) {
      const m = Math.min(perBlock, rows - r);
      fn(all.subarray(r * rowLen, (r + m) * rowLen), r, m);
    }
    return true;
  }
  const floats = Math.min(rows, perBlock) * rowLen;
  const scratch = takeScratch(floats * 4);
  try {
    const block = new Float32Array(scratch, 0, floats);
    const halves = es === 2 ? new Uint16Array(floats) : undefined;
    const bytes = halves ? new Uint8Array(halves.buffer) : new Uint8Array(scratch, 0, floats * 4);
    for (let r = 0; r < rows; r += perBlock) {
      const m = Math.min(perBlock, rows - r);
      const len = m * rowLen * es;
      const at = r * rowLen * es;
      if (external) readRangeInto({ file: external.file, offset: external.offset + at, length: len }, bytes.subarray(0, len));
      else bytes.set(raw!.subarray(at, at + len));
      if (halves) decodeHalves(halves, m * rowLen, block, 0, dt);
      fn(block.subarray(0, m * rowLen), r, m);
    }
  } finally {
    giveScratch(scratch);
  }
  return true;
}

/**
 * forEachRowBlock's block buffer, kept from one tensor to the next (at most one, of at most one
 * block: 16 MiB): a fresh buffer per tensor costs its page faults every time, more than the copy
 * into it (ResNet-18: 76 of its 102 weights are not 4-byte aligned in the file).
 */
let spareScratch: ArrayBuffer | undefined;

function takeScratch(bytes: number): ArrayBuffer {
  const spare = spareScratch;
  if (spare && spare.byteLength >= bytes) {
    spareScratch = undefined;
    return spare;
  }
  return new ArrayBuffer(bytes);
}

function giveScratch(buf: ArrayBuffer): void {
  if (buf.byteLength <= ROW_BLOCK_FLOATS * 4 && (!spareScratch || spareScratch.byteLength < buf.byteLength)) spareScratch = buf;
}

function decodeHalves(src: Uint16Array, count: number, out: Float32Array, at: number, dt: number): void {
  if (dt === DataType.FLOAT16) {
    const table = halves();
    for (let i = 0; i < count; i++) out[at + i] = table[src[i]];
    return;
  }
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < count; i++) bits[at + i] = src[i] << 16;
}

/** Tensor values as float32 (for statistics and arithmetic). Throws for types that cannot be read as numbers. */
export function tensorToFloat32(model: OnnxModel, t: TensorProto): Float32Array {
  const fast = tensorFloatsFast(model, t);
  if (fast) return fast;
  const n = tensorElementCount(t);
  const dt = t.data_type ?? 0;
  const raw = tensorRawBytes(model, t);
  const out = new Float32Array(n);
  if (raw) {
    checkRawLength(model, t, raw, dt, n);
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    switch (dt) {
      case DataType.FLOAT: for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true); return out;
      case DataType.DOUBLE: for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true); return out;
      case DataType.FLOAT16: for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(i * 2, true)); return out;
      case DataType.BFLOAT16: for (let i = 0; i < n; i++) out[i] = bf16ToFloat(dv.getUint16(i * 2, true)); return out;
      case DataType.INT8: for (let i = 0; i < n; i++) out[i] = dv.getInt8(i); return out;
      case DataType.UINT8: for (let i = 0; i < n; i++) out[i] = dv.getUint8(i); return out;
      case DataType.INT16: for (let i = 0; i < n; i++) out[i] = dv.getInt16(i * 2, true); return out;
      case DataType.UINT16: for (let i = 0; i < n; i++) out[i] = dv.getUint16(i * 2, true); return out;
      case DataType.INT32: for (let i = 0; i < n; i++) out[i] = dv.getInt32(i * 4, true); return out;
      case DataType.UINT32: for (let i = 0; i < n; i++) out[i] = dv.getUint32(i * 4, true); return out;
      case DataType.INT64: for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(i * 8, true)); return out;
      case DataType.UINT64: for (let i = 0; i < n; i++) out[i] = Number(dv.getBigUint64(i * 8, true)); return out;
      case DataType.BOOL: for (let i = 0; i < n; i++) out[i] = dv.getUint8(i); return out;
    }
    throw new PrunerError(`tensor ${t.name ?? ''}: element type ${dt} cannot be read as numbers`);
  }
  switch (dt) {
    case DataType.FLOAT: copyInto(out, t.float_data); return out;
    case DataType.DOUBLE: copyInto(out, t.double_data); return out;
    case DataType.FLOAT16:
      for (let i = 0; i < n; i++) out[i] = halfToFloat(t.int32_data[i] ?? 0);
      return out;
    case DataType.BFLOAT16:
      for (let i = 0; i < n; i++) out[i] = bf16ToFloat(t.int32_data[i] ?? 0);
      return out;
    case DataType.INT8: case DataType.UINT8: case DataType.INT16: case DataType.UINT16: case DataType.INT32: case DataType.BOOL:
      copyInto(out, t.int32_data); return out;
    case DataType.INT64: for (let i = 0; i < n; i++) out[i] = toNumber(t.int64_data[i]); return out;
    case DataType.UINT32: case DataType.UINT64: for (let i = 0; i < n; i++) out[i] = toNumber(t.uint64_data[i]); return out;
  }
  throw new PrunerError(`tensor ${t.name ?? ''}: element type ${dt} cannot be read as numbers`);
}

/** Integer tensor values (INT64/INT32/...) as plain numbers, e.g. Reshape shapes or Split sizes. */
export function tensorToInts(model: OnnxModel, t: TensorProto): number[] {
  return Array.from(tensorToFloat32AsF64(model, t));
}

function tensorToFloat32AsF64(model: OnnxModel, t: TensorProto): Float64Array {
  const n = tensorElementCount(t);
  const dt = t.data_type ?? 0;
  const out = new Float64Array(n);
  const raw = tensorRawBytes(model, t);
  if (dt === DataType.INT64) {
    if (raw) {
      checkRawLength(model, t, raw, dt, n);
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(i * 8, true));
    } else for (let i = 0; i < n; i++) out[i] = toNumber(t.int64_data[i]);
    return out;
  }
  out.set(tensorToFloat32(model, t));
  return out;
}

function checkRawLength(model: OnnxModel, t: TensorProto, raw: Uint8Array, dt: number, n: number): void {
  const need = rawByteLength(dt, n);
  if (need !== undefined && raw.length < need) {
    throw new PrunerError(`${model.path}: tensor ${JSON.stringify(t.name ?? '')}: ${raw.length} bytes of data, its shape needs ${need}`, { subject: model.path });
  }
}

function copyInto(out: Float32Array, src: ArrayLike<number>): void {
  const n = Math.min(out.length, src.length);
  for (let i = 0; i < n; i++) out[i] = src[i];
}

let halfTable: Float32Array | undefined;

/** float16 bits → float32 value for all 65536 patterns, built on first use (not at start-up: most models have no float16). */
function halves(): Float32Array {
  if (halfTable) return halfTable;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const f = h & 0x3ff;
    if (e === 0) table[h] = s * f * 2 ** -24;
    else if (e === 31) table[h] = f ? NaN : s * Infinity;
    else table[h] = s * (1 + f / 1024) * 2 ** (e - 15);
  }
  halfTable = table;
  return table;
}

export function halfToFloat(h: number): number {
  return (halfTable ?? halves())[h & 0xffff];
}

const F32_SCRATCH = new DataView(new ArrayBuffer(4));

/** The IEEE half-precision bit pattern nearest to `x` (round to nearest even; overflow to ±Infinity). */
export function floatToHalf(x: number): number {
  F32_SCRATCH.setFloat32(0, x);
  const f = F32_SCRATCH.getUint32(0);
  const sign = (f >>> 16) & 0x8000;
  const exp = (f >>> 23) & 0xff;
  const mant = f & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++; // may carry into the exponent: still correct
  return sign | h;
}

/** The bfloat16 bit pattern nearest to `x` (round to nearest even). */
export function floatToBf16(x: number): number {
  F32_SCRATCH.setFloat32(0, x);
  const f = F32_SCRATCH.getUint32(0);
  if ((f & 0x7f800000) === 0x7f800000 && f & 0x7fffff) return ((f >>> 16) | 0x40) & 0xffff; // NaN stays NaN
  return ((f + 0x7fff + ((f >>> 16) & 1)) >>> 16) & 0xffff;
}

const BF16_SCRATCH = new DataView(new ArrayBuffer(4));
export function bf16ToFloat(b: number): number {
  BF16_SCRATCH.setUint32(0, (b & 0xffff) << 16);
  return BF16_SCRATCH.getFloat32(0);
}
