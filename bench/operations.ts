// Operations benchmark: what hot swaps, shadow traffic and drift monitoring cost the client.
//
//   hotswap: Volley serving mlp_small at 64 connections. A steady window, then a window of the
//            same length during which the model is swapped to a new version 5 times (explicit:
//            POST /v2/repository/models/m/load; poll: a new version directory, --repository-poll-secs
//            0.5). Reports p99 during swaps / p99 steady, and every failed request.
//   shadow:  the same model at a fixed offered load (a fraction of measured capacity), without and
//            with a 100% shadow of an equally fast version; reports primary p50 with / without,
//            and how many shadow requests ran, were dropped or failed.
//   monitoring: the tiny example model (4 features, where per-request overhead shows most) at 64
//            connections, drift monitoring sampling 1% vs off: two servers side by side taking the
//            load in turns (off/on/on/off, twice per round); throughput ratio.
//
//   npm run bench:ops                          # 3 rounds, 10 s windows
//   npm run bench:ops -- --quick               # 1 round, 4 s windows
//   npx tsx bench/operations.ts --scenario shadow --rounds 1
//
// Results: bench/results/operations-<time>.json, latest-operations.{json,md}.
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { lcg, mlpClassifier } from '../scripts/onnx/mlp.js';
import { type LoadResult, runLoad } from './lib/load.js';
import { runLoadOrPaced } from './lib/paced-load.js';
import { MLP_SMALL_CONFIG } from './lib/mlp-small.js';
import { gitInfo, machineInfo, median } from './lib/report.js';
import { type RunningServer, startServer } from './lib/server.js';
import { VOLLEY_NODE_FLAGS } from './lib/servers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = join(ROOT, 'bench', 'results');
const FEATURES = 256;
const BATCHING = MLP_SMALL_CONFIG;
const SWAPS = 5;

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, rounds: { type: 'string' }, duration: { type: 'string' }, scenario: { type: 'string' }, 'shadow-load': { type: 'string' } } });
const ROUNDS = Number(values.rounds ?? (values.quick ? 1 : 3));
const DURATION_S = Number(values.duration ?? (values.quick ? 4 : 10));
const SCENARIOS = (values.scenario ?? 'hotswap,shadow,monitoring').split(',');
/** Shadow scenario's offered load, as a fraction of the capacity measured without shadow. */
const SHADOW_LOAD = Number(values['shadow-load'] ?? 0.5);
const t0 = performance.now();
const progress = (msg: string): void => console.log(`[ops ${((performance.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}`);

/** The mlp_small architecture with weights drawn from `seed`: each seed is a "retrained" version. */
const model = (seed: number): Uint8Array =>
  mlpClassifier({ name: `mlp_small_${seed}`, sizes: [FEATURES, 256, 256, 10], rand: lcg(seed), weightScale: (fanIn) => Math.sqrt(2 / fanIn), biasScale: 0.01 });

function writeAtomic(path: string, data: Uint8Array | string): void {
  writeFileSync(`${path}.tmp`, data);
  renameSync(`${path}.tmp`, path);
}

function writeVersion(repo: string, v: number): void {
  mkdirSync(join(repo, 'm', String(v)), { recursive: true });
  writeAtomic(join(repo, 'm', String(v), 'model.onnx'), model(1000 + v));
}

function makeRepo(tmp: string, config: object, versions: number[]): string {
  const repo = mkdtempSync(join(tmp, 'repo-'));
  mkdirSync(join(repo, 'm'));
  writeAtomic(join(repo, 'm', 'config.json'), JSON.stringify({ ...BATCHING, ...config }));
  for (const v of versions) writeVersion(repo, v);
  return repo;
}

const BODY = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, FEATURES], data: Array.from({ length: FEATURES }, (_, i) => Math.sin(i) / 2) }] });

const TINY_BODY = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: [5.1, 3.5, 1.4, 0.2] }] });

interface MonitoringRound {
  off: ReturnType<typeof brief>;
  on: ReturnType<typeof brief>;
  ratio: number;
  sampledRows: number;
}

