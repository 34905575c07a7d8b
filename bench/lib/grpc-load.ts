// Closed-loop load on a KServe v2 gRPC endpoint (ModelInfer), the counterpart of autocannon for
// HTTP: `concurrency` calls in flight in total, spread round-robin over `channels` connections
// (@grpc/grpc-js multiplexes a client's calls over one HTTP/2 connection; each channel here is a
// client of its own, on its own connection). Each slot sends the same prebuilt request again as
// soon as its answer arrives, until the measured window (measure-window.ts) is over.
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
  check: (answer: { raw_output_contents?: Buffer[] }) => boolean;
}

export async function runGrpcLoad(cfg: GrpcLoadConfig, spec: WindowSpec): Promise<LoadResult> {
  const { inference } = grpc.loadPackageDefinition(protoLoader.loadSync(PROTO, { keepCase: true, longs: String, defaults: true, oneofs: true })) as any;
  // A pool of its own per client: separate connections, as autocannon's separate sockets.
  const clients = Array.from({ length: cfg.channels }, () => new inference.GRPCInferenceService(cfg.address, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, 'grpc.max_receive_message_length': -1 }));
  const window = new MeasureWindow(spec, cfg.concurrency);
  const tally = new SlotTally(window);
  const send = (slot: number): void => {
    const sentAt = performance.now();
    tally.sent();
    clients[slot % clients.length].ModelInfer(cfg.request, (err: grpc.ServiceError | null, answer: { raw_output_contents?: Buffer[] }) => {
      if (tally.answered(performance.now(), sentAt, err ? `grpc-${err.code}` : '200', answer, cfg.check)) send(slot);
    });
  };
  for (let slot = 0; slot < cfg.concurrency; slot++) send(slot);
  await window.closed;
  const result = await tally.finish(spec);
  for (const c of clients) c.close();
  return result;
}
