// Loading an ONNX model: the structure is decoded, tensor bytes stay where they are
// (zero-copy views into the file buffer, or byte ranges of external-data files read on demand).
import * as fs from 'node:fs';
import * as path from 'node:path';
import protobuf from 'protobufjs';
import { PrunerError } from '../errors.ts';
import { ModelProtoType, type ModelProto, type TensorProto, DataType, toNumber } from './proto.ts';

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
}

export function decodeModel(buf: Uint8Array, file = '<buffer>'): ModelProto {
  const reader = protobuf.Reader.create(buf);
  reader.discardUnknown = false;
  try {
    const m = ModelProtoType.decode(reader) as unknown as ModelProto;
    if (!m.graph) throw new Error('no graph');
    return m;
  } catch (e) {
    throw new PrunerError(`${path.basename(file)}: not a valid ONNX model (${(e as Error).message})`, { subject: file, cause: e });
  }
}

export function loadModel(file: string): OnnxModel {
  const abs = path.resolve(file);
  let buf: Buffer;
  try {
    buf = fs.readFileSync(abs);
  } catch (e) {
    throw new PrunerError(`${abs}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { subject: abs, cause: e });
  }
  const proto = decodeModel(buf, abs);
  return { path: abs, dir: path.dirname(abs), fileSize: buf.length, sizeOnDisk: buf.length, proto };
}

export function tensorElementCount(t: TensorProto): number {
  let n = 1;
  for (const d of t.dims) n *= toNumber(d);
  return n;
}

export function tensorDims(t: TensorProto): number[] {
  return t.dims.map((d) => toNumber(d));
}

function isExternal(t: TensorProto): boolean {
  return t.data_location === 1;
}

/** The raw little-endian bytes of a tensor stored in raw_data or in external data. */
export function tensorRawBytes(model: OnnxModel, t: TensorProto): Uint8Array | undefined {
  if (isExternal(t)) {
    const kv = new Map(t.external_data.map((e) => [e.key ?? '', e.value ?? '']));
    const location = kv.get('location') ?? '';
    const target = path.resolve(model.dir, location);
    const offset = Number(kv.get('offset') ?? 0);
    const fd = fs.openSync(target, 'r');
    try {
      const length = kv.has('length') ? Number(kv.get('length')) : fs.fstatSync(fd).size - offset;
      const out = Buffer.allocUnsafe(length);
      fs.readSync(fd, out, 0, length, offset);
      return out;
    } finally {
      fs.closeSync(fd);
    }
  }
  if (t.raw_data && t.raw_data.length > 0) return t.raw_data;
  return undefined;
}

/** Tensor values as float32 (for statistics and arithmetic). Throws for types that cannot be read as numbers. */
export function tensorToFloat32(model: OnnxModel, t: TensorProto): Float32Array {
  const n = tensorElementCount(t);
  const dt = t.data_type ?? 0;
  const raw = tensorRawBytes(model, t);
  const out = new Float32Array(n);
  if (raw) {
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
      const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      for (let i = 0; i < n; i++) out[i] = Number(dv.getBigInt64(i * 8, true));
    } else for (let i = 0; i < n; i++) out[i] = toNumber(t.int64_data[i]);
    return out;
  }
  out.set(tensorToFloat32(model, t));
  return out;
}

function copyInto(out: Float32Array, src: ArrayLike<number>): void {
  const n = Math.min(out.length, src.length);
  for (let i = 0; i < n; i++) out[i] = src[i];
}

const HALF_TABLE = (() => {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const f = h & 0x3ff;
    if (e === 0) table[h] = s * f * 2 ** -24;
    else if (e === 31) table[h] = f ? NaN : s * Infinity;
    else table[h] = s * (1 + f / 1024) * 2 ** (e - 15);
  }
  return table;
})();

export function halfToFloat(h: number): number {
  return HALF_TABLE[h & 0xffff];
}

const BF16_SCRATCH = new DataView(new ArrayBuffer(4));
export function bf16ToFloat(b: number): number {
  BF16_SCRATCH.setUint32(0, (b & 0xffff) << 16);
  return BF16_SCRATCH.getFloat32(0);
}
