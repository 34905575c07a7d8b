// The KServe v2 gRPC endpoint (--grpc-port) on the small MLP ([1,256] FP32 in, 10 probabilities
// out), against its baselines in the same run:
//
//   volley-grpc   Volley's ModelInfer, raw_input_contents (bench/lib/grpc-load.ts: 64 calls in
//                 flight over 4 connections, grpc-js's client in this process)
//   volley-stream Volley's ModelStreamInfer (Triton's), the same 64 requests in flight on 4 streams
//   echo-grpc, echo-stream  grpc-js alone answering a prebuilt answer (bench/baselines/grpc-echo.ts),
//                 same client and calls: the gRPC transport's ceiling on this machine
//   volley-http   the same Volley process over HTTP, Triton binary tensors, autocannon at 64
//                 connections (what the core bench's small scenario measures in JSON)
//
// Rounds take turns (--reps, default 3); ratios are medians of per-round ratios.
//
//   npx tsx bench/grpc.ts [--reps 3] [--duration 5]
//
// Results: bench/results/grpc-<time>.json and a table on stdout.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { describeLoad, measured, withServer } from './lib/bench-one.js';
import type { RunningServer } from './lib/server.js';
import { runGrpcLoad } from './lib/grpc-load.js';
import { type LoadResult, runLoad } from './lib/load.js';
import { MLP_SMALL, MLP_SMALL_FEATURES, mlpSmallRow } from './lib/mlp-small.js';
import { gitInfo, machineInfo } from './lib/report.js';
import { prepareScenarios } from './lib/scenarios.js';
import { tsxArgs, volley } from './lib/servers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { reps: { type: 'string' }, duration: { type: 'string' } } });
const REPS = Number(values.reps ?? 3);
const DURATION_S = Number(values.duration ?? 5);
const WARMUP_S = 2;
const CONCURRENCY = 64;
const CHANNELS = 4;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

const tmp = mkdtempSync(join(os.tmpdir(), 'volley-grpc-bench-'));
const [small] = await prepareScenarios(['small'], ROOT, tmp);
const row = Float32Array.from(mlpSmallRow());
const request = { model_name: MLP_SMALL, inputs: [{ name: 'input', datatype: 'FP32', shape: [1, MLP_SMALL_FEATURES] }], raw_input_contents: [Buffer.from(row.buffer)] };
const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [1, MLP_SMALL_FEATURES], datatype: 'FP32', parameters: { binary_data_size: row.byteLength } }] }));
const httpBinary = { body: Buffer.concat([header, Buffer.from(row.buffer)]), headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) } };
const expected = small.probabilities;
/** A real answer: the scenario's probabilities, as float32. */
const check = (answer: { raw_output_contents?: Buffer[] }): boolean => {
  const raw = answer.raw_output_contents?.[0];
  if (raw === undefined || raw.byteLength !== expected.length * 4) return false;
  const got = new Float32Array(Uint8Array.from(raw).buffer);
  return got.every((v, i) => Math.abs(v - expected[i]) < 1e-6);
};
const window = { warmupS: WARMUP_S, durationS: DURATION_S };
const quiet = (): void => {};

interface Round {
  rep: number;
  volleyGrpc: LoadResult;
  volleyStream: LoadResult;
  volleyHttp: LoadResult;
  echoGrpc: LoadResult;
  echoStream: LoadResult;
}

/** Both gRPC modes against `server` (its gRPC on `port`), with its CPU and RSS over each window. */
async function grpcModes(server: RunningServer, port: number): Promise<{ unary: LoadResult; stream: LoadResult }> {
  const run = (mode: 'unary' | 'stream') => measured(server, { url: '', body: '', connections: CONCURRENCY }, DURATION_S, () => runGrpcLoad({ address: `127.0.0.1:${port}`, request, concurrency: CONCURRENCY, channels: CHANNELS, check, mode }, window));
  return { unary: await run('unary'), stream: await run('stream') };
}

