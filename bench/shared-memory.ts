// Triton's system shared memory against Triton binary tensors over HTTP, for a large tensor: a
// model that adds a constant to [1, 150528] FP32 (an image's 3×224×224, 588 KiB in and out, so
// nearly all the cost is moving the tensor). Closed loop, `--clients` clients in this process
// (node:http with keep-alive). Binary: the client sends the JSON header and the input's bytes,
// and reads the output's bytes from the answer. Shared memory: each client has its own input and
// output regions in /dev/shm, writes the input there, sends only the JSON header, and reads the
// output from its region after the answer: what a tritonclient user does. The two take turns,
// `--rounds` times, on one server started with --allow-client-shm.
//
//   npm run build && npx tsx bench/shared-memory.ts [--rounds 3] [--duration 5] [--clients 8]
//
// Results: bench/results/shared-memory-<time>.json (and a line per window on stdout).
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { addConst } from '../scripts/onnx/versioned.js';
import { withServer } from './lib/bench-one.js';
import { procCost, sampleProc } from './lib/proc-stats.js';
import { writeModelRepo } from './lib/repository.js';
import { gitInfo, machineInfo } from './lib/report.js';
import { volley } from './lib/servers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { rounds: { type: 'string' }, duration: { type: 'string' }, clients: { type: 'string' } } });
const ROUNDS = Number(values.rounds ?? 3);
const DURATION_S = Number(values.duration ?? 5);
const CLIENTS = Number(values.clients ?? 8);
const WIDTH = 3 * 224 * 224;
const BYTES = WIDTH * 4;

const tmp = mkdtempSync(join(os.tmpdir(), 'volley-shm-'));
const repo = join(tmp, 'repository');
writeModelRepo(repo, 'add', { max_batch_size: 8, dynamic_batching: { max_queue_delay_microseconds: 0 } }, addConst(0.5, WIDTH));
const prefix = `volley-bench-${process.pid}`;
const objects: string[] = [];
const fds: number[] = [];
const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });

const INFER = '/v2/models/add/infer';

function post(port: number, path: string, body: Buffer, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path, agent, headers: { ...headers, 'Content-Length': String(body.length) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** One client's request loop; returns the answers counted (each checked). */
type Client = (port: number, until: number) => Promise<number>;

const input = new Float32Array(WIDTH).map((_, i) => i % 251);
const expectAt = (out: Float32Array) => out[0] === 0.5 && out[WIDTH - 1] === ((WIDTH - 1) % 251) + 0.5;

function binaryClient(): Client {
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, WIDTH], datatype: 'FP32', parameters: { binary_data_size: BYTES } }], outputs: [{ name: 'y', parameters: { binary_data: true } }] }));
  return async (port, until) => {
    let n = 0;
    while (performance.now() < until) {
      const res = await post(port, INFER, Buffer.concat([header, Buffer.from(input.buffer)]), { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(header.length) });
      const at = Number(res.headers['inference-header-content-length']);
      const out = new Float32Array(res.body.buffer.slice(res.body.byteOffset + at, res.body.byteOffset + at + BYTES));
      if (res.status !== 200 || !expectAt(out)) throw new Error(`binary: unexpected answer ${res.status} ${res.body.subarray(0, 200).toString()}`);
      n++;
    }
    return n;
  };
}

