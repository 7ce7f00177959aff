// Loading an ONNX model: the structure is decoded, tensor bytes stay where they are
// (zero-copy views into the file buffer, or byte ranges of external-data files read on demand).
import * as fs from 'node:fs';
import * as path from 'node:path';
import protobuf from 'protobufjs/light.js';
import { PrunerError } from '../errors.ts';
import { ModelProtoType, type ModelProto, type TensorProto, DataType, toNumber } from './proto.ts';
import { ExternalResolver, type FileRange, inFileRange, isExternal, openRanges, type RangeReader, rawByteLength, readRangeInto, readRangeSync, setInFile, stampFile } from './external.ts';
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

export interface LoadOptions {
  /**
   * 'memory' (default): the whole file is read once and raw_data stays a zero-copy view into it.
   * 'file': initializers with 64 KiB or more of raw_data are left in the file and read on demand by
   * byte range, like external data, so the model costs its structure and not its weights (a
   * one-shot command: each weight is read when scored and again when written).
   */
  weights?: 'memory' | 'file';
}

/**
 * Loads a model from a path: decodes the structure and checks it (validateStructure).
 * raw_data stays a zero-copy view into the file buffer, or (`weights: 'file'`) a byte range of the
 * file read on demand; external data is only checked (location inside the model folder, range
 * inside the file) and read on demand.
 */
export function loadModel(file: string, opts: LoadOptions = {}): OnnxModel {
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
    if (opts.weights === 'file' && st.size >= IN_FILE_MIN_BYTES) {
      const plan = skeletonPlan(fd, st.size);
      if (plan && plan.weights.length) {
        stampFile(abs, st);
        const skeleton = readEdited(fd, st.size, plan.edits, abs);
        return modelFromBuffer(skeleton, abs, { own: true, fileSize: st.size, inFile: plan.weights });
      }
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
 * Positional reads of a file's protobuf framing through a 64 KiB window, skipping over the bytes of
 * long fields without reading them (alignmentShift, skeletonPlan). Throws on anything malformed.
 */
class Framing {
  pos = 0;
  private readonly win = Buffer.allocUnsafe(64 * 1024);
  private winAt = 0;
  private winLen = 0;

  constructor(private readonly fd: number, private readonly size: number) {}

  private byteAt(pos: number): number {
    if (pos < this.winAt || pos >= this.winAt + this.winLen) {
      this.winAt = pos;
      this.winLen = fs.readSync(this.fd, this.win, 0, Math.min(this.win.length, this.size - pos), pos);
      if (this.winLen <= 0) throw new Error('short read');
    }
    return this.win[pos - this.winAt];
  }

  varint(): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byteAt(this.pos++);
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
      mul *= 128;
    }
    throw new Error('bad varint');
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) {
      const len = this.varint(); // read before pos is used: `pos += varint()` would add to the old pos
      this.pos += len;
    } else if (wire === 5) this.pos += 4;
    else throw new Error('unsupported wire type');
  }

  /**
   * Walks the fields in [pos, end): `field` is called for each length-delimited one with pos at its
   * bytes, and where its tag and its length start; `scalar` (optional) for the others, with pos at
   * their value (it must read it, or leave it to be skipped by returning false).
   */
  fields(end: number, field: (num: number, len: number, tagAt: number, lenAt: number) => void, scalar?: (num: number, wire: number) => boolean): void {
    while (this.pos < end) {
      const tagAt = this.pos;
      const tag = this.varint();
      const num = Math.floor(tag / 8);
      const wire = tag & 7;
      if (wire !== 2) {
        if (!scalar?.(num, wire)) this.skip(wire);
        continue;
      }
      const lenAt = this.pos;
      const len = this.varint();
      const next = this.pos + len;
      if (next > end) throw new Error('field past its end');
      field(num, len, tagAt, lenAt);
      this.pos = next;
    }
    if (this.pos !== end) throw new Error('misframed');
  }
}

/** ModelProto.graph, GraphProto.initializer, TensorProto.data_type and raw_data. */
const MODEL_GRAPH = 7;
const GRAPH_INITIALIZER = 5;
const TENSOR_DATA_TYPE = 2;
const TENSOR_RAW_DATA = 9;

/**
 * The shift (0–3) of the file buffer's start that puts the most bytes of FLOAT raw_data on a
 * 4-byte boundary, found by walking the file's protobuf framing (ModelProto.graph → initializer →
 * raw_data) with small positional reads that skip over the tensor bytes. Only a hint: on anything
 * unexpected it returns 0 and the file is read as usual (decodeModel then judges it).
 */
