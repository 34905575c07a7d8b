// fastify baseline: what a Node user would write with the most popular fast
// framework. One route, fastify's own JSON body parser and serializer,
// onnxruntime-node with its default session options (as naive-http.ts), one
// session.run per request, no batching, KServe v2 JSON in and out. Same
// contract as the other baselines: `--host H --port N`, the JSON `listening`
// log line, GET /v2/health/ready.
//
//   --model <path to model.onnx>  (default models/mlp_classifier/1/model.onnx)
//   --name <model name in the URL and response>  (default mlp_classifier)
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import * as ort from 'onnxruntime-node';
import { flagValue, logListening, parseListenArgs } from './args.js';

const MODEL_NAME = flagValue('name') ?? 'mlp_classifier';
const modelFlag = flagValue('model');
const MODEL_PATH = modelFlag ? resolve(modelFlag) : fileURLToPath(new URL('../../models/mlp_classifier/1/model.onnx', import.meta.url));

interface V2Input {
  name: string;
  shape: number[];
  datatype: string;
  data: number[];
}

const session = await ort.InferenceSession.create(MODEL_PATH);
// No request logging: fastify's default (logger off), as most services run it behind a proxy.
const app = Fastify({ bodyLimit: 64 * 1024 * 1024 });

app.get('/v2/health/ready', async () => '');
app.get('/v2/health/live', async () => '');

app.post<{ Body: { inputs?: V2Input[] } }>(`/v2/models/${MODEL_NAME}/infer`, async (req, reply) => {
  const input = req.body?.inputs?.[0];
  if (!input || input.datatype !== 'FP32' || !Array.isArray(input.data) || !Array.isArray(input.shape)) {
    return reply.code(400).send({ error: 'expected one FP32 input with shape and data' });
  }
  const results = await session.run({ [input.name]: new ort.Tensor('float32', Float32Array.from(input.data), input.shape) });
  const outputs = session.outputNames.map((name) => {
    const t = results[name];
    return { name, shape: Array.from(t.dims), datatype: 'FP32', data: Array.from(t.data as Float32Array) };
  });
  return { model_name: MODEL_NAME, model_version: '1', outputs };
});

const { host, port } = parseListenArgs();
await app.listen({ host, port });
const address = app.server.address();
logListening(host, typeof address === 'object' && address !== null ? address.port : port);

process.on('SIGTERM', () => {
  app.close().then(() => process.exit(0), () => process.exit(1));
});
