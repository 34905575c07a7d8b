// gRPC transport ceiling: @grpc/grpc-js serving the repository's proto/inference.proto (with
// Volley's loader options), answering every ModelInfer with a prebuilt answer of Volley's shape:
// the request is decoded by grpc-js as Volley's is, then nothing else is done. Whatever Volley's
// gRPC endpoint costs beyond this is its own work (decoding into tensors, batching, the worker
// hop, inference, encoding).
//
//   --grpc-port N  the gRPC port (the bench picks a free one)
//   --outputs <JSON>  the answer's outputs: [{name, datatype, shape, data}] (FP32 data, sent as
//                     raw_output_contents), Volley's real answer for the scenario
//   --host H --port N: /v2/health/ready (and /live) on HTTP, the bench's readiness contract
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { flagValue, logListening, parseListenArgs } from './args.js';

const PROTO = fileURLToPath(new URL('../../proto/inference.proto', import.meta.url));
const { host, port } = parseListenArgs();
const grpcPort = Number(flagValue('grpc-port'));
const outputs = JSON.parse(flagValue('outputs') ?? '[]') as { name: string; datatype: string; shape: number[]; data: number[] }[];
if (!Number.isInteger(grpcPort) || outputs.length === 0) throw new Error('--grpc-port and --outputs are required');

const proto = grpc.loadPackageDefinition(protoLoader.loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true })) as any;
const answer = {
  model_name: 'echo',
  model_version: '1',
  outputs: outputs.map(({ name, datatype, shape }) => ({ name, datatype, shape })),
  raw_output_contents: outputs.map((o) => Buffer.from(Float32Array.from(o.data).buffer)),
};
const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
server.addService(proto.inference.GRPCInferenceService.service, {
  ModelInfer: (call: grpc.ServerUnaryCall<{ id: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => callback(null, { ...answer, id: call.request.id }),
  ModelStreamInfer: (call: grpc.ServerDuplexStream<{ id: string }, unknown>) => {
    call.on('data', (request: { id: string }) => call.write({ error_message: '', infer_response: { ...answer, id: request.id } }));
    call.on('end', () => call.end());
  },
  ServerLive: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, { live: true }),
});
server.bindAsync(`${host}:${grpcPort}`, grpc.ServerCredentials.createInsecure(), (err) => {
  if (err) throw err;
  const http = createServer((_req, res) => res.end());
  http.listen(port, host, () => logListening(host, (http.address() as { port: number }).port));
});
process.on('SIGTERM', () => {
  server.forceShutdown();
  process.exit(0);
});
