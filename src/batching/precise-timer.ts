/**
 * Sub-millisecond timers. setTimeout works in whole milliseconds and wakes late (a 0.5 ms
 * `max_queue_delay_microseconds` became ~1.5 ms of waiting in practice), so waits shorter than
 * SPIN_BELOW_MS instead re-check the clock once per event-loop turn (setImmediate). The event loop
 * keeps polling I/O in between, so requests that arrive during the wait still join the batch. The
 * cost is CPU while waiting, at most the configured delay per batch, and only while a worker is
 * free and the queue waits for company, i.e. when the server is not busy.
 */

const SPIN_BELOW_MS = 2;

class Spin {
  cancelled = false;

  constructor(
    readonly at: number,
    readonly fn: () => void,
  ) {}
}

function check(spin: Spin): void {
  if (spin.cancelled) return;
  if (performance.now() >= spin.at) spin.fn();
  else setImmediate(check, spin);
}

/** Calls `fn` after `ms` milliseconds (sub-millisecond precision below SPIN_BELOW_MS). */
export function setPreciseTimer(fn: () => void, ms: number): unknown {
  if (ms >= SPIN_BELOW_MS) return setTimeout(fn, ms);
  const spin = new Spin(performance.now() + ms, fn);
  setImmediate(check, spin);
  return spin;
}

export function clearPreciseTimer(handle: unknown): void {
  if (handle instanceof Spin) handle.cancelled = true;
  else clearTimeout(handle as NodeJS.Timeout);
}
