/** How the batcher forms batches: merging under load, size limits, preferred sizes, delay, shapes, concurrency. */
import { describe, expect, it } from 'vitest';
import { DynamicBatcher } from '../../src/batching/batcher.js';
import { InferenceRequest } from '../../src/batching/inference-request.js';
import { FakeClock, FakeExecutor, echo, elements, flush, floatTensor, policy, request, setup, track, values } from './fakes.js';

describe('DynamicBatcher: forming batches', () => {
  it('merges requests that arrive while the worker is busy into one batch, in arrival order', async () => {
    const { executor, batcher } = setup();
    const a = track(batcher.submit(request(1, 0)));
    expect(executor.calls).toHaveLength(1); // an idle worker takes the first request at once
    const b = track(batcher.submit(request(2, 10)));
    const c = track(batcher.submit(request(1, 20)));
    expect(executor.calls).toHaveLength(1);
    expect(batcher.queued()).toBe(2);

    echo(executor.calls[0]);
    await flush();
    expect(a.status).toBe('fulfilled');
    expect(executor.calls).toHaveLength(2);
    const merged = executor.calls[1].inputs;
    expect(merged).toHaveLength(1);
    expect(merged[0].shape).toEqual([3, 2]);
    expect(values(merged[0])).toEqual([10, 11, 12, 13, 20, 21]);
    expect(batcher.queued()).toBe(0);

    echo(executor.calls[1]);
    await flush();
    expect(b.status).toBe('fulfilled');
    expect(c.status).toBe('fulfilled');
    expect(b.value?.[0].shape).toEqual([2, 2]);
    expect(elements(b.value?.[0])).toEqual([110, 111, 112, 113]);
    expect(c.value?.[0].shape).toEqual([1, 2]);
    expect(elements(c.value?.[0])).toEqual([120, 121]);
    expect(a.value?.[0].shape).toEqual([1, 2]);
    expect(elements(a.value?.[0])).toEqual([100, 101]);
  });

  it('counts rows, never puts more than maxBatchSize rows in a batch, and stops before one that would overflow', async () => {
    const { executor, batcher } = setup({ maxBatchSize: 4 });
    track(batcher.submit(request(1, 0, 1))); // keeps the worker busy while the rest queue
    const queued = [request(3, 10, 1), request(2, 20, 1), request(1, 30, 1), request(2, 40, 1)].map((r) => track(batcher.submit(r)));
    echo(executor.calls[0]);
    await flush();
    expect(executor.calls[1].inputs[0].shape).toEqual([3, 1]); // 3 + 2 > 4: the 2-row request waits
    expect(values(executor.calls[1].inputs[0])).toEqual([10, 11, 12]);
    echo(executor.calls[1]);
    await flush();
    expect(executor.calls[2].inputs[0].shape).toEqual([3, 1]); // 2 + 1 = 3; + 2 would be 5
    expect(values(executor.calls[2].inputs[0])).toEqual([20, 21, 30]);
    echo(executor.calls[2]);
    await flush();
    expect(executor.calls[3].inputs[0].shape).toEqual([2, 1]);
    echo(executor.calls[3]);
    await flush();
    expect(queued.map((t) => t.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
    expect(elements(queued[2].value?.[0])).toEqual([130]);
    expect(Math.max(...executor.calls.map((c) => c.inputs[0].shape[0]))).toBeLessThanOrEqual(4);
  });

  it('rejects a request with more rows than maxBatchSize at once with ERR_INVALID_INPUT', async () => {
    const { executor, batcher } = setup({ maxBatchSize: 4 });
    const t = track(batcher.submit(request(5, 0)));
    await flush();
    expect(t.status).toBe('rejected');
    expect(t.error?.code).toBe('ERR_INVALID_INPUT');
    expect(executor.calls).toHaveLength(0);
    expect(batcher.queued()).toBe(0);
  });

  it('holds a partial batch for maxQueueDelayMs, measured from the oldest request', async () => {
    const { clock, executor, batcher } = setup({ maxQueueDelayMs: 10 });
    const a = track(batcher.submit(request(1, 0)));
    expect(executor.calls).toHaveLength(0);
    clock.advance(6);
    const b = track(batcher.submit(request(1, 10)));
    clock.advance(3.9);
    expect(executor.calls).toHaveLength(0);
    clock.advance(0.1); // t = 10: the oldest has waited 10 ms
    expect(executor.calls).toHaveLength(1);
    expect(executor.calls[0].inputs[0].shape).toEqual([2, 2]);
    expect(values(executor.calls[0].inputs[0])).toEqual([0, 1, 10, 11]);
    echo(executor.calls[0]);
    await flush();
    expect([a.status, b.status]).toEqual(['fulfilled', 'fulfilled']);
    expect(clock.pending()).toBe(0);
  });

  it('dispatches as soon as a preferred batch size is reached, without waiting out the delay', () => {
    const { clock, executor, batcher } = setup({ maxQueueDelayMs: 100, preferredBatchSizes: [3, 6] });
    track(batcher.submit(request(1, 0)));
    track(batcher.submit(request(1, 10)));
    expect(executor.calls).toHaveLength(0);
    track(batcher.submit(request(1, 20)));
    expect(clock.now()).toBe(0);
    expect(executor.calls).toHaveLength(1);
    expect(executor.calls[0].inputs[0].shape).toEqual([3, 2]);
    expect(values(executor.calls[0].inputs[0])).toEqual([0, 1, 10, 11, 20, 21]);
  });

  it('sends a run that has reached a preferred size at once, cut at the largest one; the rest stays queued', async () => {
    const { clock, executor, batcher } = setup({ maxQueueDelayMs: 100, preferredBatchSizes: [2, 4] });
    track(batcher.submit(request(2, 0))); // a preferred size alone: runs at once, and keeps the worker busy
    const queued = [10, 20, 30, 40, 50].map((v) => track(batcher.submit(request(1, v))));
    expect(executor.calls).toHaveLength(1);
    echo(executor.calls[0]);
    await flush();
    // 5 rows wait: past 2, so they go without waiting out the delay, but only the 4 that fit the largest preferred size.
    expect(clock.now()).toBe(0);
    expect(executor.calls).toHaveLength(2);
    expect(executor.calls[1].inputs[0].shape).toEqual([4, 2]);
    expect(values(executor.calls[1].inputs[0])).toEqual([10, 11, 20, 21, 30, 31, 40, 41]);
    expect(batcher.queued()).toBe(1);
    echo(executor.calls[1]);
    await flush();
    // The fifth alone is no preferred size: it waits for company until its delay is out.
    expect(executor.calls).toHaveLength(2);
    clock.advance(100);
    expect(executor.calls).toHaveLength(3);
    expect(values(executor.calls[2].inputs[0])).toEqual([50, 51]);
    echo(executor.calls[2]);
    await flush();
    expect(queued.map((t) => t.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
  });

  it('sends rows between preferred sizes along, without waiting for the next size or the delay', async () => {
    const { executor, batcher } = setup({ maxQueueDelayMs: 100, preferredBatchSizes: [2, 4] });
    track(batcher.submit(request(2, 0)));
    [10, 20, 30].map((v) => track(batcher.submit(request(1, v))));
    echo(executor.calls[0]);
    await flush();
    expect(executor.calls).toHaveLength(2);
    expect(executor.calls[1].inputs[0].shape).toEqual([3, 2]); // Triton would send 2 and keep 1
    expect(batcher.queued()).toBe(0);
  });

  it('cuts multi-row requests at the largest preferred size they fit, even without hitting a size exactly', async () => {
    const { clock, executor, batcher } = setup({ maxQueueDelayMs: 100, preferredBatchSizes: [3, 5] });
    track(batcher.submit(request(3, 0)));
    const queued = [10, 20, 30].map((v) => track(batcher.submit(request(2, v)))); // 2, 4, then 6 > 5 with no hit on 3 or 5
    echo(executor.calls[0]);
    await flush();
    expect(executor.calls).toHaveLength(2);
    expect(executor.calls[1].inputs[0].shape).toEqual([4, 2]);
    expect(batcher.queued()).toBe(1);
    echo(executor.calls[1]);
    await flush();
    clock.advance(100); // the 2-row rest is no preferred size: it waits out the delay
    expect(executor.calls).toHaveLength(3);
    expect(values(executor.calls[2].inputs[0])).toEqual([30, 31, 32, 33]);
    echo(executor.calls[2]);
    await flush();
    expect(queued.map((t) => t.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    expect(clock.pending()).toBe(0);
  });

  it('cuts a full run at the largest preferred size while the delay is not out', async () => {
    const { executor, batcher } = setup({ maxBatchSize: 8, maxQueueDelayMs: 100, preferredBatchSizes: [2, 4] });
    track(batcher.submit(request(2, 0)));
    Array.from({ length: 9 }, (_, i) => track(batcher.submit(request(1, 10 * (i + 1)))));
    echo(executor.calls[0]);
    await flush();
    expect(executor.calls[1].inputs[0].shape).toEqual([4, 2]); // 8 rows gathered ('full'), 4 sent
    echo(executor.calls[1]);
    await flush();
    expect(executor.calls[2].inputs[0].shape).toEqual([4, 2]);
    expect(batcher.queued()).toBe(1);
  });

  it('sends the whole run, uncut, once the oldest request has waited the delay', async () => {
    const { clock, executor, batcher } = setup({ maxBatchSize: 8, maxQueueDelayMs: 100, preferredBatchSizes: [2, 4] });
    track(batcher.submit(request(2, 0))); // keeps the worker busy past the others' delay
    Array.from({ length: 7 }, (_, i) => track(batcher.submit(request(1, 10 * (i + 1)))));
    clock.advance(150);
    echo(executor.calls[0]);
    await flush();
    expect(executor.calls[1].inputs[0].shape).toEqual([7, 2]);
    expect(batcher.queued()).toBe(0);
  });

  it('lets a dead request inside a preferred run ride along and rejects it; the live rows make the size', async () => {
    const { clock, executor, batcher } = setup({ maxQueueDelayMs: 100, preferredBatchSizes: [2, 4] });
    track(batcher.submit(request(2, 0)));
    const first = track(batcher.submit(request(1, 10)));
    const dead = track(batcher.submit(request(1, 20, 2, 5))); // its deadline passes while it waits
    const rest = [30, 40, 50].map((v) => track(batcher.submit(request(1, v))));
    clock.advance(10);
    echo(executor.calls[0]);
    await flush();
    expect(executor.calls[1].inputs[0].shape).toEqual([4, 2]);
    expect(values(executor.calls[1].inputs[0])).toEqual([10, 11, 30, 31, 40, 41, 50, 51]);
    expect(dead.status).toBe('rejected');
    expect(dead.error?.code).toBe('ERR_DEADLINE_EXCEEDED');
    echo(executor.calls[1]);
    await flush();
    expect([first, ...rest].map((t) => t.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
  });

  it('dispatches at once when a batch reaches maxBatchSize, even with a long delay', () => {
    const { executor, batcher } = setup({ maxBatchSize: 4, maxQueueDelayMs: 1000 });
    track(batcher.submit(request(3, 0)));
    expect(executor.calls).toHaveLength(0);
    track(batcher.submit(request(1, 10)));
    expect(executor.calls).toHaveLength(1);
    expect(executor.calls[0].inputs[0].shape).toEqual([4, 2]);
  });

  it('never merges requests whose non-batch dimensions differ, and keeps FIFO order', async () => {
    const { executor, batcher } = setup();
    track(batcher.submit(request(1, 0, 2)));
    const b = track(batcher.submit(request(1, 10, 2)));
    const c = track(batcher.submit(request(1, 20, 3)));
    const d = track(batcher.submit(request(1, 30, 2)));
    for (let i = 0; i < 4; i++) {
      echo(executor.calls[i]);
      await flush();
    }
    expect(executor.calls.map((call) => call.inputs[0].shape)).toEqual([[1, 2], [1, 2], [1, 3], [1, 2]]);
    expect(values(executor.calls[2].inputs[0])).toEqual([20, 21, 22]);
    expect([b.status, c.status, d.status]).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    expect(c.value?.[0].shape).toEqual([1, 3]);
  });

  it('with maxBatchSize 0 runs each request alone, untouched, and returns outputs of any shape', async () => {
    const { executor, batcher } = setup({ maxBatchSize: 0, maxQueueDelayMs: 50 });
    track(batcher.submit(request(1, 0)));
    // [3, 2] is the whole tensor: the model has no batch dimension, so the request counts as 1 row.
    const reqB = new InferenceRequest([floatTensor(3, 2, 10)], 1);
    const b = track(batcher.submit(reqB));
    track(batcher.submit(request(1, 20)));
    echo(executor.calls[0]);
    await flush();
    expect(executor.calls).toHaveLength(2);
    const sent = executor.calls[1].inputs[0];
    expect(sent.shape).toEqual([3, 2]);
    expect(sent.buffer).toBe(reqB.inputs[0].data.buffer); // handed over as is, not copied
    expect(values(sent)).toEqual([10, 11, 12, 13, 14, 15]);
    const out = new Float32Array([7, 8, 9, 10, 11]);
    executor.calls[1].resolve([{ name: 'y', datatype: 'FP32', shape: [5], buffer: out.buffer, byteOffset: 0, length: 5 }]);
    await flush();
    expect(b.status).toBe('fulfilled');
    expect(b.value?.[0].shape).toEqual([5]);
    expect(elements(b.value?.[0])).toEqual([7, 8, 9, 10, 11]);
    expect(executor.calls).toHaveLength(3);
    expect(executor.calls[2].inputs[0].shape).toEqual([1, 2]);
  });

  it('runs `concurrency` batches at once and merges what queues behind them', async () => {
    const { executor, batcher } = setup({}, 2);
    const reqs = [0, 10, 20, 30, 40].map((start) => track(batcher.submit(request(1, start))));
    expect(executor.calls).toHaveLength(2);
    expect(batcher.inflight()).toBe(2);
    expect(batcher.queued()).toBe(3);
    echo(executor.calls[1]);
    await flush();
    expect(executor.calls).toHaveLength(3);
    expect(values(executor.calls[2].inputs[0])).toEqual([20, 21, 30, 31, 40, 41]);
    expect(batcher.inflight()).toBe(2);
    expect(batcher.queued()).toBe(0);
    echo(executor.calls[0]);
    echo(executor.calls[2]);
    await flush();
    expect(batcher.inflight()).toBe(0);
    expect(reqs.map((t) => t.status)).toEqual(Array(5).fill('fulfilled'));
    expect(elements(reqs[3].value?.[0])).toEqual([130, 131]);
  });

  it('counts batches, requests and rows of completed work', async () => {
    const { executor, batcher } = setup();
    track(batcher.submit(request(1, 0)));
    track(batcher.submit(request(2, 10)));
    track(batcher.submit(request(3, 20)));
    echo(executor.calls[0]);
    await flush();
    echo(executor.calls[1]);
    await flush();
    expect(batcher.stats).toEqual({ batches: 2, rows: 6, requests: 3, rejectedQueueFull: 0, expired: 0, cancelled: 0 });
  });
});

describe('DynamicBatcher: deferred dispatch', () => {
  it('with a defer hook, a free worker takes everything submitted in the same round as one batch', async () => {
    const deferred: (() => void)[] = [];
    const clock = Object.assign(new FakeClock(), { defer: (fn: () => void) => deferred.push(fn) });
    const executor = new FakeExecutor(1);
    const batcher = new DynamicBatcher(policy({ maxBatchSize: 8 }), executor, clock);
    const a = track(batcher.submit(request(1, 0)));
    const b = track(batcher.submit(request(2, 10)));
    expect(executor.calls).toHaveLength(0);
    expect(deferred).toHaveLength(1); // one deferred pump per round, not one per request
    deferred.shift()?.();
    expect(executor.calls).toHaveLength(1);
    expect(executor.calls[0].inputs[0].shape).toEqual([3, 2]);
    echo(executor.calls[0]);
    await flush();
    expect(a.status).toBe('fulfilled');
    expect(b.value?.[0].shape).toEqual([2, 2]);
  });
});

describe('DynamicBatcher: padding to allowed batch sizes', () => {
  it('hands the runtime the smallest allowed size that holds the batch, zero rows after the real ones, and each request only its own rows', async () => {
    const { executor, batcher } = setup({ maxBatchSize: 8, allowedBatchSizes: [4, 8] });
    const a = track(batcher.submit(request(1, 0)));
    expect(executor.calls[0].inputs[0].shape).toEqual([4, 2]); // a lone request is padded too
    expect(values(executor.calls[0].inputs[0])).toEqual([0, 1, 0, 0, 0, 0, 0, 0]);
    const b = track(batcher.submit(request(2, 10)));
    const c = track(batcher.submit(request(3, 20)));
    echo(executor.calls[0]);
    await flush();
    expect(a.value?.[0].shape).toEqual([1, 2]);
    expect(elements(a.value?.[0])).toEqual([100, 101]);
    expect(executor.calls[1].inputs[0].shape).toEqual([8, 2]); // 5 rows: 4 is too small
    expect(values(executor.calls[1].inputs[0])).toEqual([10, 11, 12, 13, 20, 21, 22, 23, 24, 25, 0, 0, 0, 0, 0, 0]);
    echo(executor.calls[1]);
    await flush();
    expect(b.value?.[0].shape).toEqual([2, 2]);
    expect(elements(b.value?.[0])).toEqual([110, 111, 112, 113]);
    expect(c.value?.[0].shape).toEqual([3, 2]);
    expect(elements(c.value?.[0])).toEqual([120, 121, 122, 123, 124, 125]);
  });

  it('does not pad a batch already at an allowed size, nor without allowed sizes', async () => {
    const padded = setup({ maxBatchSize: 8, allowedBatchSizes: [4, 8] });
    track(padded.batcher.submit(request(4, 0)));
    expect(padded.executor.calls[0].inputs[0].shape).toEqual([4, 2]);
    const plain = setup({ maxBatchSize: 8 });
    track(plain.batcher.submit(request(3, 0)));
    expect(plain.executor.calls[0].inputs[0].shape).toEqual([3, 2]);
  });
});

describe('DynamicBatcher: who assembles a batch of large requests', () => {
  const big = (start: number) => new InferenceRequest([floatTensor(1, 16_384, start)], 1); // 64 KB a row

  it('padded batches: the worker (parts); unpadded: the event loop (one merged buffer)', async () => {
    const padded = setup({ maxBatchSize: 4, allowedBatchSizes: [4] });
    track(padded.batcher.submit(big(0)));
    track(padded.batcher.submit(big(1)));
    track(padded.batcher.submit(big(2)));
    expect(padded.executor.calls[0].inputs[0].parts).toHaveLength(1); // lone, padded to 4
    padded.executor.calls[0].resolve([]);
    await flush();
    expect(padded.executor.calls[1].inputs[0].parts).toHaveLength(2);
    const plain = setup({ maxBatchSize: 4 });
    track(plain.batcher.submit(big(0)));
    track(plain.batcher.submit(big(1)));
    track(plain.batcher.submit(big(2)));
    plain.executor.calls[0].resolve([]);
    await flush();
    expect(plain.executor.calls[1].inputs[0].parts).toBeUndefined();
    expect(plain.executor.calls[1].inputs[0].shape).toEqual([2, 16_384]);
  });
});
