// The GPU scenario (issue 7): ResNet-50 (FP32, FP16, UINT8 NHWC input) served by Volley on the
// CUDA execution provider, next to onnxruntime-node in-process at the same precision, measured in
// the same run on the same machine.
//
// The GPU machine has production node_modules only (no tsx, no autocannon), so this file is
// compiled (`npm run bench:gpu:build` → dist-bench/bench/gpu.js) and brings its own load
// generator: closed-loop HTTP/1.1 clients (raw sockets, prebuilt Triton binary requests of batch
// 1, pipelining 1) spread over worker threads, so that the client is not one event loop pushing
// gigabytes per second. There (see ../shared/gpu/README.md), after the four cuda* calls:
//
//   source .device/base/env.sh && python3 .device/base/make-resnet.py /tmp/gpu-models &&
//     node dist-bench/bench/gpu.js --models /tmp/gpu-models --out $OUT
//
// Locally (CPU, a smoke run of the same code on any [batch,...] model repository):
//
//   npm run bench:gpu:build && node dist-bench/bench/gpu.js --device cpu --models <repo> \
//     --only image_pool --connections 8 --duration 2 --warmup 1 --ceiling-batches 1,8
//
// For each model: (1) in-process ceiling: one session, `run` in a loop at each batch size, best
// images/s; (2) Volley with the model's config (max_batch_size, dynamic batching, instance_count,
// the device's provider), closed-loop load at each connection count; mean batch and compute time
// come from Volley's /metrics over the same window. Target: Volley ≥ 85% of the ceiling, p99 ≤
// 3 × (max_queue_delay + one batch compute time). Writes gpu-<time>.json and .md.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { ResponseParser } from './lib/http-response-parser.js';
import { clockTicks, sampleProc } from './lib/proc-stats.js';
import { startServer } from './lib/server.js';
import { volley } from './lib/servers.js';
import { batchDelta, scrapeBatches } from './lib/volley-metrics.js';

const HERE = fileURLToPath(import.meta.url);
type Ort = typeof import('onnxruntime-node');

interface ClientJob {
  port: number;
  request: Uint8Array;
  connections: number;
  warmupMs: number;
  durationMs: number;
}

interface ClientResult {
  ok: number;
  failed: number;
  errors: string[];
  /** Latencies of 2xx answers in the measured window, ms. */
  latencies: Float64Array;
}

// ---------------------------------------------------------------------------------------------
// Client thread: `connections` sockets, each sending the same request again as soon as the last
// answer is complete; only answers that arrive inside the window count.
if (!isMainThread) {
  const job = workerData as ClientJob;
  const result = await closedLoop(job);
  parentPort?.postMessage(result, [result.latencies.buffer as ArrayBuffer]);
}

async function closedLoop(job: ClientJob): Promise<ClientResult> {
  const request = Buffer.from(job.request);
  const start = performance.now();
  const windowStart = start + job.warmupMs;
  const windowEnd = windowStart + job.durationMs;
  let latencies = new Float64Array(1 << 16);
  let n = 0;
  let ok = 0;
  let failed = 0;
  const errors: string[] = [];
  const one = (): Promise<void> =>
    new Promise((done) => {
      const socket = net.connect(job.port, '127.0.0.1');
      socket.setNoDelay(true);
      const parser = new ResponseParser();
      let sentAt = 0;
      const send = (): void => {
        if (performance.now() >= windowEnd) {
          socket.end();
          return;
        }
        sentAt = performance.now();
        socket.write(request);
      };
      socket.on('connect', send);
      socket.on('data', (chunk: Buffer) => {
        try {
          parser.feed(chunk, (status) => {
            const now = performance.now();
            if (sentAt >= windowStart && now <= windowEnd) {
              if (status >= 200 && status < 300) {
                ok++;
                if (n === latencies.length) {
                  const grown = new Float64Array(n * 2);
                  grown.set(latencies);
                  latencies = grown;
                }
                latencies[n++] = now - sentAt;
              } else failed++;
            }
            send();
          });
        } catch (err) {
          if (errors.length < 5) errors.push((err as Error).message);
          socket.destroy();
        }
      });
      socket.on('error', (err) => {
        if (errors.length < 5) errors.push(err.message);
      });
      socket.on('close', () => done());
    });
  await Promise.all(Array.from({ length: job.connections }, one));
  return { ok, failed, errors, latencies: latencies.slice(0, n) };
}

