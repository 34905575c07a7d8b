// The `wire` scenario's fixtures: the generated image_pool repository, the
// reference answer, and one prebuilt request per wire format.
//
// The request bytes are whatever src/client (VolleyClient, VolleyStream) puts
// on the wire: the client is pointed at a recording server in this process
// that keeps each body (and the protocol headers the client chose) and answers
// an empty result. So the bench never re-implements an encoding, and a change
// to the client's encoding shows up here.
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Unpackr } from 'msgpackr';
import * as ort from 'onnxruntime-node';
import { WebSocketServer } from 'ws';
import { type ClientTensor, VolleyClient, VolleyStream } from '../../src/client/index.js';
import { IMAGE_POOL, IMAGE_SHAPE, imagePoolInput, writeImagePoolRepo } from './image-pool.js';

export const HTTP_FORMATS = ['json', 'binary', 'msgpack'] as const;
export type HttpFormat = (typeof HTTP_FORMATS)[number];
export const WIRE_FORMATS = [...HTTP_FORMATS, 'websocket'] as const;
export type WireFormat = (typeof WIRE_FORMATS)[number];

export interface HttpBody {
  body: Buffer;
  /** Only the protocol headers the client set (Content-Type, Accept, Inference-Header-Content-Length). */
  headers: Record<string, string>;
}

export interface WireScenario {
  model: string;
  repository: string;
  modelPath: string;
  input: ClientTensor;
  /** Bytes of tensor data per request (602,112): the "payload" in MB/s. */
  payloadBytes: number;
  path: string;
  streamPath: string;
  http: Record<HttpFormat, HttpBody>;
  /** One msgpack stream frame per in-flight slot; frame i carries id String(i) (the client takes string ids). */
  frames: Buffer[];
  /** In-process onnxruntime answer for `input`. */
  probabilities: number[];
  /** Volley's JSON answer, served by the echo baseline (it ignores the body it reads). */
  responseFile: string;
  responseBytes: number;
}

const PROTOCOL_HEADERS = ['content-type', 'accept', 'inference-header-content-length'];
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** Build the repository (apart from the other scenarios', so Volley there loads only their model) and the bodies. */
export async function prepareWire(tmp: string, slots: number): Promise<WireScenario> {
  const repository = join(tmp, 'wire-repository');
  const modelPath = writeImagePoolRepo(repository);
  const input: ClientTensor = { name: 'input', datatype: 'FP32', shape: IMAGE_SHAPE, data: imagePoolInput() };
  const probabilities = await reference(modelPath, input);
  const response = JSON.stringify({
    model_name: IMAGE_POOL,
    model_version: '1',
    outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [1, probabilities.length], data: probabilities }],
  });
  const responseFile = join(tmp, 'wire-response.json');
  writeFileSync(responseFile, response);
  const { http, frames } = await recordRequests(input, slots);
  return {
    model: IMAGE_POOL,
    repository,
    modelPath,
    input,
    payloadBytes: input.data.byteLength,
    path: `/v2/models/${IMAGE_POOL}/infer`,
    streamPath: '/v2/stream',
    http,
    frames,
    probabilities,
    responseFile,
    responseBytes: Buffer.byteLength(response),
  };
}

async function reference(modelPath: string, input: ClientTensor): Promise<number[]> {
  // One thread, as in scenarios.ts: nothing left spinning in the bench process.
  const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const out = await session.run({ [input.name]: new ort.Tensor('float32', input.data as Float32Array, input.shape) });
    return Array.from(out.probabilities.data as Float32Array);
  } finally {
    await session.release();
  }
}

/** Run the real client once per HTTP format and once per stream slot against a recorder, keeping the bytes. */
async function recordRequests(input: ClientTensor, slots: number): Promise<{ http: Record<HttpFormat, HttpBody>; frames: Buffer[] }> {
  const seen: HttpBody[] = [];
  const frames: Buffer[] = [];
  const empty = { model_name: IMAGE_POOL, model_version: '1', outputs: [] };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers = Object.fromEntries(PROTOCOL_HEADERS.filter((h) => req.headers[h] !== undefined && !(h === 'accept' && req.headers[h] === '*/*')).map((h) => [h, String(req.headers[h])]));
      seen.push({ body: Buffer.concat(chunks), headers });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(empty));
    });
  });
  const wss = new WebSocketServer({ server, path: '/v2/stream', perMessageDeflate: false });
  wss.on('connection', (ws) =>
    ws.on('message', (data: Buffer) => {
      frames.push(data);
      // Answered as a JSON text frame: the client matches it by id whatever the format.
      ws.send(JSON.stringify({ ...empty, id: (unpackr.unpack(data) as { id: number }).id }));
    }),
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const client = new VolleyClient(base);
    for (const format of HTTP_FORMATS) await client.infer(IMAGE_POOL, [input], format);
    const stream = await VolleyStream.connect(base);
    for (let id = 0; id < slots; id++) await stream.infer(IMAGE_POOL, [input], { id: String(id) });
    stream.close();
  } finally {
    wss.close();
    server.closeAllConnections();
    server.close();
  }
  const http = Object.fromEntries(HTTP_FORMATS.map((f, i) => [f, seen[i]])) as Record<HttpFormat, HttpBody>;
  return { http, frames };
}
