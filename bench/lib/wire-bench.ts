// The `wire` scenario's rounds: one Volley process per round serving
// image_pool, measured in turn with JSON, Triton binary and msgpack over HTTP
// (autocannon) and msgpack frames over the WebSocket stream (stream-load.ts);
// then the uWS echo reading the binary body, the loopback ceiling for those
// bytes, and the same echo answering the stream's frames (the WebSocket
// transport's ceiling: how uWS's WebSocket compares with its HTTP at this
// size, whatever the server behind it does). Volley and echo alternate which goes first, and the format order
// rotates, so no format always runs on a fresh (or a tired) process.
import { setTimeout as sleep } from 'node:timers/promises';
import { VolleyClient, VolleyStream } from '../../src/client/index.js';
import { type CheckResult, checkInfer, type LoadConfig, type LoadResult, runLoadWindowed } from './load.js';
import type { WindowSpec } from './measure-window.js';
import { aggregate, fmt, roundRatio, type ServerResult, type WireResult, type WireScenarioReport } from './report.js';
import { type ProcSample, procCost, sampleProc } from './proc-stats.js';
import { type RunningServer, type ServerSpec, startServer } from './server.js';
import { runStreamLoad } from './stream-load.js';
import { HTTP_FORMATS, WIRE_FORMATS, type WireFormat, type WireScenario } from './wire-scenario.js';

/**
 * Default sockets the stream load spreads its in-flight requests over: 0 = one per request in
 * flight, the same 64 connections with one request each that HTTP gets (issue 3 compares the two
 * at 64 connections). Multiplexed, 4 sockets × 16 in flight, the stream moved 0.56× of HTTP
 * binary's 602 KB tensors in one full run (2,028 vs 3,021 req/s for 64 × 1 alone): each socket's
 * frames queue behind each other on one TCP connection.
 */
export const STREAM_SOCKETS = 0;
/** Formats must agree this closely: same bytes in, same model; only batching may reorder float sums. */
const CROSS_FORMAT_TOLERANCE = 1e-5;
/** From the in-process reference, as the other scenarios (thread counts change float sums). */
const REFERENCE_TOLERANCE = 1e-4;
const CHECK_TIMEOUT_MS = 10_000;

export interface WireOptions {
  durationS: number;
  warmupS: number;
  rounds: number;
  connections: number;
  /** WebSocket connections sharing the `connections` requests in flight. */
  streamSockets: number;
  startupTimeoutMs: number;
  /** Pause between servers, and after each row, for sockets and CPU to settle (run.ts: 500 ms, quick 300). */
  settleMs: number;
  progress: (msg: string) => void;
}

const LABELS: Record<WireFormat | 'echo' | 'echo-ws', string> = {
  json: 'volley JSON',
  binary: 'volley binary (Triton)',
  msgpack: 'volley msgpack',
  websocket: 'volley WebSocket (msgpack)',
  echo: 'echo (uWS, binary body, no inference)',
  'echo-ws': 'echo (uWS WebSocket, msgpack frame, no inference)',
};

type Row = WireFormat | 'echo' | 'echo-ws';
const rotate = <T>(xs: readonly T[], k: number): T[] => xs.map((_, i) => xs[(i + k) % xs.length]);

/** `servers` holds the selected specs among volley and echo (naive speaks JSON only: no row here). */
export async function benchWire(sc: WireScenario, servers: ServerSpec[], opts: WireOptions): Promise<WireScenarioReport> {
  const rows: Row[] = [...(servers.some((s) => s.id === 'volley') ? WIRE_FORMATS : []), ...(servers.some((s) => s.id === 'echo') ? (['echo', 'echo-ws'] as const) : [])];
  const runs = new Map<Row, ServerResult[]>(rows.map((r) => [r, []]));
  for (let round = 0; round < opts.rounds; round++) {
    for (const spec of rotate(servers, round)) {
      opts.progress(`wire: round ${round + 1}/${opts.rounds}`);
      const results = spec.id === 'volley' ? await volleyRound(sc, spec, round, opts) : await echoRound(sc, spec, round, opts);
      for (const [row, result] of results) runs.get(row)?.push(result);
      await sleep(opts.settleMs); // as run.ts: let the stopped server's sockets and CPU settle
    }
  }
  return wireReport(sc, rows, runs, opts);
}