// ---------------------------------------------------------------------------------------------
// Main thread (started at the end of the file, once every declaration is initialised).

interface Options {
  models: string;
  only: string[] | null;
  device: string;
  connections: number[];
  durationS: number;
  warmupS: number;
  ceilingBatches: number[];
  ceilingS: number;
  clientThreads: number;
  instances: number;
  maxBatch: number;
  delayUs: number;
  /** Extra `volley serve` flags, e.g. `--worker-threads 4`. */
  volleyArgs: string[];
  out: string;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      models: { type: 'string' },
      only: { type: 'string' },
      device: { type: 'string', default: 'cuda' },
      connections: { type: 'string', default: '64,128,256' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
      'ceiling-batches': { type: 'string', default: '1,16,32,64,128' },
      'ceiling-seconds': { type: 'string', default: '3' },
      'client-threads': { type: 'string', default: String(Math.max(1, Math.min(8, Math.floor(os.availableParallelism() / 2)))) },
      instances: { type: 'string', default: '2' },
      'max-batch': { type: 'string', default: '64' },
      'delay-us': { type: 'string', default: '2000' },
      'volley-args': { type: 'string', default: '' },
      out: { type: 'string', default: join(fileURLToPath(new URL('../..', import.meta.url)), 'bench', 'results') },
    },
  });
  if (values.models === undefined) throw new Error('--models DIR is required (a repository from make-resnet.py: <model>/1/model.onnx)');
  const list = (s: string) => s.split(',').map(Number).filter((x) => Number.isFinite(x) && x > 0);
  return {
    models: resolve(values.models),
    only: values.only === undefined ? null : values.only.split(','),
    device: values.device,
    connections: list(values.connections),
    durationS: Number(values.duration),
    warmupS: Number(values.warmup),
    ceilingBatches: list(values['ceiling-batches']),
    ceilingS: Number(values['ceiling-seconds']),
    clientThreads: Number(values['client-threads']),
    instances: Number(values.instances),
    maxBatch: Number(values['max-batch']),
    delayUs: Number(values['delay-us']),
    volleyArgs: values['volley-args'].split(' ').filter((a) => a !== ''),
    out: resolve(values.out),
  };
}

const say = (msg: string) => process.stderr.write(`[gpu-bench ${(performance.now() / 1000).toFixed(1)}s] ${msg}\n`);

interface InputInfo {
  name: string;
  /** Triton datatype. */
  datatype: 'FP32' | 'FP16' | 'UINT8';
  ortType: 'float32' | 'float16' | 'uint8';
  /** Shape of one image (without the batch dimension). */
  item: number[];
  bytesPerElement: number;
  output: string;
}

interface CeilingPoint {
  batch: number;
  imagesPerS: number;
  msPerBatch: number;
}

interface LoadPoint {
  connections: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  failed: number;
  errors: string[];
  meanBatch: number;
  computeMs: number;
  boundMs: number;
  /** Cores busy in the Volley process over the window (all threads), and in its main thread (the event loop) alone. */
  serverCores: number;
  mainThreadCores: number;
}

interface ModelResult {
  model: string;
  input: InputInfo;
  provider: string;
  ceiling: CeilingPoint[];
  best: CeilingPoint;
  volley: LoadPoint[];
  /** Seconds from starting Volley to its readiness (sessions loaded and warmed up). */
  readyS?: number;
  error?: string;
}

