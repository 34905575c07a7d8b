// The response cache's hit path against computing: Volley serving mlp_small over JSON at 64
// connections, every request the same row, without a cache and with one (`response_cache` in the
// model's config and --response-cache-bytes 16 MiB, so every request after the first is a hit).
// The two servers take turns, `--rounds` times; req/s, p99 and server CPU per request.
//
//   npx tsx bench/response-cache.ts [--rounds 3] [--duration 5]
//
// Results: bench/results/response-cache-<time>.json (and a line per window on stdout).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { measured, withServer } from './lib/bench-one.js';
import { runLoad } from './lib/load.js';
import { MLP_SMALL, MLP_SMALL_CONFIG, mlpSmallRow, writeMlpSmallRepo } from './lib/mlp-small.js';
import { gitInfo, machineInfo } from './lib/report.js';
import { volley } from './lib/servers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { rounds: { type: 'string' }, duration: { type: 'string' } } });
const ROUNDS = Number(values.rounds ?? 3);
const DURATION_S = Number(values.duration ?? 5);
const tmp = mkdtempSync(join(os.tmpdir(), 'volley-cache-'));
const repo = join(tmp, 'repository');
writeMlpSmallRepo(repo, MLP_SMALL, { ...MLP_SMALL_CONFIG, response_cache: { enable: true } });
const body = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 256], datatype: 'FP32', data: mlpSmallRow() }] });
const specs = { computed: volley(ROOT, repo, { id: 'computed', label: 'volley, no response cache' }), hits: volley(ROOT, repo, { id: 'hits', label: 'volley, every request a cache hit', args: ['--response-cache-bytes', String(16 * 2 ** 20)] }) };

const startedAt = new Date().toISOString();
const rows: { server: string; round: number; rps: number; p99: number; cpuUsPerRequest: number }[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  for (const id of ['computed', 'hits'] as const) {
    const r = await withServer(specs[id], () => undefined, async (server) => {
      const cfg = { url: `${server.baseUrl}/v2/models/${MLP_SMALL}/infer`, body, connections: 64 };
      await runLoad(cfg, 2);
      return measured(server, cfg, DURATION_S);
    });
    rows.push({ server: id, round, rps: r.rps, p99: r.latencyMs.p99, cpuUsPerRequest: r.proc?.cpuUsPerRequest ?? NaN });
    console.log(`${id.padEnd(8)} round ${round}: ${Math.round(r.rps)} req/s, p99 ${r.latencyMs.p99.toFixed(2)} ms, server CPU ${(r.proc?.cpuUsPerRequest ?? NaN).toFixed(1)} µs per request`);
  }
}
rmSync(tmp, { recursive: true, force: true });
const file = join(ROOT, 'bench', 'results', `response-cache-${startedAt.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify({ kind: 'response-cache', startedAt, machine: machineInfo(), node: process.version, git: gitInfo(ROOT), config: { rounds: ROUNDS, durationS: DURATION_S, connections: 64 }, rows }, null, 2)}\n`);
console.log(`wrote ${file}`);