/** Each row's median round, its MB/s and ratios, and issue 3's target ratios. */
function wireReport(sc: WireScenario, rows: Row[], runs: Map<Row, ServerResult[]>, opts: WireOptions): WireScenarioReport {
  const byRow = new Map(rows.map((row) => [row, aggregate(runs.get(row) ?? [])]));
  const results = rows.map((row): WireResult => {
    const r = byRow.get(row) as ServerResult;
    const bodyBytes = row === 'echo' ? sc.http.binary.body.length : row === 'websocket' || row === 'echo-ws' ? sc.frames[0].length : sc.http[row].body.length;
    const payloadMBps = r.load ? (sc.payloadBytes * r.load.rps) / 1e6 : undefined;
    return { ...r, format: row, bodyBytes, payloadMBps, vsJson: roundRatio(r, byRow.get('json')), vsEcho: roundRatio(r, byRow.get(row === 'websocket' && byRow.has('echo-ws') ? 'echo-ws' : 'echo')) };
  });
  const vs = (a: Row, b: Row) => {
    const r = byRow.get(a);
    return r === undefined ? undefined : roundRatio(r, byRow.get(b));
  };
  return {
    kind: 'wire',
    id: 'wire',
    model: sc.model,
    summary: 'A [1,3,224,224] image through GlobalAveragePool → 3×10 → Softmax: almost no compute, so this measures moving and decoding a 602 KB tensor.',
    inputShape: sc.input.shape,
    payloadBytes: sc.payloadBytes,
    path: sc.path,
    streamPath: sc.streamPath,
    stream: { sockets: opts.streamSockets, inflight: sc.frames.length },
    bodies: [
      ...HTTP_FORMATS.map((f) => ({ format: f, bytes: sc.http[f].body.length, headers: sc.http[f].headers })),
      { format: 'websocket', bytes: sc.frames[0].length, headers: {} },
    ],
    echoResponseBytes: sc.responseBytes,
    results,
    acceptance: { binaryVsJson: vs('binary', 'json'), msgpackVsJson: vs('msgpack', 'json'), websocketVsBinary: vs('websocket', 'binary') },
    transport: { websocketVsHttp: vs('echo-ws', 'echo') },
  };
}

/** Start a server, or a failed result explaining why. */
async function start(spec: ServerSpec, opts: WireOptions, say: (m: string) => void): Promise<RunningServer | ServerResult> {
  say(`starting: node ${spec.args.join(' ')}`);
  try {
    const server = await startServer(spec, opts.startupTimeoutMs);
    say(`pid ${server.pid} on port ${server.port}, ready after ${Math.round(server.readyMs)} ms`);
    return server;
  } catch (err) {
    say(`failed to start: ${(err as Error).message}`);
    return { id: spec.id, label: spec.label, status: 'failed', error: (err as Error).message };
  }
}

type Load = (spec: WindowSpec) => Promise<LoadResult>;

/** Warm up and measure on the same connections, then wait until the server has caught up (the next load must not inherit this one's backlog). */
async function measure(server: RunningServer, load: Load, opts: WireOptions, say: (m: string) => void): Promise<LoadResult> {
  say(`warm-up ≥ ${opts.warmupS} s (until every request in flight has had an answer), then measuring ${opts.durationS} s`);
  // The server's CPU over exactly the measured window, per answer counted in it.
  let before: ProcSample | undefined;
  let after: ProcSample | undefined;
  const r = await load({ warmupS: opts.warmupS, durationS: opts.durationS, onOpen: () => (before = sampleProc(server.pid)), onClose: () => (after = sampleProc(server.pid)) });
  r.proc = procCost(before, after, r.ok2xx);
  await settle(server.baseUrl, opts.settleMs);
  say(`warm-up took ${r.warmupS?.toFixed(1)} s; ${Math.round(r.rps)} req/s, p50 ${r.latencyMs.p50.toFixed(2)} ms, p99 ${r.latencyMs.p99.toFixed(2)} ms, ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts; server ${fmt(r.proc?.cpuUsPerRequest, 0)} µs CPU/req`);
  return r;
}

