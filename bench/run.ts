// Volley's benchmark harness: every server under test and every baseline in
// the same run, one server at a time.
//
// - tiny, small, heavy, cnn (bench/lib/scenarios.ts): Volley vs Volley with the
//   no-op runtime (server + batcher overhead), a naive node:http + ORT server,
//   a fastify + ORT server and a uWS echo (transport ceiling), plus in-process
//   ORT at batch sizes 1..64 (compute ceiling), with server CPU and RSS.
// - wire (bench/lib/wire-bench.ts): one 602 KB tensor as JSON, Triton binary,
//   msgpack and WebSocket frames, against the echo of the same binary body.
// - multi, overload (bench/lib/capacity.ts): 1 vs 20 models loaded; 3× capacity offered.
// - sweep (bench/lib/sweeps.ts): connections 1..1024 and max_queue_delay 0..5000 µs.
//
//   npm run bench                       # build, then everything (~13-14 min on 2 cores, < 15)
//   npm run bench -- --quick            # smoke run, < 2 min (no tiny or heavy, shorter windows, fewer sweep points)
//   npx tsx bench/run.ts --scenario small --only naive,fastify --duration 5
//
// The load generators (autocannon; bench/lib/paced-load.ts for offered rates) share the cores with the server under test.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { benchOne } from './lib/bench-one.js';
import { benchMultiModel, benchOverload, type ExtraOptions } from './lib/capacity.js';
import { type Ceiling, measureCeiling, summarizeCeilings } from './lib/ceiling.js';
import { expectedSeconds, progressBar } from './lib/progress.js';
import { aggregate, gitInfo, machineInfo, renderMarkdown, type Report, type ScenarioReport, type ServerResult, writeResults } from './lib/report.js';
import { renderCharts } from './lib/report-extra.js';
import { prepareScenarios, type Scenario, SCENARIO_IDS } from './lib/scenarios.js';
import { type BenchServer, echo, fastify, naive, SERVER_IDS, volley, volleyNoop } from './lib/servers.js';
import { sweepConnections, sweepDelay } from './lib/sweeps.js';
import { benchWire, STREAM_SOCKETS } from './lib/wire-bench.js';
import { prepareWire } from './lib/wire-scenario.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS_DIR = join(ROOT, 'bench', 'results');
const ALL_SCENARIOS = [...SCENARIO_IDS, 'wire', 'multi', 'overload', 'sweep'] as const;
type AnyScenarioId = (typeof ALL_SCENARIOS)[number];
const QUICK_SCENARIOS = ALL_SCENARIOS.filter((id) => id !== 'tiny' && id !== 'heavy');

interface Options {
  quick: boolean;
  durationS: number;
  warmupS: number;
  rounds: number;
  connections: number;
  only: string[];
  scenarios: AnyScenarioId[];
  /** wire scenario: WebSocket connections sharing the `connections` requests in flight. */
  streamSockets: number;
  /** Sweeps, multi-model and overload: per point. */
  pointS: number;
  pointWarmupS: number;
  sweepConnections: number[];
  sweepDelaysUs: number[];
  multiModels: number;
  ceilingBatches: number[];
  ceilingS: number;
  /** Pause between servers for sockets and CPU to settle, ms. */
  settleMs: number;
}