async function main(): Promise<void> {
  const o = options();
  const ort = (await import('onnxruntime-node')).default as Ort;
  const names = (o.only ?? ['resnet50_fp16', 'resnet50_u8', 'resnet50']).filter((m) => existsSync(join(o.models, m, '1', 'model.onnx')));
  if (names.length === 0) throw new Error(`no <model>/1/model.onnx under ${o.models}`);
  const results: ModelResult[] = [];
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  for (const model of names) {
    const file = join(o.models, model, '1', 'model.onnx');
    say(`${model}: in-process ceiling (${o.device})`);
    const { input, ceiling } = await measureCeiling(ort, file, o);
    const best = ceiling.reduce((a, b) => (b.imagesPerS > a.imagesPerS ? b : a));
    say(`${model}: best ${best.imagesPerS.toFixed(0)} img/s at batch ${best.batch}`);
    const result: ModelResult = { model, input, provider: o.device, ceiling, best, volley: [] };
    try {
      await withVolley(o, model, file, async (baseUrl, pid, readyS) => {
        result.readyS = readyS;
        say(`${model}: Volley ready after ${readyS.toFixed(1)} s`);
        const request = tritonRequest(input, `/v2/models/${model}/infer`);
        for (const connections of o.connections) {
          const before = await scrapeBatches(baseUrl, model);
          // CPU over the whole load (warm-up included): what the process and its event loop spend.
          const cpuBefore = cpuOf(pid);
          const load = await runClients(o, Number(new URL(baseUrl).port), request, connections);
          const cpuAfter = cpuOf(pid);
          const { meanBatch, meanComputeMs: computeMs } = batchDelta(before, await scrapeBatches(baseUrl, model));
          const wall = (cpuAfter.at - cpuBefore.at) / 1000;
          const point: LoadPoint = {
            connections,
            ...load,
            meanBatch,
            computeMs,
            boundMs: 3 * (o.delayUs / 1000 + computeMs),
            serverCores: (cpuAfter.process - cpuBefore.process) / wall,
            mainThreadCores: (cpuAfter.main - cpuBefore.main) / wall,
          };
          result.volley.push(point);
          say(`${model} @ ${connections} conn: ${point.rps.toFixed(0)} req/s (${(point.rps / best.imagesPerS).toFixed(2)}× ceiling), p99 ${point.p99.toFixed(2)} ms (bound ${point.boundMs.toFixed(2)}), mean batch ${meanBatch.toFixed(1)}, compute ${computeMs.toFixed(2)} ms, server ${point.serverCores.toFixed(2)} cores (main thread ${point.mainThreadCores.toFixed(2)}), failed ${point.failed}`);
        }
      });
    } catch (err) {
      result.error = (err as Error).message;
      say(`${model}: ${result.error}`);
    }
    results.push(result);
    // Written after each model too, so that a run cut short still leaves what it measured.
    write(o, stamp, results);
  }
}

/** CPU seconds of a process (all threads) and of its main thread, from /proc; NaN where unreadable. */
function cpuOf(pid: number): { at: number; process: number; main: number } {
  const main = (() => {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / clockTicks();
    } catch {
      return NaN;
    }
  })();
  const whole = sampleProc(pid);
  return { at: performance.now(), process: whole?.cpuS ?? NaN, main };
}

async function measureCeiling(ort: Ort, file: string, o: Options): Promise<{ input: InputInfo; ceiling: CeilingPoint[] }> {
  const session = await ort.InferenceSession.create(file, { executionProviders: [o.device], graphOptimizationLevel: 'all', intraOpNumThreads: o.device === 'cpu' ? os.availableParallelism() : 1 });
  try {
    const meta = session.inputMetadata[0] as unknown as { name: string; type: string; shape: (number | string)[] };
    const types = { float32: ['FP32', 4], float16: ['FP16', 2], uint8: ['UINT8', 1] } as const;
    const t = types[meta.type as keyof typeof types];
    if (t === undefined) throw new Error(`input type ${meta.type} is not one the GPU bench sends`);
    const input: InputInfo = { name: meta.name, datatype: t[0], ortType: meta.type as InputInfo['ortType'], item: meta.shape.slice(1).map(Number), bytesPerElement: t[1], output: session.outputNames[0] };
    const ceiling: CeilingPoint[] = [];
    for (const batch of o.ceilingBatches) {
      const data = randomImages(input, batch);
      const tensor = new ort.Tensor(input.ortType, data as never, [batch, ...input.item]);
      const feeds = { [input.name]: tensor };
      for (let i = 0; i < 3; i++) await session.run(feeds);
      let runs = 0;
      const started = performance.now();
      while (performance.now() - started < o.ceilingS * 1000) {
        await session.run(feeds);
        runs++;
      }
      const s = (performance.now() - started) / 1000;
      ceiling.push({ batch, imagesPerS: (runs * batch) / s, msPerBatch: (s * 1000) / runs });
      say(`  batch ${batch}: ${((runs * batch) / s).toFixed(0)} img/s`);
    }
    return { input, ceiling };
  } finally {
    await session.release();
  }
}

