// protobufjs types for the ONNX schema, built once from the generated JSON descriptor.
import protobuf from 'protobufjs/light.js';
import Long from 'long';
import { onnxSchema } from './schema.generated.ts';

// int64 fields decode as Long: INT64_MAX (common in Slice ends) survives a round trip.
protobuf.util.Long = Long;
protobuf.configure();

const root = protobuf.Root.fromJSON(onnxSchema as unknown as protobuf.INamespace);

export const ModelProtoType = root.lookupType('onnx.ModelProto');
export const GraphProtoType = root.lookupType('onnx.GraphProto');
export const TensorProtoType = root.lookupType('onnx.TensorProto');
export const NodeProtoType = root.lookupType('onnx.NodeProto');
export const AttributeProtoType = root.lookupType('onnx.AttributeProto');
export const onnxRoot = root;

export type Int64 = Long | number;

/** ONNX TensorProto.DataType values. */
export const DataType = {
  UNDEFINED: 0, FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9,
  FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13, COMPLEX64: 14, COMPLEX128: 15, BFLOAT16: 16,
  FLOAT8E4M3FN: 17, FLOAT8E4M3FNUZ: 18, FLOAT8E5M2: 19, FLOAT8E5M2FNUZ: 20, UINT4: 21, INT4: 22,
  FLOAT4E2M1: 23, FLOAT8E8M0: 24,
} as const;

export const AttributeType = {
  UNDEFINED: 0, FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8,
  TENSORS: 9, GRAPHS: 10, SPARSE_TENSOR: 11, SPARSE_TENSORS: 12, TYPE_PROTO: 13, TYPE_PROTOS: 14,
} as const;

export function toNumber(v: Int64 | null | undefined): number {
  if (v === null || v === undefined) return 0;
  return typeof v === 'number' ? v : v.toNumber();
}

// ---- Plain TypeScript views of the decoded messages (field names as in onnx.proto) ----

export interface StringStringEntry { key?: string; value?: string }

export interface TensorProto {
  dims: Int64[];
  data_type?: number;
  float_data: number[];
  int32_data: number[];
  string_data: Uint8Array[];
  int64_data: Int64[];
  name?: string;
  raw_data?: Uint8Array;
  double_data: number[];
  uint64_data: Int64[];
  doc_string?: string;
  external_data: StringStringEntry[];
  data_location?: number;
  metadata_props: StringStringEntry[];
}

export interface AttributeProto {
  name?: string;
  f?: number;
  i?: Int64;
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  floats: number[];
  ints: Int64[];
  strings: Uint8Array[];
  tensors: TensorProto[];
  graphs: GraphProto[];
  type?: number;
  ref_attr_name?: string;
}

export interface NodeProto {
  input: string[];
  output: string[];
  name?: string;
  op_type?: string;
  attribute: AttributeProto[];
  doc_string?: string;
  domain?: string;
}

export interface TensorShapeDim { dim_value?: Int64; dim_param?: string; denotation?: string }
export interface TypeProto {
  tensor_type?: { elem_type?: number; shape?: { dim: TensorShapeDim[] } };
  denotation?: string;
}
export interface ValueInfoProto { name?: string; type?: TypeProto; doc_string?: string }
export interface OperatorSetId { domain?: string; version?: Int64 }

export interface GraphProto {
  node: NodeProto[];
  name?: string;
  initializer: TensorProto[];
  doc_string?: string;
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  value_info: ValueInfoProto[];
  sparse_initializer: unknown[];
}

export interface ModelProto {
  ir_version?: Int64;
  producer_name?: string;
  producer_version?: string;
  domain?: string;
  model_version?: Int64;
  doc_string?: string;
  graph?: GraphProto;
  opset_import: OperatorSetId[];
  metadata_props: StringStringEntry[];
  functions: unknown[];
}

/**
 * A value carried by tensor objects beside their fields (a symbol-keyed property: never encoded, and
 * kept by object spread): `set` attaches it, `get` reads it (undefined when absent).
 */
export function tensorMark<T>(description: string): { set(t: TensorProto, value: T): void; get(t: TensorProto): T | undefined } {
  const key = Symbol(description);
  type Marked = TensorProto & { [key]?: T };
  return {
    set: (t, value) => {
      (t as Marked)[key] = value;
    },
    get: (t) => (t as Marked)[key],
  };
}