/**
 * Monitoring at 1% vs off on the example classifier. Both servers run side by side (the idle one
 * costs nothing) and take the load in turns, off/on/on/off (ABBA) in short windows, so that drift
 * in the machine's speed, and the luck of one process's placement, fall on both sides equally.
 */
async function monitoringRound(round: number): Promise<MonitoringRound> {
  const servers: Record<string, RunningServer> = {};
  for (const rate of ['0', '0.01']) servers[rate] = await volley(join(ROOT, 'models'), ['--monitoring-sample-rate', rate]);
  const runs: Record<string, LoadResult[]> = { '0': [], '0.01': [] };
  const windowS = Math.max(2, Math.round(DURATION_S / 2));
  try {
    const cfg = (rate: string) => ({ url: `${servers[rate].baseUrl}/v2/models/mlp_classifier/infer`, body: TINY_BODY, connections: 64 });
    for (const rate of ['0', '0.01']) await runLoad(cfg(rate), 2);
    const order = round % 2 === 0 ? ['0', '0.01', '0.01', '0'] : ['0.01', '0', '0', '0.01'];
    for (const rate of [...order, ...order]) runs[rate].push(await runLoad(cfg(rate), windowS));
    const monitoring = (await (await fetch(`${servers['0.01'].baseUrl}/v2/models/mlp_classifier/monitoring`)).json()) as { report: { sampled_rows: number } | null };
    const total = (rs: LoadResult[]): LoadResult => ({ ...rs[0], rps: rs.reduce((a, r) => a + r.rps, 0) / rs.length });
    const off = total(runs['0']);
    const on = total(runs['0.01']);
    const r = { off: brief(off), on: brief(on), ratio: on.rps / off.rps, sampledRows: monitoring.report?.sampled_rows ?? 0 };
    progress(`monitoring: off ${r.off.rps} req/s, 1% ${r.on.rps} req/s (${r.ratio.toFixed(3)}x), ${r.sampledRows} rows sampled`);
    return r;
  } finally {
    for (const s of Object.values(servers)) await s.stop();
  }
}

async function volley(repo: string, flags: string[]): Promise<RunningServer> {
  const args = [...VOLLEY_NODE_FLAGS, 'bin/volley.js', 'serve', '--model-repository', repo, '--host', '127.0.0.1', '--port', '0', ...flags];
  return startServer({ id: 'volley', label: 'volley', args, cwd: ROOT }, 30_000);
}

/** Closed loop, or with `rate` evenly paced open loop (paced-load.ts: autocannon's overallRate sends it in one-second bursts). */
const load = (s: RunningServer, durationS: number, connections = 64, rate?: number): Promise<LoadResult> =>
  runLoadOrPaced({ url: `${s.baseUrl}/v2/models/m/infer`, body: BODY, connections, rate }, durationS);

const failed = (r: LoadResult): number => r.non2xx + r.errors;
const brief = (r: LoadResult) => ({ rps: Math.round(r.rps), p50: r.latencyMs.p50, p99: r.latencyMs.p99, failed: failed(r), statusCodes: r.statusCodes });

interface SwapRound {
  mode: string;
  steady: ReturnType<typeof brief>;
  swapping: ReturnType<typeof brief>;
  loadMs: number[];
  p99Ratio: number;
  finalVersion: string;
}

/** Swaps SWAPS times, evenly spread over the window; explicit: the load API, poll: just the files. */
async function swapDuring(s: RunningServer, repo: string, mode: string, first: number): Promise<number[]> {
  const loadMs: number[] = [];
  for (let i = 0; i < SWAPS; i++) {
    await sleep((DURATION_S * 1000) / (SWAPS + 1));
    writeVersion(repo, first + i);
    if (mode !== 'explicit') continue;
    const started = performance.now();
    const res = await fetch(`${s.baseUrl}/v2/repository/models/m/load`, { method: 'POST' });
    if (res.status !== 200) throw new Error(`load failed: ${res.status} ${await res.text()}`);
    loadMs.push(Math.round(performance.now() - started));
  }
  return loadMs;
}

