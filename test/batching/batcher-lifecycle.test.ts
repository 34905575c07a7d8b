/** What the batcher refuses or drops: full queue, deadlines, cancellation, failed batches, shutdown. */
import { describe, expect, it } from 'vitest';
import { VolleyError } from '../../src/errors.js';
import { echo, elements, flush, request, setup, track, values } from './fakes.js';

describe('DynamicBatcher: queue limit', () => {
  it('rejects at once with ERR_QUEUE_FULL and a retry hint when the queue is full', async () => {
    const { executor, batcher } = setup({ maxQueueSize: 2 });
    track(batcher.submit(request(1, 0))); // running, so not queued
    const b = track(batcher.submit(request(1, 10)));
    const c = track(batcher.submit(request(1, 20)));
    const d = track(batcher.submit(request(1, 30)));
    await flush();
    expect(d.status).toBe('rejected');
    expect(d.error).toBeInstanceOf(VolleyError);
    expect(d.error?.code).toBe('ERR_QUEUE_FULL');
    expect(d.error?.retryAfterSeconds).toBeGreaterThan(0);
    expect([b.status, c.status]).toEqual(['pending', 'pending']);
    expect(batcher.queued()).toBe(2);
    expect(batcher.stats.rejectedQueueFull).toBe(1);
    echo(executor.calls[0]);
    await flush();
    expect(values(executor.calls[1].inputs[0])).toEqual([10, 11, 20, 21]); // the rejected one never runs
  });
});

describe('DynamicBatcher: deadlines and cancellation', () => {
  it('rejects a request whose deadline passes while queued, and never runs it', async () => {
    const { clock, executor, batcher } = setup();
    track(batcher.submit(request(1, 0)));
    const b = track(batcher.submit(request(1, 10, 2, 50)));
    const c = track(batcher.submit(request(1, 20)));
    clock.advance(49);
    await flush();
    expect(b.status).toBe('pending');
    clock.advance(1);
    await flush();
    expect(b.status).toBe('rejected');
    expect(b.error?.code).toBe('ERR_DEADLINE_EXCEEDED');
    expect(batcher.queued()).toBe(1);
    expect(batcher.stats.expired).toBe(1);
    echo(executor.calls[0]);
    await flush();
    expect(executor.calls).toHaveLength(2);
    expect(values(executor.calls[1].inputs[0])).toEqual([20, 21]);
    echo(executor.calls[1]);
    await flush();
    expect(c.status).toBe('fulfilled');
  });

  // Regression (adversarial probe): parameters.timeout of 3e12 µs armed a Node timer past 2^31 ms,
  // which Node fires after 1 ms with a warning on stderr, then again every ms.
  it('keeps a deadline weeks away, arming timers Node can hold, and expires it on time', async () => {
    const { clock, executor, batcher } = setup();
    track(batcher.submit(request(1, 0)));
    const far = 3e9; // ms, ~35 days
    const b = track(batcher.submit(request(1, 10, 2, far)));
    clock.advance(2 ** 31);
    await flush();
    expect(b.status).toBe('pending');
    clock.advance(far - 2 ** 31);
    await flush();
    expect(b.error?.code).toBe('ERR_DEADLINE_EXCEEDED');
    echo(executor.calls[0]);
    await flush();
  });

  it('rejects a request that expires while its batch waits out the delay', async () => {
    const { clock, executor, batcher } = setup({ maxQueueDelayMs: 100 });
    const a = track(batcher.submit(request(1, 0, 2, 30)));
    clock.advance(30);
    await flush();
    expect(a.error?.code).toBe('ERR_DEADLINE_EXCEEDED');
    clock.advance(100);
    expect(executor.calls).toHaveLength(0);
  });

  it('rejects a request whose deadline has already passed when it is submitted', async () => {
    const { clock, executor, batcher } = setup();
    clock.advance(100);
    const a = track(batcher.submit(request(1, 0, 2, 100)));
    await flush();
    expect(a.error?.code).toBe('ERR_DEADLINE_EXCEEDED');
    expect(executor.calls).toHaveLength(0);
  });

  it('drops a cancelled request before batching and rejects it with ERR_CANCELLED', async () => {
    const { executor, batcher } = setup();
    track(batcher.submit(request(1, 0)));
    const reqB = request(1, 10);
    const b = track(batcher.submit(reqB));
    const c = track(batcher.submit(request(1, 20)));
    reqB.cancel();
    echo(executor.calls[0]);
    await flush();
    expect(b.status).toBe('rejected');
    expect(b.error?.code).toBe('ERR_CANCELLED');
    expect(executor.calls).toHaveLength(2);
    expect(executor.calls[1].inputs[0].shape).toEqual([1, 2]);
    expect(values(executor.calls[1].inputs[0])).toEqual([20, 21]);
    echo(executor.calls[1]);
    await flush();
    expect(c.status).toBe('fulfilled');
    expect(batcher.stats.cancelled).toBe(1);
    expect(batcher.stats.requests).toBe(2);
  });

  it('drops a cancelled request that was waiting out the delay, running nothing', async () => {
    const { clock, executor, batcher } = setup({ maxQueueDelayMs: 10 });
    const req = request(1, 0);
    const a = track(batcher.submit(req));
    req.cancel();
    clock.advance(10);
    await flush();
    expect(a.error?.code).toBe('ERR_CANCELLED');
    expect(executor.calls).toHaveLength(0);
    expect(batcher.queued()).toBe(0);
  });
});