/** Random images: bytes for UINT8, values in [0, 1) for FP32, the same as FP16 bit patterns. */
function randomImages(input: InputInfo, batch: number): Float32Array | Uint16Array | Uint8Array {
  const n = batch * input.item.reduce((a, b) => a * b, 1);
  if (input.datatype === 'UINT8') return Uint8Array.from({ length: n }, () => Math.floor(Math.random() * 256));
  if (input.datatype === 'FP32') return Float32Array.from({ length: n }, () => Math.random());
  // FP16 in [2^-7, 1): exponent 8..14, random mantissa.
  return Uint16Array.from({ length: n }, () => ((8 + Math.floor(Math.random() * 7)) << 10) | Math.floor(Math.random() * 1024));
}

/** One image as a whole HTTP/1.1 Triton binary request (JSON header + raw bytes), with the output asked for in binary. */
function tritonRequest(input: InputInfo, path: string): Uint8Array {
  const data = randomImages(input, 1);
  const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: input.name, datatype: input.datatype, shape: [1, ...input.item], parameters: { binary_data_size: raw.byteLength } }],
      outputs: [{ name: input.output, parameters: { binary_data: true } }],
    }),
  );
  const head = Buffer.from(
    `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\nInference-Header-Content-Length: ${header.length}\r\nContent-Length: ${header.length + raw.byteLength}\r\n\r\n`,
  );
  return Buffer.concat([head, header, raw]);
}

async function runClients(o: Options, port: number, request: Uint8Array, connections: number): Promise<Omit<LoadPoint, 'connections' | 'meanBatch' | 'computeMs' | 'boundMs' | 'serverCores' | 'mainThreadCores'>> {
  const threads = Math.max(1, Math.min(o.clientThreads, connections));
  const jobs = Array.from({ length: threads }, (_, i): ClientJob => ({
    port,
    request,
    connections: Math.floor(connections / threads) + (i < connections % threads ? 1 : 0),
    warmupMs: o.warmupS * 1000,
    durationMs: o.durationS * 1000,
  }));
  const results = await Promise.all(
    jobs.map(
      (job) =>
        new Promise<ClientResult>((done, fail) => {
          const w = new Worker(HERE, { workerData: job });
          w.once('message', done);
          w.once('error', fail);
        }),
    ),
  );
  const all = Float64Array.from(results.flatMap((r) => Array.from(r.latencies))).sort();
  const q = (p: number) => (all.length === 0 ? NaN : all[Math.min(all.length - 1, Math.floor(p * all.length))]);
  return {
    rps: results.reduce((a, r) => a + r.ok, 0) / o.durationS,
    p50: q(0.5),
    p90: q(0.9),
    p99: q(0.99),
    failed: results.reduce((a, r) => a + r.failed, 0),
    errors: results.flatMap((r) => r.errors).slice(0, 5),
  };
}

/** Starts Volley (bench/lib/server.ts) on a repository holding just this model, runs `fn` with its base URL, stops it. */
async function withVolley(o: Options, model: string, file: string, fn: (baseUrl: string, pid: number, readyS: number) => Promise<void>): Promise<void> {
  const repo = mkdtempSync(join(os.tmpdir(), 'volley-gpu-'));
  mkdirSync(join(repo, model, '1'), { recursive: true });
  symlinkSync(file, join(repo, model, '1', 'model.onnx'));
  const config = {
    max_batch_size: o.maxBatch,
    dynamic_batching: { preferred_batch_size: [o.maxBatch], max_queue_delay_microseconds: o.delayUs, max_queue_size: 4096 },
    instance_count: o.instances,
    execution_providers: [o.device],
  };
  writeFileSync(join(repo, model, 'config.json'), JSON.stringify(config, null, 2));
  const root = fileURLToPath(new URL('../..', import.meta.url));
  // Loading ResNet-50 on a GPU (CUDA and cuDNN start-up, warm-up) can take a while.
  const server = await startServer(volley(root, repo, { args: ['--monitoring-sample-rate', '0', ...o.volleyArgs] }), 300_000);
  try {
    const ready = await fetch(`${server.baseUrl}/v2/models/${model}/ready`);
    if (ready.status !== 200) throw new Error(`${model} did not load: ${server.tail()}`);
    await fn(server.baseUrl, server.pid, server.readyMs / 1000);
  } finally {
    await server.stop();
    rmSync(repo, { recursive: true, force: true });
  }
}