async function volleyRound(): Promise<{ grpc: LoadResult; stream: LoadResult; http: LoadResult }> {
  const port = await freePort();
  return withServer(volley(ROOT, small.repository, { args: ['--grpc-port', String(port)] }), quiet, async (server) => {
    const { unary, stream } = await grpcModes(server, port);
    const cfg = { url: `${server.baseUrl}${small.path}`, ...httpBinary, connections: CONCURRENCY };
    await runLoad(cfg, WARMUP_S);
    const http = await measured(server, cfg, DURATION_S);
    return { grpc: unary, stream, http };
  });
}

async function echoRound(): Promise<{ unary: LoadResult; stream: LoadResult }> {
  const port = await freePort();
  const outputs = [{ name: 'probabilities', datatype: 'FP32', shape: [1, expected.length], data: expected }];
  const spec = { id: 'echo-grpc', label: 'grpc-js echo', args: tsxArgs('grpc-echo.ts', '--host', '127.0.0.1', '--port', '0', '--grpc-port', String(port), '--outputs', JSON.stringify(outputs)), cwd: ROOT };
  return withServer(spec, quiet, (server) => grpcModes(server, port));
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const startedAt = new Date().toISOString();
const rounds: Round[] = [];
for (let rep = 1; rep <= REPS; rep++) {
  // Rotating order: neither server always runs first after a quiet spell.
  let v: { grpc: LoadResult; stream: LoadResult; http: LoadResult };
  let e: { unary: LoadResult; stream: LoadResult };
  if (rep % 2 === 1) {
    v = await volleyRound();
    e = await echoRound();
  } else {
    e = await echoRound();
    v = await volleyRound();
  }
  rounds.push({ rep, volleyGrpc: v.grpc, volleyStream: v.stream, volleyHttp: v.http, echoGrpc: e.unary, echoStream: e.stream });
  console.log(
    `round ${rep}: volley gRPC ${describeLoad(v.grpc)}\n         volley gRPC stream ${describeLoad(v.stream)}\n         volley HTTP binary ${describeLoad(v.http)}\n` +
      `         echo gRPC ${describeLoad(e.unary)}\n         echo gRPC stream ${describeLoad(e.stream)}`,
  );
}
rmSync(tmp, { recursive: true, force: true });
const ratio = (a: (r: Round) => LoadResult, b: (r: Round) => LoadResult) => median(rounds.map((r) => a(r).rps / b(r).rps));
const ratios = {
  grpcVsEcho: ratio((r) => r.volleyGrpc, (r) => r.echoGrpc),
  grpcVsHttpBinary: ratio((r) => r.volleyGrpc, (r) => r.volleyHttp),
  streamVsEcho: ratio((r) => r.volleyStream, (r) => r.echoStream),
  streamVsHttpBinary: ratio((r) => r.volleyStream, (r) => r.volleyHttp),
};
const medianRps = (pick: (r: Round) => LoadResult) => Math.round(median(rounds.map((r) => pick(r).rps)));
console.log(
  `\nmedians of ${REPS} rounds (req/s): volley gRPC ${medianRps((r) => r.volleyGrpc)}, gRPC stream ${medianRps((r) => r.volleyStream)}, HTTP binary ${medianRps((r) => r.volleyHttp)}; ` +
    `echo gRPC ${medianRps((r) => r.echoGrpc)}, stream ${medianRps((r) => r.echoStream)}\n` +
    `volley gRPC ÷ echo ${ratios.grpcVsEcho.toFixed(2)}×, ÷ HTTP binary ${ratios.grpcVsHttpBinary.toFixed(2)}×; stream ÷ echo stream ${ratios.streamVsEcho.toFixed(2)}×, ÷ HTTP binary ${ratios.streamVsHttpBinary.toFixed(2)}×`,
);
const report = { kind: 'grpc', startedAt, machine: machineInfo(), node: process.version, git: gitInfo(ROOT), config: { reps: REPS, durationS: DURATION_S, warmupS: WARMUP_S, concurrency: CONCURRENCY, channels: CHANNELS, model: MLP_SMALL }, rounds, ratios };
const file = join(ROOT, 'bench', 'results', `grpc-${startedAt.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
console.log(`wrote ${file}`);