describe('DynamicBatcher: failed batches', () => {
  it('fails every member of a rejected batch with the same error, then serves the next batch', async () => {
    const { executor, batcher } = setup();
    track(batcher.submit(request(1, 0)));
    const b = track(batcher.submit(request(1, 10)));
    const c = track(batcher.submit(request(1, 20)));
    echo(executor.calls[0]);
    await flush();
    executor.calls[1].reject(new Error('session crashed'));
    await flush();
    expect([b.status, c.status]).toEqual(['rejected', 'rejected']);
    expect(b.error).toBe(c.error);
    expect(b.error?.code).toBe('ERR_RUNTIME');
    expect(b.error?.message).toBe('session crashed');
    expect(batcher.inflight()).toBe(0);

    const d = track(batcher.submit(request(1, 30)));
    expect(executor.calls).toHaveLength(3);
    echo(executor.calls[2]);
    await flush();
    expect(d.status).toBe('fulfilled');
    expect(elements(d.value?.[0])).toEqual([130, 131]);
  });

  it('keeps the code of a VolleyError the executor rejects with', async () => {
    const { executor, batcher } = setup();
    const a = track(batcher.submit(request(1, 0)));
    const err = new VolleyError('ERR_MODEL_NOT_READY', 'worker exited');
    executor.calls[0].reject(err);
    await flush();
    expect(a.error).toBe(err);
  });

  it('fails the whole batch with ERR_RUNTIME when an output has the wrong number of rows', async () => {
    const { executor, batcher } = setup();
    track(batcher.submit(request(1, 0)));
    const b = track(batcher.submit(request(1, 10)));
    const c = track(batcher.submit(request(2, 20)));
    echo(executor.calls[0]);
    await flush();
    const y = new Float32Array(4);
    executor.calls[1].resolve([{ name: 'y', datatype: 'FP32', shape: [2, 2], buffer: y.buffer, byteOffset: 0, length: 4 }]);
    await flush();
    expect([b.status, c.status]).toEqual(['rejected', 'rejected']);
    expect(b.error?.code).toBe('ERR_RUNTIME');
    expect(c.error).toBe(b.error);
    expect(batcher.stats.batches).toBe(1);
  });
});

describe('DynamicBatcher: close()', () => {
  it('resolves at once when idle, and refuses work afterwards', async () => {
    const { executor, batcher } = setup();
    await batcher.close();
    const a = track(batcher.submit(request(1, 0)));
    await flush();
    expect(a.status).toBe('rejected');
    expect(a.error?.code).toBe('ERR_MODEL_NOT_READY');
    expect(executor.calls).toHaveLength(0);
  });

  it('resolves only after queued and running work has finished', async () => {
    const { clock, executor, batcher } = setup({ maxQueueDelayMs: 1000 });
    batcher.submit(request(4, 0)); // waits for company
    expect(executor.calls).toHaveLength(0);
    const closed = track(batcher.close());
    // Closing: nothing more will come, so the waiting batch goes now.
    expect(executor.calls).toHaveLength(1);
    expect(clock.now()).toBe(0);
    const late = track(batcher.submit(request(1, 10)));
    await flush();
    expect(late.error?.code).toBe('ERR_MODEL_NOT_READY');
    expect(closed.status).toBe('pending');
    echo(executor.calls[0]);
    await flush();
    expect(closed.status).toBe('fulfilled');
  });

  it('waits for queued work behind a busy worker', async () => {
    const { executor, batcher } = setup();
    const a = track(batcher.submit(request(1, 0)));
    const b = track(batcher.submit(request(1, 10)));
    const closed = track(batcher.close());
    await flush();
    expect(closed.status).toBe('pending');
    echo(executor.calls[0]);
    await flush();
    expect(a.status).toBe('fulfilled');
    expect(closed.status).toBe('pending');
    expect(executor.calls).toHaveLength(2);
    echo(executor.calls[1]);
    await flush();
    expect(b.status).toBe('fulfilled');
    expect(closed.status).toBe('fulfilled');
  });

  // Regression: a second close() while work was pending once left the first caller hanging.
  it('resolves every close() call once drained, not only the last one', async () => {
    const { executor, batcher } = setup();
    batcher.submit(request(1, 0));
    const first = track(batcher.close());
    const second = track(batcher.close());
    echo(executor.calls[0]);
    await flush();
    expect(second.status).toBe('fulfilled');
    expect(first.status).toBe('fulfilled');
  });
});
