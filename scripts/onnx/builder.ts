// Minimal ONNX model writer, so example and test models can be generated
// from TypeScript without a Python/onnx toolchain.
//
// Only the subset of onnx.proto that simple inference graphs need is embedded
// below. Field numbers are copied verbatim from the official schema
// (github.com/onnx/onnx/blob/main/onnx/onnx.proto): the wire format only
// carries numbers, so they are what must match; names are ours to choose.
import protobuf from 'protobufjs';

const ONNX_SUBSET_PROTO = `
syntax = "proto2";
package onnx;

message AttributeProto {
  enum AttributeType {
    UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5;
    FLOATS = 6; INTS = 7; STRINGS = 8; TENSORS = 9; GRAPHS = 10;
  }
  optional string name = 1;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  optional TensorProto t = 5;
  repeated float floats = 7;
  repeated int64 ints = 8;
  optional AttributeType type = 20;
}

message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  repeated AttributeProto attribute = 5;
  optional string domain = 7;
}

message ModelProto {
  optional int64 ir_version = 1;
  optional string producer_name = 2;
  optional GraphProto graph = 7;
  repeated OperatorSetIdProto opset_import = 8;
}

message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
}

message TensorProto {
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  repeated float float_data = 4 [packed = true];
  repeated int32 int32_data = 5 [packed = true];
  repeated int64 int64_data = 7 [packed = true];
  optional string name = 8;
  optional bytes raw_data = 9;
  repeated double double_data = 10 [packed = true];
  repeated uint64 uint64_data = 11 [packed = true];
}

message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
  }
}

message OperatorSetIdProto {
  optional string domain = 1;
  optional int64 version = 2;
}
`;

// keepCase so the JS objects below use the same snake_case names as onnx.proto.
const root = protobuf.parse(ONNX_SUBSET_PROTO, { keepCase: true }).root;
const ModelProto = root.lookupType('onnx.ModelProto');

/** TensorProto.DataType values (official numbering). */
export enum DataType {
  FLOAT = 1,
  UINT8 = 2,
  INT8 = 3,
  UINT16 = 4,
  INT16 = 5,
  INT32 = 6,
  INT64 = 7,
  STRING = 8,
  BOOL = 9,
  FLOAT16 = 10,
  DOUBLE = 11,
  UINT32 = 12,
  UINT64 = 13,
}

// AttributeProto.AttributeType values used by node().
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_FLOATS = 6;
const ATTR_INTS = 7;

/** A dimension is either a fixed size or a symbolic name (e.g. "batch"). */
export type Dim = number | string;

export interface ValueInfo {
  name: string;
  type: { tensor_type: { elem_type: number; shape: { dim: object[] } } };
}

export interface Tensor {
  name: string;
  dims: number[];
  data_type: number;
  raw_data: Uint8Array;
}

export interface Node {
  op_type: string;
  input: string[];
  output: string[];
  name: string;
  attribute: object[];
}

/**
 * Attribute values. Integer attributes must be JS integers and float attributes
 * must be written as non-integers or wrapped with `float()`: ONNX distinguishes
 * INT from FLOAT, and a plain number like `1` can't tell us which one was meant.
 */
export type AttrValue = number | number[] | FloatAttr | FloatsAttr;
export interface FloatAttr { kind: 'float'; value: number }
export interface FloatsAttr { kind: 'floats'; value: number[] }
export const float = (value: number): FloatAttr => ({ kind: 'float', value });
export const floats = (value: number[]): FloatsAttr => ({ kind: 'floats', value });

/** A graph input/output: a tensor with a (possibly partly symbolic) shape. */
export function tensorInput(name: string, elemType: DataType, dims: Dim[]): ValueInfo {
  const dim = dims.map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d }));
  return { name, type: { tensor_type: { elem_type: elemType, shape: { dim } } } };
}

/** Graph outputs are described exactly like inputs. */
export const tensorOutput = tensorInput;

/**
 * A constant tensor. Values are always serialised as little-endian raw_data:
 * one code path for every type, and it is what exporters normally emit.
 * BOOL takes booleans or 0/1; INT64/UINT64 take bigint or safe-integer numbers;
 * FLOAT16 takes raw IEEE-754 half bit patterns (e.g. 0x3c00 for 1.0), because
 * no model here needs FP16 constants and a correct float->half rounding
 * routine would be dead code.
 */
