import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { VolleyError, fromWire } from '../errors.js';
import { adoptBuffer } from './buffer-pool.js';
import type { BatchExecutor, RuntimeInfo, RuntimeOptions } from './runtime.js';
import { wireBuffers } from './tensor.js';
import type { WireTensor } from './tensor.js';
import type { WorkerReply, WorkerTask } from './worker.js';

const WORKER_FILE = fileURLToPath(new URL('./worker.js', import.meta.url));
/** A thread that dies this many times within RESTART_WINDOW_MS is given up (WorkerHost). */
const RESTART_LIMIT = 5;
const RESTART_WINDOW_MS = 60_000;

/**
 * The server's worker threads, shared by every model version. Each thread is a one-thread
 * Piscina pool (it replaces the thread if it dies) that holds many sessions, one per model
 * instance placed on it; a batch goes to the thread that holds its instance's session. TF.js
 * models have threads of their own (#place), never shared with ONNX Runtime sessions.
 *
 * Why shared: a worker thread is a V8 isolate of its own, ~10-15 MB of RSS before any model. One
 * thread per instance made each small model cost that much (20 models: 14.7 MB each, measured),
 * and every hot swap boot a fresh isolate. Now the threads are at most `maxThreads` per runtime kind
 * (`--worker-threads`, default 1: on CPU a batch already uses the cores through ORT's intra-op
 * threads), plus more only where one model asks for more instances than that, since a model's
 * instances go to distinct threads so that its batches can run in parallel. A thread runs one
 * batch at a time (onnxruntime-node's `run` is synchronous on its thread), though it takes in the
 * next ones, and assembles them (worker.ts), while one waits to run; versions sharing a thread
 * take turns in arrival order.
 */
export class WorkerThreads {
  readonly #maxThreads: number;
  readonly #hosts: WorkerHost[] = [];
  readonly #onError: (err: Error) => void;
  #nextSession = 1;
  #closed = false;

  /** `onError`: an error Piscina reports outside any task (a thread that failed while idle, say). */
  constructor(maxThreads: number, onError: (err: Error) => void = () => undefined) {
    this.#maxThreads = Math.max(1, maxThreads);
    this.#onError = onError;
  }

  /** Threads started so far. */
  get threads(): number {
    return this.#hosts.length;
  }