function deviceName(device: string): string {
  if (device === 'cuda') {
    try {
      return execFileSync('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], { encoding: 'utf8' }).trim();
    } catch {
      return 'cuda (nvidia-smi not available)';
    }
  }
  return `${os.cpus()[0]?.model ?? 'cpu'}, ${os.availableParallelism()} cores`;
}

function write(o: Options, stamp: string, results: ModelResult[]): void {
  // The commit the build wrote down (`npm run bench:gpu:build`) first: on the GPU machine, `git`
  // answered with a stale HEAD (40638df during the runs at 6d0de12 … 0ac32c8, 2026-11-23).
  let commit = 'unknown';
  try {
    commit = readFileSync(join(fileURLToPath(new URL('..', import.meta.url)), 'commit'), 'utf8').trim();
  } catch {
    try {
      commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8' }).trim();
    } catch {
      // neither: 'unknown'
    }
  }
  const meta = { date: new Date().toISOString(), device: deviceName(o.device), provider: o.device, node: process.version, commit, options: o };
  mkdirSync(o.out, { recursive: true });
  const base = join(o.out, `gpu-${stamp}`);
  writeFileSync(`${base}.json`, `${JSON.stringify({ ...meta, results }, null, 2)}\n`);
  const fmt = (x: number, d = 0) => (Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '–');
  const lines = [
    `# Volley GPU benchmark (${meta.date})`,
    '',
    `Device: ${meta.device}; execution provider \`${o.device}\`; Node ${process.version}; commit ${commit}.`,
    `Volley: max_batch_size ${o.maxBatch}, max_queue_delay ${o.delayUs} µs, instance_count ${o.instances}${o.volleyArgs.length ? `, \`${o.volleyArgs.join(' ')}\`` : ''}; clients: closed loop, Triton binary requests of one image, ${o.clientThreads} client threads, ${o.durationS} s after ${o.warmupS} s warm-up.`,
    `Ceiling: onnxruntime-node in-process, one session, \`run\` in a loop for ${o.ceilingS} s per batch size. Bound: 3 × (max_queue_delay + mean batch compute).`,
    '',
    'Server cores: CPU of the Volley process over the load (warm-up included), all threads and the main thread (event loop) alone.',
    '',
    '| model | input | ceiling img/s (batch) | connections | Volley img/s | ÷ ceiling | p50 ms | p99 ms | bound ms | mean batch | compute ms | server cores (main) | failed |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    const input = `${r.input.datatype} [1,${r.input.item.join(',')}]`;
    if (r.volley.length === 0) lines.push(`| ${r.model} | ${input} | ${fmt(r.best.imagesPerS)} (${r.best.batch}) | – | – | – | – | – | – | – | – | – | ${r.error ?? ''} |`);
    for (const p of r.volley) {
      lines.push(`| ${r.model} | ${input} | ${fmt(r.best.imagesPerS)} (${r.best.batch}) | ${p.connections} | ${fmt(p.rps)} | ${fmt(p.rps / r.best.imagesPerS, 2)}× | ${fmt(p.p50, 2)} | ${fmt(p.p99, 2)} | ${fmt(p.boundMs, 2)} | ${fmt(p.meanBatch, 1)} | ${fmt(p.computeMs, 2)} | ${fmt(p.serverCores, 2)} (${fmt(p.mainThreadCores, 2)}) | ${p.failed}${p.errors.length ? ` (${p.errors[0]})` : ''} |`);
    }
  }
  lines.push('', 'Ceiling per batch size (img/s):', '');
  for (const r of results) lines.push(`- ${r.model}: ${r.ceiling.map((c) => `${c.batch}: ${fmt(c.imagesPerS)}`).join(', ')}${r.readyS === undefined ? '' : `; Volley ready after ${fmt(r.readyS, 1)} s`}`);
  writeFileSync(`${base}.md`, `${lines.join('\n')}\n`);
  say(`wrote ${base}.json and .md`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (isMainThread) await main();
