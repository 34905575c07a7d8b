/** The batcher reports queue waits and batch times to its observer (the metrics' VersionStats). */
import { describe, expect, it } from 'vitest';
import { DynamicBatcher } from '../../src/batching/batcher.js';
import type { BatchObserver } from '../../src/batching/batcher.js';
import { FakeClock, FakeExecutor, echo, flush, policy, request, track } from './fakes.js';

class Recorder implements BatchObserver {
  waits: number[] = [];
  batches: number[][] = [];
  dequeued(waitedMs: number): void {
    this.waits.push(waitedMs);
  }
  executed(rows: number, inputMs: number, inferMs: number, outputMs: number, padding: number): void {
    this.batches.push([rows, inputMs, inferMs, outputMs, padding]);
  }
}

describe('DynamicBatcher observer', () => {
  it('reports each dispatched request’s queue wait and each successful batch’s rows and times (ms), and leaves them on the requests', async () => {
    const clock = new FakeClock();
    const executor = new FakeExecutor(1);
    const observer = new Recorder();
    const batcher = new DynamicBatcher(policy(), executor, clock, observer);
    const requests = [request(1, 0), request(2, 10), request(1, 20)];
    const a = track(batcher.submit(requests[0]));
    clock.advance(3);
    const b = track(batcher.submit(requests[1]));
    clock.advance(2);
    const c = track(batcher.submit(requests[2]));
    clock.advance(5);
    echo(executor.calls[0]);
    await flush();
    clock.advance(4);
    echo(executor.calls[1]);
    await flush();
    expect([a.status, b.status, c.status]).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    expect(observer.waits).toEqual([0, 7, 5]);
    // The fake clock stands still while inputs merge and outputs split: all the time is the worker's.
    expect(observer.batches).toEqual([
      [1, 0, 10, 0, 0],
      [3, 0, 4, 0, 0],
    ]);
    // The times a request's success counts in Triton's statistics (VersionStats.succeeded).
    const times = (r: ReturnType<typeof request>) => [r.queuedMs, r.inputMs, r.inferMs, r.outputMs];
    expect([times(requests[0]), times(requests[1]), times(requests[2])]).toEqual([
      [0, 0, 10, 0],
      [7, 0, 4, 0],
      [5, 0, 4, 0],
    ]);
  });

  it('reports nothing for a failed batch or a request that expired in the queue', async () => {
    const clock = new FakeClock();
    const executor = new FakeExecutor(1);
    const observer = new Recorder();
    const batcher = new DynamicBatcher(policy(), executor, clock, observer);
    const a = track(batcher.submit(request(1, 0)));
    const b = track(batcher.submit(request(1, 0, 2, 5)));
    clock.advance(6);
    executor.calls[0].reject(new Error('boom'));
    await flush();
    expect([a.status, b.status]).toEqual(['rejected', 'rejected']);
    expect(observer.waits).toEqual([0]);
    expect(observer.batches).toEqual([]);
  });
});