  /**
   * Loads one session per instance, each on a different thread of its runtime's kind (the least
   * loaded ones, a new one while under `maxThreads`), and resolves once all are loaded. Fails, leaving nothing behind,
   * if any instance fails to load.
   */
  async open(options: RuntimeOptions, instances: number, events: SessionEvents = {}, avoid: readonly SessionExecutor[] = []): Promise<SessionExecutor> {
    if (this.#closed) throw new VolleyError('ERR_MODEL_NOT_READY', 'server is shutting down');
    const hosts = this.#place(instances, new Set(avoid.flatMap((e) => e.hosts())), options.kind === 'tfjs' ? 'tfjs' : 'onnx');
    const sessions = hosts.map((host) => host.add(this.#nextSession++, options, events));
    const replies = await Promise.allSettled(sessions.map((s) => s.host.request({ op: 'load', session: s.id, options })));
    const infos: RuntimeInfo[] = [];
    let failure: unknown = null;
    for (const r of replies) {
      if (r.status === 'rejected') failure ??= r.reason;
      else if (!r.value.ok) failure ??= fromWire(r.value.error);
      else if ('info' in r.value) infos.push(r.value.info);
    }
    if (failure === null && infos.length !== sessions.length) failure = new VolleyError('ERR_MODEL_LOAD', 'worker did not describe the model');
    const executor = new SessionExecutor(sessions, infos[0] as RuntimeInfo);
    if (failure !== null) {
      await executor.close();
      throw failure;
    }
    return executor;
  }

  /** Kills thread `index` as a crash would; Piscina starts a replacement (for tests). */
  async killThread(index: number): Promise<void> {
    await this.#hosts[index]?.kill();
  }

  /** Ends every thread; call once every executor has closed. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#hosts.map((h) => h.destroy()));
  }

  /** A thread given up (it kept dying): no new session goes there, and it no longer counts against the cap. */
  #retire(host: WorkerHost): void {
    const i = this.#hosts.indexOf(host);
    if (i >= 0) this.#hosts.splice(i, 1);
  }

  /**
   * `n` distinct threads for a model's instances: empty ones first while under the cap, then the
   * least loaded. Threads in `avoid` (those serving the versions a new one replaces) are used only
   * when no other thread exists; then one more thread starts, past the cap: loading a session
   * blocks its thread, and the traffic being replaced must not wait for its replacement. After a
   * swap the old thread is free again, so swaps alternate between two threads.
   */
  #place(n: number, avoid: ReadonlySet<WorkerHost>, kind: HostKind): WorkerHost[] {
    const chosen: WorkerHost[] = [];
    const load = (h: WorkerHost) => h.sessions.size;
    // TF.js models never share a thread with ONNX models: a fault in TF.js's WebAssembly heap ends
    // its thread (tfjs-runtime.ts), and that must not cost the ONNX models their batches. Each kind
    // has --worker-threads threads of its own.
    const ofKind = this.#hosts.filter((h) => h.kind === kind);
    while (chosen.length < n) {
      const free = ofKind.filter((h) => !chosen.includes(h) && !avoid.has(h));
      let best = free.reduce<WorkerHost | null>((a, h) => (a === null || load(h) < load(a) ? h : a), null);
      const room = ofKind.length - ofKind.filter((h) => avoid.has(h)).length < this.#maxThreads;
      if (best === null || (load(best) > 0 && room)) {
        best = new WorkerHost(kind, this.#onError, (gone) => this.#retire(gone));
        this.#hosts.push(best);
        ofKind.push(best);
      }
      chosen.push(best);
    }
    return chosen;
  }
}

interface Session {
  readonly id: number;
  readonly host: WorkerHost;
}

/** What a session's owner hears of its thread: a restart (the session loads again on the new thread), or the thread given up for good. */
export interface SessionEvents {
  onRestart?: () => void;
  onGiveUp?: (reason: string) => void;
}

/** Which runtimes a thread hosts: TF.js models get threads of their own. */
type HostKind = 'onnx' | 'tfjs';

/** One worker thread and the sessions loaded on it. */
class WorkerHost {
  readonly sessions = new Map<number, { options: RuntimeOptions; events: SessionEvents }>();
  /** Tasks sent to this thread and not yet answered. */
  pending = 0;
  readonly #pool: Piscina;
  /** Set from a thread's death until its sessions are sent to load again on the replacement. */
  #restart: Promise<void> | null = null;
  #closing = false;
  /** When the thread died, performance.now() ms, within the last RESTART_WINDOW_MS. */
  readonly #deaths: number[] = [];
  /** Why this thread is given up (it kept dying): its tasks fail with this; null while it serves. */
  #gaveUp: string | null = null;

  /** `onGiveUp`: the thread kept dying and is given up; place no more sessions on it. */
  constructor(
    readonly kind: HostKind,
    onError: (err: Error) => void,
    onGiveUp: (host: WorkerHost) => void,
  ) {
    this.#pool = new Piscina({
      filename: WORKER_FILE,
      minThreads: 1,
      maxThreads: 1,
      // Infinity is Piscina's "never" (a finite value over 2^31-1 would fire after 1 ms, were it armed).
      idleTimeout: Infinity,
      // Tasks go to the thread at once and wait in its own queue: the next batch starts as soon as
      // the last one ends, with no round trip to the main thread in between. Each model's batcher
      // bounds its batches in flight, so this never grows without bound.
      concurrentTasksPerWorker: 1024,
      // Measured: a batch round trip costs ~350 µs of CPU with Atomics.wait in the worker, ~170 µs
      // with plain message events (tiny MLP, 32 rows, this 2-core box; ORT alone ~50 µs).
      atomics: 'disabled',
    });
    // Piscina emits 'error' for a thread that fails with no task on it; unheard, that would throw
    // on the main thread and end the server.
    this.#pool.on('error', onError);
    // A thread died (its batches in flight have failed): Piscina starts a replacement, or the next
    // task does, with none of the sessions. The sessions the dead thread held are sent to load
    // again, on the next turn (not from inside Piscina's event: a load sent from its workerCreate
    // event had its reply reported as "Unexpected message from Worker", an 'error' event). Tasks
    // wait (request) until those loads are sent, not answered: Piscina hands tasks over in order
    // and the worker makes a batch wait for a session still loading (worker.ts), so no batch
    // reaches the new thread before its session. Another death before then queues another reload;
    // sessions opened after the death load themselves (open), once.
    this.#pool.on('workerDestroy', () => {
      if (this.#closing || this.#gaveUp !== null) return;
      // A thread that keeps dying (a session whose load or run kills it, say) is not restarted
      // for ever: after RESTART_LIMIT deaths within RESTART_WINDOW_MS its sessions stay unloaded,
      // their batches fail with the reason, and new sessions go to another thread (a reload of
      // the model starts one).
      const now = performance.now();
      this.#deaths.push(now);
      while (this.#deaths[0] < now - RESTART_WINDOW_MS) this.#deaths.shift();
      if (this.#deaths.length >= RESTART_LIMIT) {
        this.#gaveUp = `its worker thread died ${RESTART_LIMIT} times within ${RESTART_WINDOW_MS / 1000} s and is not restarted again; reload the model to load it on a new thread`;
        onError(new Error(`worker thread given up: ${this.#gaveUp}`));
        for (const s of this.sessions.values()) s.events.onGiveUp?.(this.#gaveUp);
        onGiveUp(this);
        this.#closing = true;
        setImmediate(() => void this.#pool.destroy().catch(() => undefined));
        return;
      }
      const lost = [...this.sessions];
      const restart = new Promise<void>((resolve) =>
        setImmediate(() => {
          for (const [id, s] of lost) {
            if (this.#closing || !this.sessions.has(id)) continue;
            s.events.onRestart?.();
            // A session that does not load again answers its batches with "not loaded" (ERR_RUNTIME).
            this.#pool.run({ op: 'load', session: id, options: s.options } satisfies WorkerTask).catch(() => undefined);
          }
          // Tasks queued for a replacement that died while starting have no thread, and Piscina
          // starts one only for a new task: with nothing to reload (say an unload was all that was
          // queued), send one that does nothing (session 0 is never used).
          if (!this.#closing && this.#pool.threads.length === 0) this.#pool.run({ op: 'unload', session: 0 } satisfies WorkerTask).catch(() => undefined);
          resolve();
        }),
      );
      this.#restart = restart;
      void restart.then(() => {
        if (this.#restart === restart) this.#restart = null;
      });
    });
  }

  add(id: number, options: RuntimeOptions, events: SessionEvents): Session {
    this.sessions.set(id, { options, events });
    return { id, host: this };
  }

  async request(task: WorkerTask, transferList?: ArrayBuffer[]): Promise<WorkerReply> {
    this.pending++;
    try {
      while (this.#restart !== null) await this.#restart;
      if (this.#gaveUp !== null) throw new VolleyError('ERR_RUNTIME', `worker failed: ${this.#gaveUp}`);
      // Piscina would start a thread in a destroyed pool for a task sent after destroy().
      if (this.#closing) throw new VolleyError('ERR_MODEL_NOT_READY', 'server is shutting down');
      return (await this.#pool.run(task, transferList === undefined ? undefined : { transferList })) as WorkerReply;
    } finally {
      this.pending--;
    }
  }

  async remove(id: number): Promise<void> {
    if (!this.sessions.delete(id)) return;
    await this.request({ op: 'unload', session: id }).catch(() => undefined);
  }

  destroy(): Promise<void> {
    this.#closing = true;
    return this.#pool.destroy();
  }

  async kill(): Promise<void> {
    await Promise.all(this.#pool.threads.map((t) => t.terminate()));
  }
}

/**
 * A model version's instances: what its batcher dispatches to. The batcher never has more than
 * `concurrency` (= instances) batches in flight, so there is always an idle session to take one;
 * of those, the one whose thread has the least queued work gets it.
 */
export class SessionExecutor implements BatchExecutor {
  readonly concurrency: number;
  readonly info: RuntimeInfo;
  readonly #sessions: Session[];
  readonly #busy: boolean[];

  constructor(sessions: Session[], info: RuntimeInfo) {
    this.#sessions = sessions;
    this.#busy = sessions.map(() => false);
    this.concurrency = sessions.length;
    this.info = info;
  }

  async execute(inputs: WireTensor[]): Promise<WireTensor[]> {
    const i = this.#pick();
    const session = this.#sessions[i];
    this.#busy[i] = true;
    let reply: WorkerReply;
    try {
      reply = await session.host.request({ op: 'run', session: session.id, inputs }, wireBuffers(inputs));
    } catch (err) {
      // A thread that died mid-task (Piscina replaces it) or a task Piscina refused.
      throw new VolleyError('ERR_RUNTIME', `worker failed: ${(err as Error).message}`);
    } finally {
      this.#busy[i] = false;
    }
    if ('returned' in reply) for (const buffer of reply.returned ?? []) adoptBuffer(buffer);
    if (!reply.ok) throw fromWire(reply.error);
    if (!('outputs' in reply)) throw new VolleyError('ERR_RUNTIME', 'worker returned no outputs');
    return reply.outputs;
  }

  /** One executor per session (instance), sharing the sessions: warmups reach every instance through them. */
  perSession(): SessionExecutor[] {
    return this.#sessions.map((s) => new SessionExecutor([s], this.info));
  }

  /** The threads this executor's sessions live on. */
  hosts(): WorkerHost[] {
    return this.#sessions.map((s) => s.host);
  }

  /** Releases every session; the threads stay for other models. */
  async close(): Promise<void> {
    await Promise.all(this.#sessions.map((s) => s.host.remove(s.id)));
  }

  /** An idle session, on the thread with the least queued work (a busy one only if a caller ignores `concurrency`). */
  #pick(): number {
    const cost = (i: number) => (this.#busy[i] ? 1e9 : 0) + this.#sessions[i].host.pending;
    let best = 0;
    for (let i = 1; i < this.#sessions.length; i++) if (cost(i) < cost(best)) best = i;
    return best;
  }
}