export function initializer(
  name: string,
  elemType: DataType,
  dims: number[],
  values: ArrayLike<number | bigint | boolean>,
): Tensor {
  const count = dims.reduce((a, b) => a * b, 1);
  if (values.length !== count) {
    throw new Error(`initializer ${name}: ${values.length} values for shape [${dims}]`);
  }
  return { name, dims, data_type: elemType, raw_data: toRawBytes(elemType, Array.from(values)) };
}

function toRawBytes(type: DataType, values: (number | bigint | boolean)[]): Uint8Array {
  const num = (v: number | bigint | boolean) => Number(v);
  const big = (v: number | bigint | boolean) => (typeof v === 'bigint' ? v : BigInt(Number(v)));
  let arr: ArrayBufferView;
  switch (type) {
    case DataType.FLOAT: arr = Float32Array.from(values, num); break;
    case DataType.DOUBLE: arr = Float64Array.from(values, num); break;
    case DataType.INT8: arr = Int8Array.from(values, num); break;
    case DataType.UINT8: arr = Uint8Array.from(values, num); break;
    case DataType.BOOL: arr = Uint8Array.from(values, (v) => (num(v) ? 1 : 0)); break;
    case DataType.INT16: arr = Int16Array.from(values, num); break;
    case DataType.UINT16: case DataType.FLOAT16: arr = Uint16Array.from(values, num); break;
    case DataType.INT32: arr = Int32Array.from(values, num); break;
    case DataType.UINT32: arr = Uint32Array.from(values, num); break;
    case DataType.INT64: arr = BigInt64Array.from(values, big); break;
    case DataType.UINT64: arr = BigUint64Array.from(values, big); break;
    default: throw new Error(`initializer: unsupported data type ${DataType[type] ?? type}`);
  }
  // Typed arrays use host byte order; ONNX raw_data is little-endian.
  if (!IS_LITTLE_ENDIAN) throw new Error('big-endian hosts are not supported');
  // Copy so the bytes don't alias a larger buffer.
  return new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength).slice();
}

const IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** An operator node in the default (ai.onnx) domain. */
export function node(
  opType: string,
  inputs: string[],
  outputs: string[],
  attrs: Record<string, AttrValue> = {},
  name?: string,
): Node {
  const attribute = Object.entries(attrs).map(([attrName, v]) => encodeAttr(attrName, v));
  // Unnamed nodes get a positional name in encodeModel(), so names stay
  // deterministic without any module-level counter.
  return { op_type: opType, input: inputs, output: outputs, name: name ?? '', attribute };
}

function encodeAttr(name: string, v: AttrValue): object {
  if (Array.isArray(v)) {
    if (!v.every(Number.isInteger)) throw new Error(`attribute ${name}: use floats() for float lists`);
    return { name, type: ATTR_INTS, ints: v };
  }
  if (typeof v === 'number') {
    return Number.isInteger(v) ? { name, type: ATTR_INT, i: v } : { name, type: ATTR_FLOAT, f: v };
  }
  return v.kind === 'float' ? { name, type: ATTR_FLOAT, f: v.value } : { name, type: ATTR_FLOATS, floats: v.value };
}

export interface ModelSpec {
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  nodes: Node[];
  initializers?: Tensor[];
  name?: string;
  /** ai.onnx opset; 17 is supported by every recent runtime. */
  opset?: number;
  /** IR version 8 pairs with opset 17 (onnx 1.12+). */
  irVersion?: number;
}

/** Serialise a single-graph model to ModelProto bytes. */
export function encodeModel(spec: ModelSpec): Uint8Array {
  const msg = ModelProto.fromObject({
    ir_version: spec.irVersion ?? 8,
    producer_name: 'volley-make-models',
    opset_import: [{ domain: '', version: spec.opset ?? 17 }],
    graph: {
      name: spec.name ?? 'graph',
      // Names are optional in ONNX but make ORT error messages much easier to read.
      node: spec.nodes.map((n, i) => ({ ...n, name: n.name || `${n.op_type}_${i}` })),
      initializer: spec.initializers ?? [],
      input: spec.inputs,
      output: spec.outputs,
    },
  });
  return ModelProto.encode(msg).finish();
}