/** Client `k`'s regions (registered here) and its request loop. */
async function shmClient(port: number, k: number): Promise<Client> {
  const [inKey, outKey] = [`${prefix}-in-${k}`, `${prefix}-out-${k}`];
  for (const key of [inKey, outKey]) {
    writeFileSync(`/dev/shm/${key}`, Buffer.alloc(BYTES));
    objects.push(`/dev/shm/${key}`);
  }
  for (const [name, key] of [[`in${k}`, inKey], [`out${k}`, outKey]]) {
    const res = await post(port, `/v2/systemsharedmemory/region/${name}/register`, Buffer.from(JSON.stringify({ key: `/${key}`, offset: 0, byte_size: BYTES })), { 'Content-Type': 'application/json' });
    if (res.status !== 200) throw new Error(`register ${name}: ${res.body.toString()}`);
  }
  const inFd = openSync(`/dev/shm/${inKey}`, 'r+');
  const outFd = openSync(`/dev/shm/${outKey}`, 'r');
  const body = Buffer.from(JSON.stringify({
    inputs: [{ name: 'x', shape: [1, WIDTH], datatype: 'FP32', parameters: { shared_memory_region: `in${k}`, shared_memory_byte_size: BYTES } }],
    outputs: [{ name: 'y', parameters: { shared_memory_region: `out${k}`, shared_memory_byte_size: BYTES } }],
  }));
  const out = new Float32Array(WIDTH);
  const outBytes = new Uint8Array(out.buffer);
  fds.push(inFd, outFd);
  return async (p, until) => {
    let n = 0;
    while (performance.now() < until) {
      writeSync(inFd, new Uint8Array(input.buffer), 0, BYTES, 0);
      out.fill(0);
      const res = await post(p, INFER, body, { 'Content-Type': 'application/json' });
      readSync(outFd, outBytes, 0, BYTES, 0);
      if (res.status !== 200 || !expectAt(out)) throw new Error(`shm: unexpected answer ${res.status} ${res.body.subarray(0, 200).toString()}`);
      n++;
    }
    return n;
  };
}

const startedAt = new Date().toISOString();
const rows: { transport: string; round: number; rps: number; cpuUsPerRequest: number; mbPerS: number }[] = [];
try {
  await withServer(volley(ROOT, repo, { args: ['--allow-client-shm'] }), () => undefined, async (server) => {
    const port = server.port;
    const shm: Client[] = [];
    for (let k = 0; k < CLIENTS; k++) shm.push(await shmClient(port, k));
    const binary = Array.from({ length: CLIENTS }, binaryClient);
    for (let round = 0; round <= ROUNDS; round++) {
      for (const [transport, clients] of [['binary', binary], ['shared-memory', shm]] as const) {
        // Round 0 is a warmup of 1 s for each.
        const seconds = round === 0 ? 1 : DURATION_S;
        const before = sampleProc(server.pid);
        const t0 = performance.now();
        const counts = await Promise.all(clients.map((c) => c(port, t0 + seconds * 1000)));
        const elapsed = (performance.now() - t0) / 1000;
        const n = counts.reduce((a, b) => a + b, 0);
        const cost = procCost(before, sampleProc(server.pid), n);
        if (round === 0) continue;
        const row = { transport, round, rps: n / elapsed, cpuUsPerRequest: cost?.cpuUsPerRequest ?? NaN, mbPerS: (n * 2 * BYTES) / elapsed / 2 ** 20 };
        rows.push(row);
        console.log(`${transport.padEnd(13)} round ${round}: ${Math.round(row.rps)} req/s (${Math.round(row.mbPerS)} MiB/s of tensors in and out), server CPU ${row.cpuUsPerRequest.toFixed(0)} µs per request`);
      }
      if (round > 0) {
        const [b, s] = rows.slice(-2);
        console.log(`round ${round}: shared memory ÷ binary ${(s.rps / b.rps).toFixed(2)}× req/s, ${(s.cpuUsPerRequest / b.cpuUsPerRequest).toFixed(2)}× server CPU per request`);
      }
    }
  });
} finally {
  // Also when a client throws: no object is left in /dev/shm.
  agent.destroy();
  for (const fd of fds) closeSync(fd);
  for (const f of objects) rmSync(f, { force: true });
  rmSync(tmp, { recursive: true, force: true });
}
const file = join(ROOT, 'bench', 'results', `shared-memory-${startedAt.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify({ kind: 'shared-memory', startedAt, machine: machineInfo(), node: process.version, git: gitInfo(ROOT), config: { rounds: ROUNDS, durationS: DURATION_S, clients: CLIENTS, tensorBytes: BYTES }, rows }, null, 2)}\n`);
console.log(`wrote ${file}`);
