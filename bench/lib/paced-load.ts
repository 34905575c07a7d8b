// Open-loop ("paced") HTTP/1.1 load for the bench's offered-load windows
// (half of peak in the max_queue_delay sweep, 3× capacity in overload).
//
// Why not autocannon's `overallRate`: autocannon 9 gives every connection a
// quota of rate/connections requests per one-second tick (httpClient.js:
// `reqsMadeThisSecond`, reset by a per-client `setInterval(…, 1000)`) and
// sends closed loop until the quota is used up, then goes quiet until the next
// tick. All clients are created together, so their ticks line up: half of
// peak arrives as ~0.5 s of peak load followed by ~0.5 s of silence, and the
// batcher sees peak-sized batches.
//
// Here request k is due at t0 + k / rate and goes out on connection
// k mod N: the aggregate arrival stream is evenly spaced, and every connection
// sends every N / rate seconds. Evenly spaced rather than Poisson because the
// question asked of these windows (issue 6: p99 at 50% of peak ≤ delay +
// 2 × batch compute) is about the batcher under a steady load of that size,
// not about arrival clustering; it is also Triton perf_analyzer's default
// (`--request-distribution constant`), needs no seed, and makes the achieved
// rate checkable to the request. Sends happen at least every 1 ms (timer) and
// after every answer, so at 8,000 req/s requests leave in groups of up to ~8.
//
// One request in flight per connection (pipelining 1). When a request is due
// on a connection that is still waiting for its answer (or reconnecting), it
// is sent right after that answer: it counts as "late", and its latency is
// also recorded from the scheduled time (`latencyFromScheduleMs`, corrected
// for coordinated omission) next to the usual send-to-answer latency.
//
// Responses are parsed by Content-Length (http-response-parser.ts).
import net from 'node:net';
import { ResponseParser } from './http-response-parser.js';
import { LatencyLog, type LoadConfig, type LoadResult, runLoad } from './load.js';

export interface PacedConfig extends LoadConfig {
  /** Requests per second over all connections. */
  rate: number;
  /** An answer not complete after this long is a timeout (the connection is re-opened); default 10 s, as autocannon. */
  timeoutS?: number;
}

export interface PacedStats {
  distribution: 'even';
  targetRps: number;
  /** Requests written ÷ window, per second: what actually left the client. */
  sentRps: number;
  sent: number;
  /** Requests due while their connection still waited for an answer (sent once it came). */
  late: number;
  /** Due in the window but never written (still queued behind a slow answer when it closed). */
  unsent: number;
  /** Requests still unanswered when the window closed (not counted as errors). */
  inflightAtEnd: number;
  /** Connections re-opened after an error, a timeout or a `Connection: close`. */
  reconnects: number;
  /** 2xx latency from the scheduled send time (coordinated-omission corrected), ms. */
  latencyFromScheduleMs: LoadResult['latencyMs'];
  /**
   * How long after its scheduled time each on-time (not late) request was written, ms: the
   * generator's own timing (1 ms timer, event-loop stalls, CPU taken by the server).
   */
  sendLagMs: LoadResult['latencyMs'];
}

export type PacedResult = LoadResult & { paced: PacedStats };

const RETRY_MS = 50;
const TIMEOUT_CHECK_MS = 100;

/** The request bytes, built once per path and written as is for every request. */
function requestBuffers(cfg: LoadConfig): Buffer[] {
  const url = new URL(cfg.url);
  const body = typeof cfg.body === 'string' ? Buffer.from(cfg.body) : cfg.body;
  const headers = Object.entries(cfg.headers ?? { 'content-type': 'application/json' }).filter(([k]) => !/^(content-length|host|connection)$/i.test(k));
  const head = (path: string) =>
    [`POST ${path} HTTP/1.1`, `Host: ${url.host}`, ...headers.map(([k, v]) => `${k}: ${v}`), `Content-Length: ${body.length}`, 'Connection: keep-alive', '', ''].join('\r\n');
  return (cfg.paths ?? [url.pathname + url.search]).map((path) => Buffer.concat([Buffer.from(head(path), 'latin1'), body]));
}

/** One keep-alive connection: at most one request in flight. */
interface Conn {
  socket: net.Socket;
  state: 'connecting' | 'idle' | 'busy';
  parser: ResponseParser;
  /** Global sequence number of the oldest due-or-future request this connection has not sent (≡ its index mod N). */
  nextSeq: number;
  /** Requests due on this connection and not yet sent. */
  backlog: number;
  scheduledAt: number;
  sentAt: number;
  nextPath: number;
}

