/**
 * Merge requests into one batch and split the outputs back. Merging copies each request's bytes
 * once into a fresh buffer per input (`TypedArray.set` of the same type is a memcpy, never a
 * per-element loop); that buffer is then transferred to the worker, not cloned. Splitting makes
 * views into the output buffers, copying nothing.
 *
 * A batch that runs on the event loop (run_on_event_loop) is not transferred: its buffers go back
 * to the pool after the run (recycleMerged), and it never has parts.
 *
 * With `inWorker` (the batcher sets it for padded batches, whose sizes are few), large requests
 * (every one's input at least PART_MIN_BYTES, each in a buffer of its own) are not copied here:
 * their buffers travel to the worker as `parts`, and the worker thread assembles the batch into a
 * buffer it keeps per size (worker.ts), so the event loop does not spend its time on the copy.
 * Unpadded batches come in any size, and a fresh multi-MB buffer per batch in the worker cost more
 * than the copy saved: on 2 cores, the 602 KB wire scenario fell from 2,134–2,497 to 1,309–1,654
 * req/s with parts for every batch.
 *
 * Padding (policy.ts `allowedBatchSizes`): a batch of `rows` may go to the runtime as `padTo`
 * rows, the extra rows zeros, written into the same merge buffer; the split hands out the real
 * rows and drops the rest.
 */
import { VolleyError } from '../errors.js';
import { giveBuffer, isPooled, takeBuffer } from '../runtimes/buffer-pool.js';
import { DATATYPES, elementCount, ownsBuffer, wireBuffers } from '../runtimes/tensor.js';
import type { Tensor, WirePart, WireTensor } from '../runtimes/tensor.js';
import type { InferenceRequest } from './inference-request.js';

export function mergeInputs(batch: readonly InferenceRequest[], padTo = 0, inWorker = false): WireTensor[] {
  const first = batch[0];
  let rows = 0;
  for (const req of batch) rows += req.rows;
  if (batch.length === 1 && padTo <= rows) return first.inputs.map(transferable);
  const total = Math.max(rows, padTo);
  return first.inputs.map((input, i) => {
    const tail = input.shape.slice(1);
    const rowElems = elementCount(tail);
    const info = DATATYPES[input.datatype];
    const shape = [total, ...tail];
    // A lone padded request too: the worker then makes the padding, not the event loop.
    const parts = inWorker ? wholeParts(batch, i) : null;
    if (parts !== null) return { name: input.name, datatype: input.datatype, shape, buffer: new ArrayBuffer(0), byteOffset: 0, length: total * rowElems, parts };
    const data = new info.array(takeBuffer(total * rowElems * info.bytes), 0, total * rowElems);
    let offset = 0;
    for (const req of batch) {
      const part = req.inputs[i].data;
      (data as Uint8Array).set(part as Uint8Array, offset);
      offset += part.length;
    }
    // Pooled buffers come back used: the padding rows must be zeros, not an earlier batch's data.
    // (Byte-wise: a BigInt64Array will not fill with the number 0.)
    if (offset < data.length) new Uint8Array(data.buffer, offset * info.bytes, (data.length - offset) * info.bytes).fill(0);
    return { name: input.name, datatype: input.datatype, shape, buffer: data.buffer as ArrayBuffer, byteOffset: 0, length: data.length };
  });
}

/**
 * After a batch ran on the event loop's thread (inline-executor.ts), gives back to the pool the
 * buffers `mergeInputs` took for it: not a request's own (its handler gives that back once it has
 * answered; given here too, it would be in the pool twice, and a later batch and a new body would
 * share it), not one an output uses. On a worker thread the worker hands the buffers back instead.
 */
export function recycleMerged(merged: readonly WireTensor[], batch: readonly InferenceRequest[], outputs: readonly WireTensor[]): void {
  for (const buffer of wireBuffers(merged)) {
    if (outputs.some((o) => o.buffer === buffer) || batch.some((req) => req.inputs.some((t) => t.data.buffer === buffer))) continue;
    giveBuffer(buffer);
  }
}

/** Requests below this many bytes of an input are copied into the batch here: for them a transfer costs more than the copy. */
export const PART_MIN_BYTES = 64 * 1024;

/**
 * Input `i` of every request as a part the worker can take whole, or null (then merged here): each
 * at least PART_MIN_BYTES, each alone in its buffer (the whole buffer, or a pooled one it starts,
 * as `transferable` below), no buffer twice.
 */
function wholeParts(batch: readonly InferenceRequest[], i: number): WirePart[] | null {
  const parts: WirePart[] = [];
  for (const req of batch) {
    const data = req.inputs[i].data;
    if (data.byteLength < PART_MIN_BYTES || !(ownsBuffer(data) || (data.byteOffset === 0 && isPooled(data.buffer)))) return null;
    const buffer = data.buffer as ArrayBuffer;
    if (parts.some((p) => p.buffer === buffer)) return null;
    parts.push({ buffer, byteOffset: 0, byteLength: data.byteLength });
  }
  return parts;
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
 * Per-request outputs. With `batched`, every output's first dimension must equal the rows the
 * runtime got (the batch's, or `padTo` when it was padded); a model that breaks that fails the
 * whole batch rather than hand out misaligned rows. Padding rows are dropped.
 */
export function splitOutputs(outputs: readonly WireTensor[], batch: readonly InferenceRequest[], batched: boolean, padTo = 0): Tensor[][] {
  let rows = 0;
  for (const req of batch) rows += req.rows;
  const ran = Math.max(rows, padTo);
  if (!batched || (batch.length === 1 && ran === rows)) {
    if (batched) assertRows(outputs, rows);
    return [outputs.map(toTensor)];
  }
  assertRows(outputs, ran);
  // Answers are views into the batch's output. When padding is most of it (a lone request padded
  // to max_batch_size: up to 64×), each answer gets its own copy instead, so an answer that is
  // held (a shadow comparison, a slow client) does not keep the padding's memory alive.
  const copy = ran > 2 * rows;
  const result: Tensor[][] = batch.map(() => []);
  for (const out of outputs) {
    const info = DATATYPES[out.datatype];
    const rowElems = ran === 0 ? 0 : out.length / ran;
    const tail = out.shape.slice(1);
    let row = 0;
    for (let r = 0; r < batch.length; r++) {
      const n = batch[r].rows;
      const view = new info.array(out.buffer, out.byteOffset + row * rowElems * info.bytes, n * rowElems);
      const data = copy ? view.slice() : view;
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
