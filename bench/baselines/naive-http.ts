// Naive baseline: what a Node user would write without Volley. node:http,
// onnxruntime-node with its default session options (default thread counts),
// one session.run per request, no batching, JSON in and out (KServe v2 shapes).
// It is meant to be honest and simple: no deliberate slowness, no tricks.
//
//   --model <path to model.onnx>  (default models/mlp_classifier/1/model.onnx)
//   --name <model name in the URL and response>  (default mlp_classifier)
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { flagValue, logListening, parseListenArgs } from './args.js';

const MODEL_NAME = flagValue('name') ?? 'mlp_classifier';
const modelFlag = flagValue('model');
const MODEL_PATH = modelFlag ? resolve(modelFlag) : fileURLToPath(new URL('../../models/mlp_classifier/1/model.onnx', import.meta.url));
const INFER_PATH = `/v2/models/${MODEL_NAME}/infer`;

interface V2Input {
  name: string;
  shape: number[];
  datatype: string;
  data: number[];
}

const session = await ort.InferenceSession.create(MODEL_PATH);

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function infer(req: IncomingMessage, res: ServerResponse): Promise<void> {
  let input: V2Input | undefined;
  try {
    const body = JSON.parse(await readBody(req)) as { inputs?: V2Input[] };
    input = body.inputs?.[0];
  } catch {
    return send(res, 400, { error: 'invalid JSON body' });
  }
  if (!input || input.datatype !== 'FP32' || !Array.isArray(input.data) || !Array.isArray(input.shape)) {
    return send(res, 400, { error: 'expected one FP32 input with shape and data' });
  }
  const feeds = { [input.name]: new ort.Tensor('float32', Float32Array.from(input.data), input.shape) };
  const results = await session.run(feeds);
  const outputs = session.outputNames.map((name) => {
    const t = results[name];
    return { name, shape: Array.from(t.dims), datatype: 'FP32', data: Array.from(t.data as Float32Array) };
  });
  send(res, 200, { model_name: MODEL_NAME, model_version: '1', outputs });
}

const server = createServer((req, res) => {
  if (req.method === 'GET' && (req.url === '/v2/health/ready' || req.url === '/v2/health/live')) {
    res.writeHead(200).end();
  } else if (req.method === 'POST' && req.url === INFER_PATH) {
    infer(req, res).catch((err: unknown) => send(res, 500, { error: String(err) }));
  } else {
    send(res, 404, { error: 'not found' });
  }
});

const { host, port } = parseListenArgs();
server.listen(port, host, () => logListening(host, (server.address() as AddressInfo).port));

// Exit promptly on SIGTERM so the bench does not need to escalate to SIGKILL.
process.on('SIGTERM', () => server.close(() => process.exit(0)).closeAllConnections());