async function hotswapRound(tmp: string, mode: 'explicit' | 'poll'): Promise<SwapRound> {
  const repo = makeRepo(tmp, {}, [1]);
  const flags = mode === 'explicit' ? ['--model-control-mode', 'explicit', '--load-model', 'm'] : ['--model-control-mode', 'poll', '--repository-poll-secs', '0.5'];
  const s = await volley(repo, flags);
  try {
    await load(s, 2);
    const steady = await load(s, DURATION_S);
    const [swapping, loadMs] = await Promise.all([load(s, DURATION_S), swapDuring(s, repo, mode, 2)]);
    // Poll mode: the last version may still be loading when the window closes; let it land.
    await sleep(mode === 'poll' ? 2000 : 0);
    const answer = (await (await fetch(`${s.baseUrl}/v2/models/m/infer`, { method: 'POST', body: BODY, headers: { 'content-type': 'application/json' } })).json()) as { model_version: string };
    const round = { mode, steady: brief(steady), swapping: brief(swapping), loadMs, p99Ratio: swapping.latencyMs.p99 / steady.latencyMs.p99, finalVersion: answer.model_version };
    progress(`hotswap/${mode}: steady ${round.steady.rps} req/s p99 ${round.steady.p99.toFixed(2)} ms; swapping ${round.swapping.rps} req/s p99 ${round.swapping.p99.toFixed(2)} ms (${round.p99Ratio.toFixed(2)}x), ${round.swapping.failed} failed, final version ${round.finalVersion}`);
    return round;
  } finally {
    await s.stop();
  }
}

interface ShadowRound {
  capacityRps: number;
  offeredRps: number;
  plain: ReturnType<typeof brief>;
  shadowed: ReturnType<typeof brief>;
  p50Ratio: number;
  shadowStats: unknown;
}

async function shadowRound(tmp: string): Promise<ShadowRound> {
  const plainRepo = makeRepo(tmp, {}, [1]);
  const shadowRepo = makeRepo(tmp, { version_policy: { all: {} }, routing: { default: 1, shadow: { version: 2, percent: 100 } } }, [1, 2]);
  let s = await volley(plainRepo, []);
  let plain: LoadResult;
  let capacity: LoadResult;
  let offered: number;
  try {
    await load(s, 2);
    capacity = await load(s, DURATION_S);
    offered = Math.round(capacity.rps * SHADOW_LOAD);
    plain = await load(s, DURATION_S, 16, offered);
  } finally {
    await s.stop();
  }
  s = await volley(shadowRepo, []);
  try {
    await load(s, 2, 16, offered);
    const shadowed = await load(s, DURATION_S, 16, offered);
    const report = (await (await fetch(`${s.baseUrl}/v2/models/m/routing`)).json()) as { comparisons: unknown[] };
    const round = { capacityRps: Math.round(capacity.rps), offeredRps: offered, plain: brief(plain), shadowed: brief(shadowed), p50Ratio: shadowed.latencyMs.p50 / plain.latencyMs.p50, shadowStats: report.comparisons[0] };
    progress(`shadow: capacity ${round.capacityRps} req/s, offered ${offered}; p50 ${round.plain.p50.toFixed(2)} -> ${round.shadowed.p50.toFixed(2)} ms (${round.p50Ratio.toFixed(2)}x); shadow ${JSON.stringify(round.shadowStats)}`);
    return round;
  } finally {
    await s.stop();
  }
}