/** A comma-separated list of known ids; all of them when the flag is absent. */
function idList<T extends string>(flag: string, raw: string | undefined, known: readonly T[]): T[] {
  if (raw === undefined) return [...known];
  const ids = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = ids.filter((id) => !known.includes(id as T));
  if (unknown.length || ids.length === 0) throw new Error(`--${flag}: expected some of ${known.join(', ')}, got "${raw}"`);
  return known.filter((id) => ids.includes(id));
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string' },
      connections: { type: 'string' },
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      rounds: { type: 'string' },
      scenario: { type: 'string' },
      'stream-sockets': { type: 'string' },
    },
    strict: true,
  });
  const positive = (name: string, raw: string | undefined, fallback: number) => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got "${raw}"`);
    return n;
  };
  const quick = values.quick ?? false;
  const connections = positive('connections', values.connections, 64);
  const streamSockets = positive('stream-sockets', values['stream-sockets'], STREAM_SOCKETS || connections);
  if (streamSockets > connections) throw new Error(`--stream-sockets (${streamSockets}) must not exceed --connections (${connections})`);
  // Budgets: --quick must finish in < 2 min on 2 cores, the full run in < 15 min.
  return {
    quick,
    durationS: positive('duration', values.duration, quick ? 1.5 : 5),
    warmupS: quick ? 0.5 : 2,
    rounds: positive('rounds', values.rounds, quick ? 1 : 3),
    connections,
    streamSockets,
    only: idList('only', values.only, SERVER_IDS),
    // tiny (per-request overhead) and heavy (the mid-weight MLP; cnn is the compute-bound target)
    // are left out of --quick to fit its budget; --scenario tiny,heavy adds them.
    scenarios: idList('scenario', values.scenario ?? (quick ? QUICK_SCENARIOS.join(',') : undefined), ALL_SCENARIOS),
    pointS: quick ? 1 : 3,
    pointWarmupS: quick ? 0.5 : 1,
    sweepConnections: quick ? [1, 16, 256] : [1, 4, 16, 64, 256, 1024],
    sweepDelaysUs: quick ? [0, 2000] : [0, 500, 2000, 5000],
    multiModels: 20,
    // 4: the CNN's best batch size (its activations outgrow the L2 cache beyond ~8).
    ceilingBatches: quick ? [1, 4, 16, 64] : [1, 2, 4, 8, 16, 32, 64],
    ceilingS: quick ? 0.3 : 1,
    settleMs: quick ? 300 : 500,
  };
}

const t0 = performance.now();
/** How long the last run with the same settings took (for the progress bar). */
let expectedS: number | undefined;

function progress(msg: string): void {
  const elapsed = (performance.now() - t0) / 1000;
  console.log(`[bench ${elapsed.toFixed(1).padStart(6)}s] ${progressBar(elapsed, expectedS)}${msg}`);
}

function serversFor(sc: Scenario): BenchServer[] {
  const all = [volley(ROOT, sc.repository), volleyNoop(ROOT, sc.repository), naive(ROOT, sc.modelPath, sc.model), fastify(ROOT, sc.modelPath, sc.model), echo(ROOT, sc.responseFile)];
  if (!sc.binary) return all;
  // Compute bound: Volley (and its no-op twin) get the Triton binary body; echo and fastify add nothing here.
  const binary = { body: sc.binary?.body, headers: sc.binary?.headers };
  return [{ ...all[0], ...binary, label: 'volley (binary)' }, { ...all[1], ...binary, label: 'volley, no-op runtime (binary)' }, all[2]];
}

/** Every selected server on one scenario, `opts.rounds` times in rotating order, then the in-process ceiling. */
async function benchScenario(sc: Scenario, opts: Options): Promise<ScenarioReport> {
  const selected = serversFor(sc).filter((s) => opts.only.includes(s.id));
  const runs = new Map<string, ServerResult[]>(selected.map((s) => [s.id, []]));
  // The compute-bound target (cnn) measures the ceiling after every round and compares round by
  // round: this machine's speed drifts by ±10-25% over tens of seconds, so one ceiling taken
  // minutes after the server's median round would put that drift into the ratio. The others
  // (heavy included, reported but not a target) measure it once, to keep the full run < 15 min.
  const ceilings: (Ceiling | Error)[] = [];
  for (let round = 0; round < opts.rounds; round++) {
    // Rotate the order so no server always runs first (or right after the heaviest one).
    const order = selected.map((_, i) => selected[(i + round) % selected.length]);
    for (const spec of order) {
      progress(`${sc.id}: round ${round + 1}/${opts.rounds}`);
      runs.get(spec.id)?.push(await benchOne(sc, spec, { ...opts, progress }));
      await sleep(opts.settleMs);
    }
    if (sc.id === 'cnn' || round === opts.rounds - 1) ceilings.push(await ceilingRound(sc, opts));
  }
  const { id, model, summary, inputShape, path, body, bodyBytes } = sc;
  const results = selected.map((spec) => aggregate(runs.get(spec.id) ?? []));
  return { id, model, summary, inputShape, path, body, bodyBytes, responseBytes: Buffer.byteLength(sc.response), results, ...summarizeCeilings(ceilings, opts.rounds) };
}

/** The in-process ceiling once (both layouts, every batch size); a failure is returned, not thrown. */
async function ceilingRound(sc: Scenario, opts: Options): Promise<Ceiling | Error> {
  try {
    progress(`${sc.id}/in-process: batch sizes ${opts.ceilingBatches.join(',')}, 1 session × ${os.availableParallelism()} threads and ${os.availableParallelism()} × 1, ${opts.ceilingS} s each`);
    const ceiling = await measureCeiling(ROOT, sc.modelPath, sc.rowShape, opts.ceilingBatches, opts.ceilingS);
    progress(`${sc.id}/in-process: best ${Math.round(ceiling.best.rowsPerS)} rows/s at batch ${ceiling.best.batch}, ${ceiling.best.layout}`);
    return ceiling;
  } catch (err) {
    const error = new Error((err as Error).message.split('\n')[0]);
    progress(`${sc.id}/in-process: failed: ${error.message}`);
    return error;
  }
}

/** Run one whole section; a failure is recorded in the report and the run goes on. */
async function section<T>(report: Report, name: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    report.failures[name] = (err as Error).message;
    progress(`${name}: failed: ${(err as Error).message.split('\n')[0]}`);
    return undefined;
  }
}

async function main(): Promise<number> {
  const opts = parseOptions();
  const machine = machineInfo();
  const { only, streamSockets, ceilingS, settleMs, ...config } = opts;
  const report: Report = {
    kind: 'core',
    startedAt: new Date().toISOString(),
    finishedAt: '',
    machine,
    node: process.version,
    git: gitInfo(ROOT),
    config: {
      ...config,
      method: 'POST',
      loadGenerator:
        'autocannon 9 (programmatic, pipelining 1), inside the bench process; for the wire scenario\'s WebSocket row, ' +
        `bench/lib/stream-load.ts (ws 8, ${streamSockets} sockets sharing the connection count as requests in flight), also in-process; ` +
        'offered-load windows (overload, half of peak in the delay sweep): bench/lib/paced-load.ts, evenly spaced open loop over keep-alive sockets',
      note:
        `the load generator runs in the bench process on the same ${machine.cores} cores as the server under test, ` +
        'so every server gives up CPU to the client; the figures compare servers on this machine, they are not absolute capacity.',
    },
    scenarios: [],
    failures: {},
    charts: [],
  };
  expectedS = expectedSeconds(RESULTS_DIR, report.config as unknown as Record<string, unknown>);
  progress(`${machine.cpuModel}, ${machine.cores} cores, Node ${report.node}; scenarios: ${opts.scenarios.join(', ')}; servers: ${only.join(', ')}${opts.quick ? ' (quick)' : ''}`);
  progress(`note: ${report.config.note}`);

  // Generated models and echo responses live only as long as this run
  // (process 'exit' also fires after the SIGINT handler in lib/server.ts).
  const tmp = mkdtempSync(join(os.tmpdir(), 'volley-bench-'));
  process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
  const has = (id: AnyScenarioId) => opts.scenarios.includes(id);
  const needSmall = ['multi', 'overload', 'sweep'].some((id) => has(id as AnyScenarioId));
  const coreIds = SCENARIO_IDS.filter((id) => has(id) || (id === 'small' && needSmall));
  const scenarios = await prepareScenarios(coreIds, ROOT, tmp);
  for (const sc of scenarios) {
    progress(`${sc.id}: ${sc.model}, input [${sc.inputShape.join(',')}], ${sc.bodyBytes} B body, ${Buffer.byteLength(sc.response)} B response; repository ${sc.repository}`);
  }
  for (const sc of scenarios) if (has(sc.id)) report.scenarios.push(await benchScenario(sc, opts));
  if (has('wire')) {
    // One stream frame per in-flight request: as many as HTTP connections.
    const wire = await prepareWire(tmp, opts.connections);
    const sizes = Object.entries(wire.http).map(([f, b]) => `${f} ${b.body.length} B`).join(', ');
    progress(`wire: ${wire.model}, input [${wire.input.shape.join(',')}], ${wire.payloadBytes} B tensor; ${sizes}, stream frame ${wire.frames[0].length} B; repository ${wire.repository}`);
    const servers = [volley(ROOT, wire.repository), echo(ROOT, wire.responseFile)].filter((s) => only.includes(s.id));
    report.scenarios.push(await benchWire(wire, servers, { ...opts, streamSockets, startupTimeoutMs: 60_000, progress }));
  }

  const small = scenarios.find((sc) => sc.id === 'small');
  const extra: ExtraOptions = { root: ROOT, tmp, warmupS: opts.pointWarmupS, durationS: opts.pointS, connections: opts.connections, progress };
  if (small && has('multi')) report.multiModel = await section(report, 'multi', () => benchMultiModel(small, opts.multiModels, extra));
  if (small && has('overload')) report.overload = await section(report, 'overload', () => benchOverload(small, extra));
  if (small && has('sweep')) {
    // --quick sweeps Volley only; the full run adds the naive and fastify curves.
    const baselines = opts.quick ? [] : [naive(ROOT, small.modelPath, small.model), fastify(ROOT, small.modelPath, small.model)];
    const sweepServers = [volley(ROOT, small.repository), ...baselines].filter((s) => only.includes(s.id));
    report.sweeps = {
      connections: await section(report, 'sweep-connections', () => sweepConnections(small, sweepServers, opts.sweepConnections, extra)),
      delay: await section(report, 'sweep-delay', () => sweepDelay(small, small.model, opts.sweepDelaysUs, extra, echo(ROOT, small.responseFile))),
    };
  }

  report.finishedAt = new Date().toISOString();
  const charts = renderCharts(report);
  report.charts = Object.keys(charts);
  const markdown = renderMarkdown(report);
  const files = writeResults(RESULTS_DIR, report, markdown, charts);
  console.log(`\n${markdown}`);
  for (const f of files) progress(`wrote ${f}`);
  const coreOk = report.scenarios.every((sc) => sc.results.every((r) => r.status === 'ok'));
  return coreOk && Object.keys(report.failures).length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench: ${(err as Error).message}`);
    process.exit(2);
  },
);
