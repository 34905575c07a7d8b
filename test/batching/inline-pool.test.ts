/**
 * Batches run on the event loop (inline-executor.ts) keep their input buffers live, so the batcher
 * gives back to the pool only what the merge took: a lone request's own buffer is its handler's to
 * give back (v2-handlers.ts, stream.ts, grpc-server.ts). Given back by both, it was in the pool
 * twice: a later batch's merge and a new request body shared it, and answers carried another
 * request's values (found by review; 227 wrong answers of 6,174 over HTTP before the fix).
 */
import { expect, it } from 'vitest';
import { DynamicBatcher } from '../../src/batching/batcher.js';
import { InferenceRequest } from '../../src/batching/inference-request.js';
import { giveBuffer, idlePoolBytes, takeBuffer } from '../../src/runtimes/buffer-pool.js';
import type { BatchExecutor } from '../../src/runtimes/runtime.js';
import type { WireTensor } from '../../src/runtimes/tensor.js';

const W = 20_000; // 80 KB a row: 1 row takes a 128 KB pooled buffer, 2 rows a 256 KB one

/** Adds 0.5 on the calling thread, after a turn of the loop as onnxruntime-node's run does (setImmediate). */
const executor: BatchExecutor = {
  concurrency: 1,
  onEventLoop: true,
  info: { signature: { inputs: [], outputs: [] }, provider: 'fake', fallbacks: [] },
  async execute(inputs: WireTensor[]): Promise<WireTensor[]> {
    await new Promise((resolve) => setImmediate(resolve));
    const x = new Float32Array(inputs[0].buffer, inputs[0].byteOffset, inputs[0].length);
    const y = x.map((v) => v + 0.5);
    return [{ name: 'y', datatype: 'FP32', shape: inputs[0].shape, buffer: y.buffer, byteOffset: 0, length: y.length }];
  },
  async close() {},
};

const clock = { now: () => performance.now(), setTimer: (fn: () => void, ms: number) => setTimeout(fn, ms), clearTimer: (h: unknown) => clearTimeout(h as NodeJS.Timeout) };
const policy = { maxBatchSize: 8, preferredBatchSizes: [], maxQueueDelayMs: 0, maxQueueSize: 100 };

/** A request whose input sits in a pooled buffer, as a Triton binary body's tail or a msgpack copy does. */
function request(value: number, rows: number): InferenceRequest {
  const data = new Float32Array(takeBuffer(rows * W * 4), 0, rows * W).fill(value);
  return new InferenceRequest([{ name: 'x', datatype: 'FP32', shape: [rows, W], data }], rows);
}

it("a lone request's buffer is not given back by the batch as well as by its handler", async () => {
  const batcher = new DynamicBatcher(policy, executor, clock);
  const lone = request(1, 2); // runs alone, on its own 256 KB buffer
  const answers = [batcher.submit(lone), batcher.submit(request(2, 1)), batcher.submit(request(3, 1))]; // the two wait, then share a 256 KB merge
  // The handler: answer, give the request's buffer back, and the next body is read into a pooled buffer before the merged batch runs.
  const handled = answers[0].then(() => {
    for (const t of lone.inputs) giveBuffer(t.data.buffer);
    new Float32Array(takeBuffer(2 * W * 4), 0, 2 * W).fill(99);
  });
  const [, two, three] = await Promise.all([...answers, handled]);
  expect((two[0].data as Float32Array)[0]).toBe(2.5);
  expect((three[0].data as Float32Array)[0]).toBe(3.5);
  await batcher.close();
});

it('the buffer a merge took goes back to the pool once its batch has run', async () => {
  const batcher = new DynamicBatcher(policy, executor, clock);
  const first = batcher.submit(request(1, 1));
  const merged = [batcher.submit(request(2, 1)), batcher.submit(request(3, 1))];
  await first;
  const idle = idlePoolBytes();
  await Promise.all(merged);
  // The two requests' own 128 KB buffers are their handlers' to give back; the 256 KB merge is back.
  expect(idlePoolBytes() - idle).toBe(256 * 1024);
  await batcher.close();
});
