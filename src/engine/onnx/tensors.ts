// Small tensors built in code (a new bias, a Reshape target, gather indices): TensorProtos with raw
// little-endian data, whatever the host, as ONNX stores it.
import Long from 'long';
import { floatToBf16, floatToHalf, LITTLE_ENDIAN } from './model.ts';
import { DataType, type TensorProto } from './proto.ts';

/** A tensor with t's name, type and metadata, the given dims and no data (data stored inline from now on). */
export function tensorShell(t: TensorProto, dims: number[]): TensorProto {
  return {
    name: t.name,
    data_type: t.data_type,
    dims: dims.map((d) => Long.fromNumber(d)),
    float_data: [], int32_data: [], string_data: [], int64_data: [], double_data: [], uint64_data: [],
    external_data: [],
    metadata_props: t.metadata_props ?? [],
    ...(t.doc_string ? { doc_string: t.doc_string } : {}),
  };
}

/** A tensor of `values` in FLOAT, DOUBLE, FLOAT16 or BFLOAT16 (raw little-endian data). */
export function floatTensor(name: string, dims: number[], values: ArrayLike<number>, dataType: number = DataType.FLOAT): TensorProto {
  const t = tensorShell({ name, data_type: dataType, metadata_props: [] } as unknown as TensorProto, dims);
  if (dataType === DataType.FLOAT16 || dataType === DataType.BFLOAT16) {
    const b = Buffer.allocUnsafe(values.length * 2);
    const enc = dataType === DataType.FLOAT16 ? floatToHalf : floatToBf16;
    for (let i = 0; i < values.length; i++) b.writeUInt16LE(enc(values[i]), i * 2);
    t.raw_data = b;
  } else if (dataType === DataType.DOUBLE) {
    const b = Buffer.allocUnsafe(values.length * 8);
    for (let i = 0; i < values.length; i++) b.writeDoubleLE(values[i], i * 8);
    t.raw_data = b;
  } else if (LITTLE_ENDIAN) {
    // one native conversion (each value rounded to float32 as writeFloatLE rounds it)
    const f = new Float32Array(values);
    t.raw_data = Buffer.from(f.buffer, f.byteOffset, f.byteLength);
  } else {
    const b = Buffer.allocUnsafe(values.length * 4);
    for (let i = 0; i < values.length; i++) b.writeFloatLE(values[i], i * 4);
    t.raw_data = b;
  }
  return t;
}

/** A tensor of integer `values` in INT32 or INT64 (raw little-endian data). */
export function intTensor(name: string, dims: number[], values: number[], dataType: number): TensorProto {
  const t = tensorShell({ name, data_type: dataType, metadata_props: [] } as unknown as TensorProto, dims);
  if (dataType === DataType.INT32) {
    const b = Buffer.allocUnsafe(values.length * 4);
    values.forEach((v, i) => b.writeInt32LE(v, i * 4));
    t.raw_data = b;
  } else {
    const b = Buffer.allocUnsafe(values.length * 8);
    values.forEach((v, i) => b.writeBigInt64LE(BigInt(v), i * 8));
    t.raw_data = b;
  }
  return t;
}
