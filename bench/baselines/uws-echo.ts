// Transport ceiling: uWebSockets.js reading each POST body fully and answering
// a fixed, pre-built JSON body of the same shape and size as Volley's answer.
// No JSON parsing, no inference: whatever Volley does beyond this is the cost
// of the real work, so Volley's req/s / echo's req/s says how close to the HTTP
// transport limit it gets on this machine.
//
// Each body is copied once out of uWS's memory into a reused buffer (the copy
// any server makes; no allocation per request, as Volley's buffer pool).
//
// /v2/stream is the same for WebSocket: each binary frame (a msgpack request
// of Volley's stream) is copied once out of uWS's memory, as Volley must, its
// `id` read, and a prebuilt answer of Volley's shape sent back with that id
// (the outputs of the response file, as msgpack `bin`). It is the WebSocket
// transport's ceiling, next to the HTTP one, in the wire scenario.
//
//   --response-file <path>  the body to answer with (the bench writes Volley's
//                           real response for each scenario); default: the
//                           mlp_classifier response below.
import { readFileSync } from 'node:fs';
import { Packr, Unpackr } from 'msgpackr';
import uWS from 'uWebSockets.js';
import { flagValue, logListening, parseListenArgs } from './args.js';

// The real output of mlp_classifier for the bench body [5.1, 3.5, 1.4, 0.2]
// (float32 values printed as JS numbers, as Volley prints them; same key order
// as Volley's encoder, so the body is byte-for-byte the same size: 191 B).
const DEFAULT_RESPONSE = JSON.stringify({
  model_name: 'mlp_classifier',
  model_version: '1',
  outputs: [
    {
      name: 'probabilities',
      datatype: 'FP32',
      shape: [1, 3],
      data: [0.00014792451111134142, 0.7960471510887146, 0.20380492508411407],
    },
  ],
});

const responseFile = flagValue('response-file');
// Read once at start; parsed only to fail fast on a wrong file, then sent as is.
const RESPONSE = responseFile ? readFileSync(responseFile, 'utf8') : DEFAULT_RESPONSE;
JSON.parse(RESPONSE);

const app = uWS.App();

app.get('/v2/health/ready', (res) => {
  res.end();
});
app.get('/v2/health/live', (res) => {
  res.end();
});

// Copy targets, reused: the one copy a real server makes of a body (uWS reuses its memory after
// each callback), without a fresh allocation per request, as Volley's buffer pool does. By
// power-of-two size; a buffer is taken for one request and given back when it is answered. Not
// src/runtimes/buffer-pool.ts: a baseline stays self-contained, and that pool leaves bodies under
// 64 KB (every JSON scenario's) unpooled, which would make the ceiling allocate again.
const spare = new Map<number, Uint8Array[]>();
function take(bytes: number): Uint8Array {
  const size = 2 ** Math.ceil(Math.log2(Math.max(bytes, 1024)));
  return spare.get(size)?.pop() ?? new Uint8Array(size);
}
function give(buffer: Uint8Array): void {
  const list = spare.get(buffer.length) ?? [];
  list.push(buffer);
  spare.set(buffer.length, list);
}

/** Largest body the echo takes (as the WebSocket route's maxPayloadLength). */
const MAX_BODY = 128 * 1024 * 1024;
const TOO_LARGE = '{"error":"body too large for the echo"}';

app.post('/v2/models/:name/infer', (res, req) => {
  let aborted = false;
  let body: Uint8Array | null = null;
  res.onAborted(() => {
    aborted = true;
    if (body !== null) give(body);
  });
  const declared = Number(req.getHeader('content-length')); // 0 when absent (chunked): the buffer grows
  if (declared > MAX_BODY) {
    res.writeStatus('413 Payload Too Large').end(TOO_LARGE, true);
    return;
  }
  body = take(Number.isSafeInteger(declared) && declared > 0 ? declared : 0);
  let length = 0;
  res.onData((chunk, isLast) => {
    if (aborted || body === null) return;
    if (length + chunk.byteLength > MAX_BODY) {
      give(body);
      body = null;
      res.writeStatus('413 Payload Too Large').end(TOO_LARGE, true);
      return;
    }
    if (length + chunk.byteLength > body.length) {
      // No (or a wrong) Content-Length: grow, as a server reading a chunked body must.
      const bigger = take(length + chunk.byteLength);
      bigger.set(body.subarray(0, length));
      give(body);
      body = bigger;
    }
    body.set(new Uint8Array(chunk), length);
    length += chunk.byteLength;
    if (!isLast) return;
    give(body);
    body = null;
    if (length === 0) {
      res.writeStatus('400 Bad Request').end('{"error":"empty body"}');
      return;
    }
    res.cork(() => {
      res.writeHeader('Content-Type', 'application/json').end(RESPONSE);
    });
  });
});

// Volley's stream answer for the same outputs: data as little-endian FP32 bytes.
const PARSED = JSON.parse(RESPONSE) as { model_name: string; model_version: string; outputs: { name: string; datatype: string; shape: number[]; data: number[] }[] };
const STREAM_OUTPUTS = PARSED.outputs.map((o) => ({ ...o, data: new Uint8Array(Float32Array.from(o.data).buffer) }));
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

app.ws('/v2/stream', {
  compression: uWS.DISABLED,
  maxPayloadLength: MAX_BODY,
  maxBackpressure: 256 * 1024 * 1024,
  message: (ws, message, isBinary) => {
    // The frame's memory is uWS's until this returns: one copy, as Volley makes of the tensor.
    const frame = take(message.byteLength);
    frame.set(new Uint8Array(message));
    let id: unknown = null;
    try {
      if (isBinary) id = (unpackr.unpack(frame.subarray(0, message.byteLength)) as { id?: unknown }).id;
    } catch {
      // not msgpack: answered with id null, as Volley answers an unreadable frame
    }
    give(frame);
    ws.send(packr.pack({ id, model_name: PARSED.model_name, model_version: PARSED.model_version, outputs: STREAM_OUTPUTS }), true);
  },
});

app.any('/*', (res) => {
  res.writeStatus('404 Not Found').end('{"error":"not found"}');
});

const { host, port } = parseListenArgs();
let listenSocket: uWS.us_listen_socket | false = false;
app.listen(host, port, (token) => {
  if (!token) {
    console.error(`uws-echo: cannot listen on ${host}:${port}`);
    process.exit(1);
  }
  listenSocket = token;
  logListening(host, uWS.us_socket_local_port(token));
});

process.on('SIGTERM', () => {
  if (listenSocket) uWS.us_listen_socket_close(listenSocket);
  process.exit(0);
});
