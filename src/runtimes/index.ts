export type { BatchExecutor, ModelSignature, Runtime, RuntimeKind, RuntimeOptions } from './runtime.js';
export { DATATYPES, datatypeFromOrt, datatypeFromTriton, elementCount, isDatatype } from './tensor.js';
export type { Datatype, Tensor, TensorSpec, TypedArray, WireTensor } from './tensor.js';
export { SessionExecutor, WorkerThreads } from './worker-threads.js';
