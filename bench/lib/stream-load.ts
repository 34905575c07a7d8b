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
import { type LoadResult, SlotTally } from './load.js';
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
  const tally = new SlotTally(window);
  const check = (frame: AnswerFrame) => carriesProbabilities(frame, cfg.outputValues);

  const send = (slot: number) => {
    const ws = sockets[slot % sockets.length];
    if (ws.readyState !== WebSocket.OPEN) return; // counted when it closed
    busy[slot] = 1;
    tally.sent();
    sentAt[slot] = performance.now();
    ws.send(cfg.frames[slot]);
  };
  // Invariant: busy[slot] is 1 exactly while slot's request is unanswered; times are performance.now() ms.
  const onAnswer = (data: Buffer) => {
    const now = performance.now();
    const frame = unpackr.unpack(data) as AnswerFrame;
    const slot = Number(frame.id);
    if (!Number.isInteger(slot) || slot < 0 || slot >= slots || busy[slot] === 0) {
      tally.stray(); // an answer to nothing we asked
      return;
    }
    busy[slot] = 0;
    const status = frame.error === undefined ? '200' : String(frame.status);
    if (tally.answered(now, sentAt[slot], status, frame, check)) send(slot);
  };
  for (const ws of sockets) {
    ws.on('message', onAnswer);
    ws.on('error', () => tally.stray());
    ws.on('close', () => tally.lost()); // a socket lost mid-run
  }

  for (let slot = 0; slot < slots; slot++) send(slot);
  await window.closed;
  const result = await tally.finish(spec);
  for (const ws of sockets) ws.terminate();
  return result;
}