function markdown(report: { hotswap: SwapRound[]; shadow: ShadowRound[]; monitoring: MonitoringRound[]; startedAt: string; git: unknown }): string {
  const lines = [`# Operations bench (${report.startedAt})`, '', `Rounds ${ROUNDS}, windows ${DURATION_S} s, ${SWAPS} swaps per window, mlp_small (256-256-256-10) JSON [1,256], 64 connections.`, ''];
  if (report.hotswap.length > 0) {
    lines.push('| mode | steady req/s | steady p99 ms | swapping req/s | swapping p99 ms | p99 ratio (median) | failed | load API ms |', '|---|---|---|---|---|---|---|---|');
    for (const mode of ['explicit', 'poll']) {
      const rs = report.hotswap.filter((r) => r.mode === mode);
      if (rs.length === 0) continue;
      const m = (f: (r: SwapRound) => number) => median(rs.map(f));
      lines.push(`| ${mode} | ${Math.round(m((r) => r.steady.rps))} | ${m((r) => r.steady.p99).toFixed(2)} | ${Math.round(m((r) => r.swapping.rps))} | ${m((r) => r.swapping.p99).toFixed(2)} | ${m((r) => r.p99Ratio).toFixed(2)}x | ${rs.reduce((a, r) => a + r.swapping.failed + r.steady.failed, 0)} | ${rs.flatMap((r) => r.loadMs).join(', ') || '–'} |`);
    }
    lines.push('');
  }
  if (report.shadow.length > 0) {
    const m = (f: (r: ShadowRound) => number) => median(report.shadow.map(f));
    lines.push('| capacity req/s | offered req/s | p50 no shadow ms | p50 100% shadow ms | p50 ratio (median) | p99 no shadow | p99 shadow |', '|---|---|---|---|---|---|---|');
    lines.push(`| ${Math.round(m((r) => r.capacityRps))} | ${Math.round(m((r) => r.offeredRps))} | ${m((r) => r.plain.p50).toFixed(2)} | ${m((r) => r.shadowed.p50).toFixed(2)} | ${m((r) => r.p50Ratio).toFixed(2)}x | ${m((r) => r.plain.p99).toFixed(2)} | ${m((r) => r.shadowed.p99).toFixed(2)} |`, '');
  }
  if (report.monitoring.length > 0) {
    const m = (f: (r: MonitoringRound) => number) => median(report.monitoring.map(f));
    lines.push('Drift monitoring, tiny example model (4 features), JSON, 64 connections:', '');
    lines.push('| monitoring off req/s | 1% sampling req/s | ratio (median of rounds) | rows sampled |', '|---|---|---|---|');
    lines.push(`| ${Math.round(m((r) => r.off.rps))} | ${Math.round(m((r) => r.on.rps))} | ${m((r) => r.ratio).toFixed(3)}x | ${m((r) => r.sampledRows)} |`, '');
  }
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(os.tmpdir(), 'volley-rollout-'));
  process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
  const startedAt = new Date().toISOString();
  const hotswap: SwapRound[] = [];
  const shadow: ShadowRound[] = [];
  const monitoring: MonitoringRound[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    progress(`round ${round + 1}/${ROUNDS}`);
    if (SCENARIOS.includes('hotswap')) for (const mode of ['explicit', 'poll'] as const) hotswap.push(await hotswapRound(tmp, mode));
    if (SCENARIOS.includes('shadow')) shadow.push(await shadowRound(tmp));
    if (SCENARIOS.includes('monitoring')) monitoring.push(await monitoringRound(round));
  }
  const report = { kind: 'operations', startedAt, finishedAt: new Date().toISOString(), machine: machineInfo(), node: process.version, git: gitInfo(ROOT), config: { rounds: ROUNDS, durationS: DURATION_S, swaps: SWAPS, shadowLoad: SHADOW_LOAD }, hotswap, shadow, monitoring };
  const md = markdown(report);
  mkdirSync(RESULTS, { recursive: true });
  const json = `${JSON.stringify(report, null, 2)}\n`;
  writeAtomic(join(RESULTS, `operations-${startedAt.replace(/[:.]/g, '-')}.json`), json);
  writeAtomic(join(RESULTS, 'latest-operations.json'), json);
  writeAtomic(join(RESULTS, 'latest-operations.md'), md);
  console.log(`\n${md}`);
  const anyFailed = hotswap.some((r) => r.swapping.failed + r.steady.failed > 0);
  process.exit(anyFailed ? 1 : 0);
}

main().catch((err: unknown) => {
  console.error(`operations bench: ${(err as Error).stack ?? String(err)}`);
  process.exit(2);
});