/**
 * autocannon drops its in-flight requests when time is up, but the server may
 * still be decoding bodies it has already read (4 MB JSON ones take a while).
 * Volley decodes on its main thread, so a readiness probe is answered only
 * once that backlog is gone; then a moment for the workers' last batches.
 */
async function settle(baseUrl: string, ms: number): Promise<void> {
  await fetch(`${baseUrl}/v2/health/ready`, { signal: AbortSignal.timeout(30_000) }).then((r) => r.arrayBuffer(), () => undefined);
  await sleep(ms);
}

async function volleyRound(sc: WireScenario, spec: ServerSpec, round: number, opts: WireOptions): Promise<[Row, ServerResult][]> {
  const say = (m: string) => opts.progress(`wire/volley: ${m}`);
  const server = await start(spec, opts, say);
  if (!('pid' in server)) return WIRE_FORMATS.map((f) => [f, { ...server, id: f, label: LABELS[f] }]);
  const startup = { listeningMs: Math.round(server.listeningMs), readyMs: Math.round(server.readyMs) };
  const out = new Map<WireFormat, ServerResult>(WIRE_FORMATS.map((f) => [f, { id: f, label: LABELS[f], status: 'failed', startup }]));
  try {
    const checks = await checkFormats(server.baseUrl, sc);
    for (const f of WIRE_FORMATS) (out.get(f) as ServerResult).check = checks[f];
    say(`sanity: ${WIRE_FORMATS.map((f) => `${f} ${checks[f].note}`).join('; ')}`);
    for (const f of rotate(WIRE_FORMATS, round)) {
      await measureRow(out.get(f) as ServerResult, server, loadFor(sc, f, server.baseUrl, opts), opts, (m) => opts.progress(`wire/volley ${f}: ${m}`));
    }
  } finally {
    const stop = await server.stop();
    for (const r of out.values()) r.stop = stop;
    say(`stopped (${stop.how}, ${stop.ms} ms)`);
  }
  return [...out.entries()];
}

function loadFor(sc: WireScenario, f: WireFormat, baseUrl: string, opts: WireOptions): Load {
  if (f === 'websocket') {
    const cfg = { url: `${baseUrl.replace(/^http/, 'ws')}${sc.streamPath}`, frames: sc.frames, sockets: opts.streamSockets, outputValues: sc.probabilities.length };
    return (spec) => runStreamLoad(cfg, spec);
  }
  const cfg: LoadConfig = { url: `${baseUrl}${sc.path}`, body: sc.http[f].body, headers: sc.http[f].headers, connections: opts.connections };
  return (spec) => runLoadWindowed(cfg, spec);
}

/** Measures one row into `r` (status ok), or records why it failed. */
async function measureRow(r: ServerResult, server: RunningServer, load: Load, opts: WireOptions, say: (m: string) => void): Promise<void> {
  try {
    r.load = await measure(server, load, opts, say);
    r.status = 'ok';
  } catch (err) {
    r.error = `load run failed: ${(err as Error).message}\n${server.tail()}`;
    say(r.error);
  }
}

/** HTTP and WebSocket echo rows on one echo process; which goes first alternates by round. */
async function echoRound(sc: WireScenario, spec: ServerSpec, round: number, opts: WireOptions): Promise<[Row, ServerResult][]> {
  const say = (m: string) => opts.progress(`wire/echo: ${m}`);
  const server = await start(spec, opts, say);
  if (!('pid' in server)) return [['echo', server], ['echo-ws', { ...server, id: 'echo-ws', label: LABELS['echo-ws'] }]];
  const startup = { listeningMs: Math.round(server.listeningMs), readyMs: Math.round(server.readyMs) };
  const http: ServerResult = { id: 'echo', label: LABELS.echo, status: 'failed', startup };
  const ws: ServerResult = { id: 'echo-ws', label: LABELS['echo-ws'], status: 'failed', startup };
  try {
    const cfg: LoadConfig = { url: `${server.baseUrl}${sc.path}`, body: sc.http.binary.body, headers: sc.http.binary.headers, connections: opts.connections };
    http.check = await checkInfer(cfg, sc.probabilities);
    ws.check = await checkStreamEcho(server.baseUrl, sc);
    say(`sanity: HTTP ${http.check.note}; WebSocket ${ws.check.note}`);
    const rows: [ServerResult, Load][] = [[http, (w) => runLoadWindowed(cfg, w)], [ws, loadFor(sc, 'websocket', server.baseUrl, opts)]];
    for (const [r, load] of rotate(rows, round)) await measureRow(r, server, load, opts, (m) => say(`${r.id}: ${m}`));
  } finally {
    http.stop = ws.stop = await server.stop();
  }
  return [['echo', http], ['echo-ws', ws]];
}