function alignmentShift(fd: number, size: number): number {
  if (size < ALIGN_MIN_BYTES) return 0;
  const f = new Framing(fd, size);
  const aligned = [0, 0, 0, 0];
  try {
    f.fields(size, (num, len) => {
      if (num !== MODEL_GRAPH) return;
      f.fields(f.pos + len, (gnum, glen) => {
        if (gnum !== GRAPH_INITIALIZER || glen < ALIGN_MIN_BYTES) return;
        let dataType = 0;
        let rawAt = -1;
        let rawLen = 0;
        f.fields(
          f.pos + glen,
          (tnum, tlen) => {
            if (tnum !== TENSOR_RAW_DATA) return;
            rawAt = f.pos;
            rawLen = tlen;
          },
          (tnum, wire) => {
            if (tnum !== TENSOR_DATA_TYPE || wire !== 0) return false;
            dataType = f.varint();
            return true;
          },
        );
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

/** Initializers with at least this many bytes of raw_data are left in the file by loadModel's `weights: 'file'`. */
const IN_FILE_MIN_BYTES = 64 * 1024;

/** Bytes [at, end) of the file replaced by `bytes`. */
interface Edit {
  at: number;
  end: number;
  bytes: Uint8Array;
}

function varintBytes(v: number): Uint8Array {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Uint8Array.from(out);
}

/**
 * How to read an .onnx file without its large weights: the edits that drop the raw_data field of
 * each initializer with at least IN_FILE_MIN_BYTES of it (and shorten the lengths of that
 * initializer and of the graph), and where each dropped raw_data is (by the initializer's index in
 * the graph). Undefined when the framing is not the plain one (not exactly one graph field, an
 * initializer with several raw_data fields): the file is then read whole.
 */
function skeletonPlan(fd: number, size: number): { edits: Edit[]; weights: { index: number; offset: number; length: number }[] } | undefined {
  const f = new Framing(fd, size);
  const edits: Edit[] = [];
  const weights: { index: number; offset: number; length: number }[] = [];
  let graphs = 0;
  try {
    f.fields(size, (num, len, _tagAt, lenAt) => {
      if (num !== MODEL_GRAPH) return;
      graphs++;
      const graphEdit: Edit = { at: lenAt, end: f.pos, bytes: new Uint8Array(0) };
      edits.push(graphEdit);
      let shrink = 0;
      let index = 0;
      f.fields(f.pos + len, (gnum, glen, _gTagAt, gLenAt) => {
        if (gnum !== GRAPH_INITIALIZER) return;
        const lenEnd = f.pos;
        const i = index++;
        let raw: { tagAt: number; at: number; len: number } | undefined;
        let raws = 0;
        f.fields(f.pos + glen, (tnum, tlen, tTagAt) => {
          if (tnum !== TENSOR_RAW_DATA) return;
          raws++;
          raw = { tagAt: tTagAt, at: f.pos, len: tlen };
        });
        if (raws > 1) throw new Error('several raw_data fields');
        if (!raw || raw.len < IN_FILE_MIN_BYTES) return;
        const dropped = raw.at + raw.len - raw.tagAt;
        const lenBytes = varintBytes(glen - dropped);
        edits.push({ at: gLenAt, end: lenEnd, bytes: lenBytes }, { at: raw.tagAt, end: raw.at + raw.len, bytes: new Uint8Array(0) });
        shrink += dropped + (lenEnd - gLenAt) - lenBytes.length;
        weights.push({ index: i, offset: raw.at, length: raw.len });
      });
      graphEdit.bytes = varintBytes(len - shrink);
    });
  } catch {
    return undefined;
  }
  if (graphs !== 1) return undefined;
  return { edits, weights };
}

/** The file's bytes with `edits` applied (edits in file order, not overlapping), read around them. */
function readEdited(fd: number, size: number, edits: Edit[], file: string): Buffer {
  let total = size;
  for (const e of edits) total += e.bytes.length - (e.end - e.at);
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  let from = 0;
  const copy = (to: number) => {
    while (from < to) {
      const n = fs.readSync(fd, out, pos, to - from, from);
      if (n === 0) throw new PrunerError(`${file}: ended early while reading`, { subject: file });
      pos += n;
      from += n;
    }
  };
  for (const e of edits) {
    copy(e.at);
    out.set(e.bytes, pos);
    pos += e.bytes.length;
    from = e.end;
  }
  copy(size);
  return out;
}

/**
 * A model from the bytes of an .onnx file already in memory (decoded and checked like loadModel).
 * `file` names the model in messages; external-data locations are relative to its folder. With
 * `own` (loadModel's own read buffer, which nothing else sees), tensor bytes that do not start on a
 * boundary of their element size are moved onto one, in place (alignTensorBytes).
 */
export function modelFromBuffer(
  buf: Uint8Array,
  file: string,
  opts: { own?: boolean; fileSize?: number; inFile?: { index: number; offset: number; length: number }[] } = {},
): OnnxModel {
  const abs = path.resolve(file);
  const proto = decodeModel(buf, abs);
  if (opts.own) alignTensorBytes(proto, buf);
  // the initializers whose raw_data loadModel left in the file
  const inits = proto.graph?.initializer ?? [];
  for (const w of opts.inFile ?? []) {
    const t = inits[w.index];
    if (!t || (t.raw_data && t.raw_data.length) || isExternal(t)) throw new PrunerError(`${abs}: initializer ${w.index} is not where the file's framing put it`, { subject: abs });
    setInFile(t, { file: abs, offset: w.offset, length: w.length });
  }
  const size = opts.fileSize ?? buf.length;
  const model: OnnxModel = { path: abs, dir: path.dirname(abs), fileSize: size, sizeOnDisk: size, proto };
  const resolver = validateStructure(model, resolverFor(model));
  const files = resolver.resolvedFiles();
  model.externalFiles = files.map((f) => f.file);
  model.sizeOnDisk = size + files.reduce((s, f) => s + f.size, 0);
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

/** Where a tensor's bytes are in a file: its external data (checked), or the .onnx file's range for a weight left there; undefined for bytes in memory. */
export function tensorFileRange(model: OnnxModel, t: TensorProto): FileRange | undefined {
  return isExternal(t) ? resolverFor(model).resolve(t) : inFileRange(t);
}

/** The raw little-endian bytes of a tensor stored in raw_data or in external data (or a lazy slice's, copied out). */
export function tensorRawBytes(model: OnnxModel, t: TensorProto): Uint8Array | undefined {
  const lazy = lazySliceOf(t);
  if (lazy) return sliceBytes(lazy);
  const range = tensorFileRange(model, t);
  if (range) return readRangeSync(range);
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
  const r = tensorFileRange(model, t);
  if (r) {
    if (r.length < n * es) throw new PrunerError(`${model.path}: tensor ${JSON.stringify(t.name ?? '')}: ${r.length} bytes of data, its shape needs ${n * es}`, { subject: model.path });
    const out = new Float32Array(n);
    if (dt === DataType.FLOAT) {
      readRangeInto(r, new Uint8Array(out.buffer, 0, n * 4));
      return out;
    }
    const block = new Uint16Array(Math.min(n, HALF_BLOCK_BYTES / 2));
    const bytes = new Uint8Array(block.buffer);
    const reader = openRanges(r.file);
    try {
      for (let done = 0; done < n; done += block.length) {
        const m = Math.min(block.length, n - done);
        reader.read({ file: r.file, offset: r.offset + done * 2, length: m * 2 }, bytes.subarray(0, m * 2));
        decodeHalves(block, m, out, done, dt);
      }
    } finally {
      reader.close();
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
  const external = tensorFileRange(model, t);
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
  let reader: RangeReader | undefined;
  try {
    // the data file opened once for all the blocks
    if (external) reader = openRanges(external.file);
    const block = new Float32Array(scratch, 0, floats);
    const halves = es === 2 ? new Uint16Array(floats) : undefined;
    const bytes = halves ? new Uint8Array(halves.buffer) : new Uint8Array(scratch, 0, floats * 4);
    for (let r = 0; r < rows; r += perBlock) {
      const m = Math.min(perBlock, rows - r);
      const len = m * rowLen * es;
      const at = r * rowLen * es;
      if (reader) reader.read({ file: external!.file, offset: external!.offset + at, length: len }, bytes.subarray(0, len));
      else bytes.set(raw!.subarray(at, at + len));
      if (halves) decodeHalves(halves, m * rowLen, block, 0, dt);
      fn(block.subarray(0, m * rowLen), r, m);
    }
  } finally {
    reader?.close();
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
