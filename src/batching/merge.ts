/**
 * Merge requests into one batch and split the outputs back. Merging copies each request's bytes
 * once into a fresh buffer per input (`TypedArray.set` of the same type is a memcpy, never a
 * per-element loop); that buffer is then transferred to the worker, not cloned. Splitting makes
 * views into the output buffers, copying nothing.
 */
import { VolleyError } from '../errors.js';
import { isPooled, takeBuffer } from '../runtimes/buffer-pool.js';
import { DATATYPES, elementCount, ownsBuffer } from '../runtimes/tensor.js';
import type { Tensor, WireTensor } from '../runtimes/tensor.js';
import type { InferenceRequest } from './inference-request.js';

export function mergeInputs(batch: readonly InferenceRequest[]): WireTensor[] {
  if (batch.length === 1) return batch[0].inputs.map(transferable);
  const first = batch[0];
  let rows = 0;
  for (const req of batch) rows += req.rows;
  return first.inputs.map((input, i) => {
    const rowElems = elementCount(input.shape) / first.rows;
    const info = DATATYPES[input.datatype];
    const data = new info.array(takeBuffer(rows * rowElems * info.bytes), 0, rows * rowElems);
    let offset = 0;
    for (const req of batch) {
      const part = req.inputs[i].data;
      (data as Uint8Array).set(part as Uint8Array, offset);
      offset += part.length;
    }
    return { name: input.name, datatype: input.datatype, shape: [rows, ...input.shape.slice(1)], buffer: data.buffer as ArrayBuffer, byteOffset: 0, length: data.length };
  });
}

/**
 * A tensor whose buffer can go in a transfer list: its own buffer (or a pooled one it starts), or a
 * copy of just its bytes into a pooled buffer. The worker hands pooled buffers back with its reply.
 */
function transferable(t: Tensor): WireTensor {
  let data = t.data;
  if (!ownsBuffer(data) && !(data.byteOffset === 0 && isPooled(data.buffer))) {
    const info = DATATYPES[t.datatype];
    const copy = new info.array(takeBuffer(data.byteLength), 0, data.length);
    copy.set(data as never);
    data = copy;
  }
  return { name: t.name, datatype: t.datatype, shape: t.shape, buffer: data.buffer as ArrayBuffer, byteOffset: 0, length: data.length };
}

/**
 * Per-request outputs. With `batched`, every output's first dimension must equal the batch's
 * rows; a model that breaks that fails the whole batch rather than hand out misaligned rows.
 */
export function splitOutputs(outputs: readonly WireTensor[], batch: readonly InferenceRequest[], batched: boolean): Tensor[][] {
  if (!batched || batch.length === 1) {
    if (batched) assertRows(outputs, batch[0].rows);
    return [outputs.map(toTensor)];
  }
  let rows = 0;
  for (const req of batch) rows += req.rows;
  assertRows(outputs, rows);
  const result: Tensor[][] = batch.map(() => []);
  for (const out of outputs) {
    const info = DATATYPES[out.datatype];
    const rowElems = rows === 0 ? 0 : out.length / rows;
    const tail = out.shape.slice(1);
    let row = 0;
    for (let r = 0; r < batch.length; r++) {
      const n = batch[r].rows;
      const data = new info.array(out.buffer, out.byteOffset + row * rowElems * info.bytes, n * rowElems);
      result[r].push({ name: out.name, datatype: out.datatype, shape: [n, ...tail], data });
      row += n;
    }
  }
  return result;
}

function assertRows(outputs: readonly WireTensor[], rows: number): void {
  for (const out of outputs) {
    if (out.shape[0] !== rows || out.length !== elementCount(out.shape)) {
      throw new VolleyError('ERR_RUNTIME', `output '${out.name}' has shape [${out.shape}] but the batch had ${rows} rows`);
    }
  }
}

function toTensor(w: WireTensor): Tensor {
  return { name: w.name, datatype: w.datatype, shape: w.shape, data: new DATATYPES[w.datatype].array(w.buffer, w.byteOffset, w.length) };
}