class PacedRun {
  readonly #cfg: PacedConfig;
  readonly #durationMs: number;
  readonly #interval: number;
  readonly #requests: Buffer[];
  readonly #conns: Conn[] = [];
  readonly #latency = new LatencyLog();
  readonly #fromSchedule = new LatencyLog();
  readonly #lag = new LatencyLog();
  readonly #statusCodes: Record<string, number> = {};
  readonly #count = { ok: 0, non2xx: 0, errors: 0, timeouts: 0, sent: 0, late: 0, reconnects: 0 };
  #host = '';
  #port = 0;
  #t0 = 0;
  #endAt = Infinity;
  /** Sequence number of the next request to become due. */
  #due = 0;
  #finished = false;

  constructor(cfg: PacedConfig, durationS: number) {
    if (!(cfg.rate > 0) || !(cfg.connections > 0)) throw new Error(`paced load needs rate > 0 and connections > 0, got ${cfg.rate} and ${cfg.connections}`);
    this.#cfg = cfg;
    this.#durationMs = durationS * 1000;
    this.#interval = 1000 / cfg.rate;
    this.#requests = requestBuffers(cfg);
  }

  async run(): Promise<PacedResult> {
    const url = new URL(this.#cfg.url);
    this.#host = url.hostname;
    this.#port = Number(url.port || 80);
    // Open every connection before the schedule starts, so connection set-up is not measured.
    try {
      await Promise.all(Array.from({ length: this.#cfg.connections }, (_, i) => this.#open(i)));
    } catch (err) {
      this.#finish();
      throw new Error(`paced load: cannot connect to ${this.#cfg.url}: ${(err as Error).message}`);
    }
    this.#t0 = performance.now();
    this.#endAt = this.#t0 + this.#durationMs;
    const tick = setInterval(() => this.#release(performance.now()), 1);
    const timeouts = setInterval(() => this.#checkTimeouts(performance.now()), TIMEOUT_CHECK_MS);
    await new Promise((resolve) => setTimeout(resolve, this.#durationMs));
    clearInterval(tick);
    clearInterval(timeouts);
    return this.#finish();
  }

  /** Opens connection `i` (first time: resolves once connected, rejects on failure). */
  #open(i: number): Promise<void> {
    const socket = net.connect({ host: this.#host, port: this.#port, noDelay: true });
    const conn: Conn = { socket, state: 'connecting', parser: new ResponseParser(), nextSeq: i, backlog: 0, scheduledAt: 0, sentAt: 0, nextPath: 0 };
    this.#conns[i] = conn;
    return new Promise((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
      this.#attach(conn);
    });
  }

  #attach(conn: Conn): void {
    const { socket } = conn;
    socket.once('connect', () => {
      conn.state = 'idle';
      const now = performance.now();
      if (conn.backlog > 0 && now < this.#endAt) this.#send(conn, now);
    });
    socket.on('data', (chunk: Buffer) => this.#onData(conn, chunk));
    // 'close' follows every 'error'; errors are counted there.
    socket.on('error', () => {});
    socket.on('close', () => {
      if (this.#finished) return;
      // A lost request in flight, or a connection that could not be opened (retried after a pause).
      const delay = conn.state === 'connecting' ? RETRY_MS : 0;
      if (conn.state !== 'idle') this.#count.errors++;
      conn.state = 'connecting';
      setTimeout(() => this.#reopen(conn), delay).unref();
    });
  }

  #reopen(conn: Conn): void {
    if (this.#finished) return;
    conn.socket.removeAllListeners();
    conn.socket.on('error', () => {});
    conn.socket.destroy();
    this.#count.reconnects++;
    conn.socket = net.connect({ host: this.#host, port: this.#port, noDelay: true });
    conn.state = 'connecting';
    conn.parser = new ResponseParser();
    this.#attach(conn);
  }

  #onData(conn: Conn, chunk: Buffer): void {
    const { parser } = conn;
    try {
      // A response with `Connection: close` re-opens the connection (new parser): ignore the rest of the chunk.
      parser.feed(chunk, (status, close) => conn.parser === parser && this.#onResponse(conn, status, close));
    } catch {
      this.#count.errors++;
      this.#reopen(conn);
    }
  }

  // Hot path. Times are performance.now() ms; request k is due at t0 + k × interval on
  // connection k mod N, and each connection sends its requests in order, one in flight.
  // Invariant: an idle connection has no backlog (it sends its oldest due request as soon
  // as it becomes idle), so a request released to an idle connection goes out on time.
  #onResponse(conn: Conn, status: number, close: boolean): void {
    if (conn.state !== 'busy') throw new Error(`unexpected HTTP ${status}: no request in flight`);
    const now = performance.now();
    conn.state = 'idle';
    if (now <= this.#endAt) {
      this.#statusCodes[status] = (this.#statusCodes[status] ?? 0) + 1;
      if (status >= 200 && status <= 299) {
        this.#count.ok++;
        this.#latency.add(now - conn.sentAt);
        this.#fromSchedule.add(now - conn.scheduledAt);
      } else this.#count.non2xx++;
    }
    if (close) {
      this.#reopen(conn);
      return;
    }
    // Late requests first (oldest), so that an idle connection never has a backlog.
    if (conn.backlog > 0 && now < this.#endAt) this.#send(conn, now);
    this.#release(now);
  }

  /** Makes every request due by `now` (and inside the window) pending on its connection, sending where it is idle. */
  #release(now: number): void {
    const n = this.#conns.length;
    for (let at = this.#t0 + this.#due * this.#interval; at <= now && at < this.#endAt; at = this.#t0 + this.#due * this.#interval) {
      const conn = this.#conns[this.#due % n];
      this.#due++;
      conn.backlog++;
      if (conn.state === 'idle') {
        this.#send(conn, now);
        this.#lag.add(now - conn.scheduledAt);
      } else this.#count.late++;
    }
  }

  #send(conn: Conn, now: number): void {
    conn.scheduledAt = this.#t0 + conn.nextSeq * this.#interval;
    conn.nextSeq += this.#conns.length;
    conn.backlog--;
    conn.sentAt = now;
    conn.state = 'busy';
    conn.socket.write(this.#requests[conn.nextPath++ % this.#requests.length]);
    this.#count.sent++;
  }

  #checkTimeouts(now: number): void {
    const limitMs = (this.#cfg.timeoutS ?? 10) * 1000;
    for (const conn of this.#conns) {
      if (conn.state !== 'busy' || now - conn.sentAt <= limitMs) continue;
      this.#count.timeouts++;
      this.#count.errors++;
      this.#reopen(conn);
    }
  }

  #finish(): PacedResult {
    this.#finished = true;
    let inflight = 0;
    for (const conn of this.#conns) {
      if (conn.state === 'busy') inflight++;
      conn.socket.removeAllListeners();
      conn.socket.on('error', () => {});
      conn.socket.destroy();
    }
    const c = this.#count;
    const durationS = this.#durationMs / 1000;
    const dueInWindow = Math.ceil(this.#durationMs / this.#interval);
    return {
      durationS,
      rps: c.ok / durationS,
      ok2xx: c.ok,
      non2xx: c.non2xx,
      errors: c.errors,
      timeouts: c.timeouts,
      resets: 0,
      statusCodes: this.#statusCodes,
      latencyMs: this.#latency.summary(),
      paced: {
        distribution: 'even',
        targetRps: this.#cfg.rate,
        sentRps: c.sent / durationS,
        sent: c.sent,
        late: c.late,
        unsent: Math.max(0, dueInWindow - c.sent),
        inflightAtEnd: inflight,
        reconnects: c.reconnects,
        latencyFromScheduleMs: this.#fromSchedule.summary(),
        sendLagMs: this.#lag.summary(),
      },
    };
  }
}

/** `cfg.rate` requests/s, evenly spaced over `cfg.connections` keep-alive connections, for `durationS` seconds. */
export function runPaced(cfg: PacedConfig, durationS: number): Promise<PacedResult> {
  return new PacedRun(cfg, durationS).run();
}

/** Closed loop (autocannon) without `cfg.rate`; paced open loop with one. */
export function runLoadOrPaced(cfg: LoadConfig, durationS: number): Promise<LoadResult> {
  return cfg.rate === undefined ? runLoad(cfg, durationS) : runPaced({ ...cfg, rate: cfg.rate }, durationS);
}
