// Closed-loop load on a KServe v2 gRPC endpoint, the counterpart of autocannon for HTTP:
// `concurrency` requests in flight in total, spread round-robin over `channels` connections
// (@grpc/grpc-js multiplexes a client's calls over one HTTP/2 connection; each channel here is a
// client of its own, on its own connection). Each slot sends the same prebuilt request again as
// soon as its answer arrives, until the measured window (measure-window.ts) is over. `unary`: one
// ModelInfer call per request; `stream`: one ModelStreamInfer stream per channel, requests told
// apart by id (the slot), as the WebSocket generator does.
//
// Like autocannon, it runs in the bench process and shares the CPU with the server under test,
// and grpc-js's client costs more per call than autocannon does: compare gRPC rows with the gRPC
// echo of the same run (bench/baselines/grpc-echo.ts), measured with this same client.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { type LoadResult, SlotTally } from './load.js';
import { MeasureWindow, type WindowSpec } from './measure-window.js';

const PROTO = fileURLToPath(new URL('../../proto/inference.proto', import.meta.url));

export interface GrpcLoadConfig {
  /** host:port */
  address: string;
  /** A ModelInferRequest as @grpc/proto-loader takes it. */
  request: Record<string, unknown>;
  concurrency: number;
  channels: number;
  /** Whether an answer is a real one (its first output carries what the scenario expects). */
  check: (answer: InferAnswer) => boolean;
  mode: 'unary' | 'stream';
}

export interface InferAnswer {
  id?: string;
  raw_output_contents?: Buffer[];
}

export async function runGrpcLoad(cfg: GrpcLoadConfig, spec: WindowSpec): Promise<LoadResult> {
  const { inference } = grpc.loadPackageDefinition(protoLoader.loadSync(PROTO, { keepCase: true, longs: String, defaults: true, oneofs: true })) as any;
  // A pool of its own per client: separate connections, as autocannon's separate sockets.
  const clients = Array.from({ length: cfg.channels }, () => new inference.GRPCInferenceService(cfg.address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, 'grpc.max_receive_message_length': -1 }));
  const window = new MeasureWindow(spec, cfg.concurrency);
  const tally = new SlotTally(window);
  const sentAt = new Float64Array(cfg.concurrency);
  /** 1 exactly while the slot's request is unanswered (a duplicate or unknown answer is a stray). */
  const busy = new Uint8Array(cfg.concurrency);
  let send: (slot: number) => void;
  let streams: grpc.ClientDuplexStream<unknown, { error_message: string; infer_response: InferAnswer }>[] = [];
  if (cfg.mode === 'unary') {
    send = (slot) => {
      sentAt[slot] = performance.now();
      tally.sent();
      clients[slot % clients.length].ModelInfer(cfg.request, (err: grpc.ServiceError | null, answer: InferAnswer) => {
        if (tally.answered(performance.now(), sentAt[slot], err ? `grpc-${err.code}` : '200', answer, cfg.check)) send(slot);
      });
    };
  } else {
    const requests = Array.from({ length: cfg.concurrency }, (_, slot) => ({ ...cfg.request, id: String(slot) }));
    streams = clients.map((c) => c.ModelStreamInfer());
    send = (slot) => {
      sentAt[slot] = performance.now();
      busy[slot] = 1;
      tally.sent();
      streams[slot % streams.length].write(requests[slot]);
    };
    for (const s of streams) {
      s.on('data', ({ error_message, infer_response }) => {
        const slot = Number(infer_response?.id);
        if (!Number.isInteger(slot) || slot < 0 || slot >= cfg.concurrency || busy[slot] === 0) return tally.stray();
        busy[slot] = 0;
        if (tally.answered(performance.now(), sentAt[slot], error_message === '' ? '200' : 'stream-error', infer_response, cfg.check)) send(slot);
      });
      s.on('error', () => tally.lost());
    }
  }
  for (let slot = 0; slot < cfg.concurrency; slot++) send(slot);
  await window.closed;
  const result = await tally.finish(spec);
  for (const s of streams) s.end();
  for (const c of clients) c.close();
  return result;
}
