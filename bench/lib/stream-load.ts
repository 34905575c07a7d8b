// Closed-loop load on Volley's WebSocket stream (/v2/stream), the counterpart
// of autocannon for the HTTP formats: `frames.length` requests in flight in
// total, spread round-robin over `sockets` connections (64 over 4 = 16 per
// socket, matching autocannon's 64 connections × 1 request). Each slot sends
// its prebuilt frame again as soon as its answer arrives, until the measured
// window (measure-window.ts: warm-up and measurement on the same sockets) is
// over; answers inside it are counted, with per-answer latency.
//
// Like autocannon, this runs in the bench process and shares the CPU with the
// server under test, so it is kept as cheap as autocannon: frames are built
// once, and they go out unmasked-in-effect (see `zeroMask`).
import { Unpackr } from 'msgpackr';
import WebSocket from 'ws';
import { LatencyLog, type LoadResult } from './load.js';
import { MeasureWindow, type WindowSpec } from './measure-window.js';

export interface StreamLoadConfig {
  /** ws://host:port/v2/stream */
  url: string;
  /** Slot i's request frame, with id String(i): one request in flight per slot. */
  frames: readonly Buffer[];
  sockets: number;
  /** How many values each answer's first output must carry (10 probabilities). */
  outputValues: number;
}

/** After the window, how long answers still in flight may take before they count as timeouts. */
const GRACE_MS = 10_000;

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

interface AnswerFrame {
  id?: unknown;
  error?: unknown;
  status?: unknown;
  outputs?: { shape?: unknown; data?: unknown }[];
}

/**
 * RFC 6455 makes clients mask frames so browsers cannot be tricked into
 * talking to proxies; a load generator needs no such protection. With a zero
 * mask `ws` skips its copy-and-XOR of each 602 KB frame (the server still
 * runs its unmasking loop), so the client costs what autocannon's prebuilt
 * request costs: a write of the same bytes.
 */
const zeroMask = (mask: Buffer) => void mask.fill(0);

function connect(url: string): Promise<WebSocket> {
  const ws = new WebSocket(url, { perMessageDeflate: false, generateMask: zeroMask });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

/** A real answer: `values` FP32 numbers in its first output, summing to 1. */
function carriesProbabilities(frame: AnswerFrame, values: number): boolean {
  const data = frame.outputs?.[0]?.data;
  if (!(data instanceof Uint8Array) || data.byteLength !== values * 4) return false;
  // Copy: msgpackr hands out views into the frame, not always 4-byte aligned.
  const p = new Float32Array(Uint8Array.from(data).buffer);
  let sum = 0;
  for (const x of p) sum += x;
  return Math.abs(sum - 1) < 1e-3;
}

export async function runStreamLoad(cfg: StreamLoadConfig, spec: WindowSpec): Promise<LoadResult> {
  const sockets = await Promise.all(Array.from({ length: cfg.sockets }, () => connect(cfg.url)));
  const slots = cfg.frames.length;
  const window = new MeasureWindow(spec, slots);
  const sentAt = new Float64Array(slots);
  const busy = new Uint8Array(slots);
  const latencies = new LatencyLog();
  const statusCodes: Record<string, number> = {};
  const count = { ok: 0, non2xx: 0, errors: 0, inflight: 0 };
  let running = true;
  let onIdle = () => {};

  const send = (slot: number) => {
    const ws = sockets[slot % sockets.length];
    if (ws.readyState !== WebSocket.OPEN) return; // counted when it closed
    busy[slot] = 1;
    count.inflight++;
    sentAt[slot] = performance.now();
    ws.send(cfg.frames[slot]);
  };
  // Invariants: busy[slot] is 1 exactly while slot's request is unanswered;
  // count.inflight is the number of busy slots; times are performance.now() ms.
  const onAnswer = (data: Buffer) => {
    const now = performance.now();
    const frame = unpackr.unpack(data) as AnswerFrame;
    const slot = Number(frame.id);
    if (!Number.isInteger(slot) || slot < 0 || slot >= slots || busy[slot] === 0) {
      count.errors++; // an answer to nothing we asked
      return;
    }
    busy[slot] = 0;
    count.inflight--;
    if (!running) {
      // Past the window: not counted, like autocannon's unfinished requests.
      if (count.inflight === 0) onIdle();
      return;
    }
    if (!window.answered(now)) {
      send(slot); // warm-up
      return;
    }
    const status = frame.error === undefined ? '200' : String(frame.status);
    statusCodes[status] = (statusCodes[status] ?? 0) + 1;
    if (frame.error !== undefined) count.non2xx++;
    else if (!carriesProbabilities(frame, cfg.outputValues)) count.errors++;
    else {
      count.ok++;
      latencies.add(now - sentAt[slot]);
    }
    send(slot);
  };
  for (const ws of sockets) {
    ws.on('message', onAnswer);
    ws.on('error', () => count.errors++);
    ws.on('close', () => {
      if (running) count.errors++; // a socket lost mid-run
    });
  }

  for (let slot = 0; slot < slots; slot++) send(slot);
  await window.closed;
  running = false;
  window.dispose();
  // Let the last answers drain so the next measurement starts on an idle server.
  if (count.inflight > 0) {
    const idle = new Promise<void>((resolve) => (onIdle = resolve));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([idle, new Promise((resolve) => (timer = setTimeout(resolve, GRACE_MS)))]);
    clearTimeout(timer);
  }
  const timeouts = count.inflight;
  for (const ws of sockets) ws.terminate();

  return {
    durationS: spec.durationS,
    warmupS: window.warmupS,
    rps: count.ok / spec.durationS,
    ok2xx: count.ok,
    non2xx: count.non2xx,
    errors: count.errors,
    timeouts,
    resets: 0,
    statusCodes,
    latencyMs: latencies.summary(),
  };
}