/** The echo's stream answer read back through src/client: the reference probabilities, with the frame's id. */
async function checkStreamEcho(baseUrl: string, sc: WireScenario): Promise<CheckResult> {
  const p = await answer(baseUrl, sc, 'websocket').catch((err: unknown) => `request failed: ${(err as Error).message}`);
  if (typeof p === 'string') return { ok: false, status: 0, note: p };
  return checkAgainstReference(p, sc) ?? { ok: true, status: 200, note: 'ok (the reference answer, matched by id)', sample: p };
}

/** A failed check when `p` is not the scenario's probabilities (count, sum, reference); undefined when it is. */
function checkAgainstReference(p: number[], sc: WireScenario): CheckResult | undefined {
  const fail = (note: string): CheckResult => ({ ok: false, status: 200, note, sample: p });
  if (p.length !== sc.probabilities.length) return fail(`${p.length} values, expected ${sc.probabilities.length}`);
  const total = p.reduce((a, b) => a + b, 0);
  if (Math.abs(total - 1) > 1e-4) return fail(`probabilities sum to ${total}`);
  const diff = maxDiff(p, sc.probabilities);
  if (diff > REFERENCE_TOLERANCE) return fail(`differs from the reference by ${diff}`);
  return undefined;
}

const maxDiff = (p: readonly number[], q: readonly number[]) => Math.max(...p.map((x, i) => Math.abs(x - q[i])));

/** One answer per format through src/client: 10 probabilities summing to 1, near the reference and equal across formats. */
async function checkFormats(baseUrl: string, sc: WireScenario): Promise<Record<WireFormat, CheckResult>> {
  const answers = new Map<WireFormat, number[] | string>();
  for (const f of WIRE_FORMATS) answers.set(f, await answer(baseUrl, sc, f).catch((err: unknown) => `request failed: ${(err as Error).message}`));
  const json = answers.get('json');
  const check = (f: WireFormat): CheckResult => {
    const p = answers.get(f) as number[] | string;
    if (typeof p === 'string') return { ok: false, status: 0, note: p };
    const failed = checkAgainstReference(p, sc);
    if (failed !== undefined) return failed;
    if (!Array.isArray(json)) return { ok: false, status: 200, note: 'no JSON answer to compare with', sample: p };
    const vsJson = maxDiff(p, json);
    if (vsJson > CROSS_FORMAT_TOLERANCE) return { ok: false, status: 200, note: `differs from the JSON answer by ${vsJson}`, sample: p };
    return { ok: true, status: 200, note: `ok (max diff ${maxDiff(p, sc.probabilities).toExponential(1)} vs reference, ${vsJson.toExponential(1)} vs JSON)`, sample: p };
  };
  return Object.fromEntries(WIRE_FORMATS.map((f) => [f, check(f)])) as Record<WireFormat, CheckResult>;
}

async function answer(baseUrl: string, sc: WireScenario, f: WireFormat): Promise<number[]> {
  const infer = async () => {
    if (f !== 'websocket') return new VolleyClient(baseUrl).infer(sc.model, [sc.input], f);
    const stream = await VolleyStream.connect(baseUrl);
    try {
      return await stream.infer(sc.model, [sc.input]);
    } finally {
      stream.close();
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  try {
    const result = await Promise.race([infer(), timeout]);
    return Array.from(result.outputs[0].data as Float32Array);
  } finally {
    clearTimeout(timer);
  }
}
