// Core benchmark: Volley vs a naive node:http + onnxruntime-node server vs a
// uWebSockets.js echo (the transport ceiling), one after another, same load,
// for each scenario (bench/lib/scenarios.ts): a tiny model bound by
// per-request overhead and a small one with compute for batching to share.
// Then `wire` (bench/lib/wire-bench.ts): one image-sized tensor sent to Volley
// as JSON, Triton binary, msgpack and WebSocket frames, against the echo of
// the same binary body (naive speaks JSON only, so it has no row there).
//
//   npm run bench                       # build, then 3 rounds per scenario (tiny, small, wire), 10 s each
//   npm run bench -- --quick            # 1 round, 3 s each
//   npx tsx bench/run.ts --scenario small --only naive,echo --duration 5 --connections 64
//   npx tsx bench/run.ts --scenario wire --rounds 1 --duration 5 --stream-sockets 4
//
// Servers run one at a time so they never compete with each other for the 2
// cores; the load generator (autocannon) does share the cores with the server.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkInfer, type LoadConfig, runLoad } from './lib/load.js';
import { aggregate, gitInfo, machineInfo, renderMarkdown, type Report, type ScenarioReport, type ServerResult, writeResults } from './lib/report.js';
import { prepareScenarios, type Scenario, SCENARIO_IDS, type ScenarioId } from './lib/scenarios.js';
import { type ServerSpec, startServer } from './lib/server.js';
import { benchWire, STREAM_SOCKETS } from './lib/wire-bench.js';
import { prepareWire } from './lib/wire-scenario.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS_DIR = join(ROOT, 'bench', 'results');
const WARMUP_S = 2;
// Volley spawns worker threads and loads models before it is ready.
const STARTUP_TIMEOUT_MS = 30_000;
const SERVER_IDS = ['volley', 'naive', 'echo'];
const ALL_SCENARIOS = [...SCENARIO_IDS, 'wire'] as const;
type AnyScenarioId = (typeof ALL_SCENARIOS)[number];

// Baselines run through tsx's loader in a plain `node` process: no npx or
// wrapper process in between, so SIGTERM/SIGKILL reach the server itself.
const tsx = (file: string, ...flags: string[]) => ['--import', 'tsx', join('bench', 'baselines', file), '--host', '127.0.0.1', '--port', '0', ...flags];
const volley = (repository: string): ServerSpec => ({
  id: 'volley',
  label: 'volley',
  args: ['bin/volley.js', 'serve', '--model-repository', repository, '--host', '127.0.0.1', '--port', '0'],
  cwd: ROOT,
});
const echo = (responseFile: string): ServerSpec => ({ id: 'echo', label: 'echo (uWS, no inference)', args: tsx('uws-echo.ts', '--response-file', responseFile), cwd: ROOT });
function serversFor(sc: Scenario): ServerSpec[] {
  return [
    volley(sc.repository),
    { id: 'naive', label: 'naive (node:http + ort)', args: tsx('naive-http.ts', '--model', sc.modelPath, '--name', sc.model), cwd: ROOT },
    echo(sc.responseFile),
  ];
}

interface Options {
  durationS: number;
  rounds: number;
  connections: number;
  only: string[];
  scenarios: AnyScenarioId[];
  /** wire scenario: WebSocket connections sharing the `connections` requests in flight. */
  streamSockets: number;
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
  const connections = positive('connections', values.connections, 64);
  const streamSockets = positive('stream-sockets', values['stream-sockets'], STREAM_SOCKETS);
  if (streamSockets > connections) throw new Error(`--stream-sockets (${streamSockets}) must not exceed --connections (${connections})`);
  return {
    durationS: positive('duration', values.duration, values.quick ? 3 : 10),
    rounds: positive('rounds', values.rounds, values.quick ? 1 : 3),
    connections,
    streamSockets,
    only: idList('only', values.only, SERVER_IDS),
    scenarios: idList('scenario', values.scenario, ALL_SCENARIOS),
  };
}

const t0 = performance.now();
function progress(msg: string): void {
  const s = ((performance.now() - t0) / 1000).toFixed(1).padStart(6);
  console.log(`[bench ${s}s] ${msg}`);
}

async function benchOne(sc: Scenario, spec: ServerSpec, opts: Options): Promise<ServerResult> {
  const result: ServerResult = { id: spec.id, label: spec.label, status: 'failed' };
  const say = (msg: string) => progress(`${sc.id}/${spec.id}: ${msg}`);
  if (spec.id === 'volley' && !existsSync(join(ROOT, 'bin', 'volley.js'))) {
    result.error = 'bin/volley.js does not exist (server not written yet?)';
    say(`skipped: ${result.error}`);
    return result;
  }

  say(`starting: node ${spec.args.join(' ')}`);
  let server;
  try {
    server = await startServer(spec, STARTUP_TIMEOUT_MS);
  } catch (err) {
    result.error = (err as Error).message;
    say(`failed to start: ${result.error}`);
    return result;
  }
  result.startup = { listeningMs: Math.round(server.listeningMs), readyMs: Math.round(server.readyMs) };
  say(`pid ${server.pid} on port ${server.port}, listening after ${result.startup.listeningMs} ms, ready after ${result.startup.readyMs} ms`);

  try {
    const cfg: LoadConfig = { url: `${server.baseUrl}${sc.path}`, body: sc.body, connections: opts.connections };
    result.check = await checkInfer(cfg, sc.probabilities);
    say(`sanity request: ${result.check.note} (${result.check.bytes} B response, reference ${Buffer.byteLength(sc.response)} B)`);

    say(`warm-up ${WARMUP_S} s`);
    await runLoad(cfg, WARMUP_S);
    say(`measuring ${opts.durationS} s at ${opts.connections} connections`);
    const load = await runLoad(cfg, opts.durationS);
    result.load = load;
    result.status = 'ok';
    say(
      `${Math.round(load.rps)} req/s, p50 ${load.latencyMs.p50.toFixed(2)} ms, p99 ${load.latencyMs.p99.toFixed(2)} ms, ` +
        `${load.non2xx} non-2xx, ${load.errors} errors, ${load.timeouts} timeouts`,
    );
  } catch (err) {
    result.error = `load run failed: ${(err as Error).message}\n${server.tail()}`;
    say(result.error);
  } finally {
    result.stop = await server.stop();
    say(`stopped (${result.stop.how}, code ${result.stop.code}, signal ${result.stop.signal}, ${result.stop.ms} ms)`);
  }
  return result;
}

/** Every selected server on one scenario, `opts.rounds` times in rotating order. */
async function benchScenario(sc: Scenario, opts: Options): Promise<ScenarioReport> {
  const selected = serversFor(sc).filter((s) => opts.only.includes(s.id));
  const runs = new Map<string, ServerResult[]>(selected.map((s) => [s.id, []]));
  for (let round = 0; round < opts.rounds; round++) {
    // Rotate the order so no server always runs first (or right after the heaviest one).
    const order = selected.map((_, i) => selected[(i + round) % selected.length]);
    for (const spec of order) {
      progress(`${sc.id}: round ${round + 1}/${opts.rounds}`);
      runs.get(spec.id)?.push(await benchOne(sc, spec, opts));
      // A moment for the stopped server's sockets and CPU to settle.
      await sleep(1000);
    }
  }
  const { id, model, summary, inputShape, path, body, bodyBytes } = sc;
  const results = selected.map((spec) => aggregate(runs.get(spec.id) ?? []));
  return { id, model, summary, inputShape, path, body, bodyBytes, responseBytes: Buffer.byteLength(sc.response), results };
}

async function main(): Promise<number> {
  const opts = parseOptions();
  const machine = machineInfo();
  const report: Report = {
    kind: 'core',
    startedAt: new Date().toISOString(),
    finishedAt: '',
    machine,
    node: process.version,
    git: gitInfo(ROOT),
    config: {
      scenarios: opts.scenarios,
      connections: opts.connections,
      durationS: opts.durationS,
      warmupS: WARMUP_S,
      rounds: opts.rounds,
      method: 'POST',
      loadGenerator:
        'autocannon 9 (programmatic, pipelining 1), inside the bench process; for the wire scenario\'s WebSocket row, ' +
        `bench/lib/stream-load.ts (ws 8, ${opts.streamSockets} sockets sharing the connection count as requests in flight), also in-process`,
      note:
        `the load generator runs in the bench process on the same ${machine.cores} cores as the server under test, ` +
        'so every server gives up CPU to the client; the figures compare servers on this machine, they are not absolute capacity.',
    },
    scenarios: [],
  };
  progress(`${machine.cpuModel}, ${machine.cores} cores, Node ${report.node}; scenarios: ${opts.scenarios.join(', ')}; servers: ${opts.only.join(', ')}`);
  progress(`note: ${report.config.note}`);

  // Generated models and echo responses live only as long as this run
  // (process 'exit' also fires after the SIGINT handler in lib/server.ts).
  const tmp = mkdtempSync(join(os.tmpdir(), 'volley-bench-'));
  process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
  const scenarios = await prepareScenarios(opts.scenarios.filter((id): id is ScenarioId => id !== 'wire'), ROOT, tmp);
  for (const sc of scenarios) {
    progress(`${sc.id}: ${sc.model}, input [${sc.inputShape.join(',')}], ${sc.bodyBytes} B body, ${Buffer.byteLength(sc.response)} B response; repository ${sc.repository}`);
  }
  for (const sc of scenarios) report.scenarios.push(await benchScenario(sc, opts));
  if (opts.scenarios.includes('wire')) {
    // One stream frame per in-flight request: as many as HTTP connections.
    const wire = await prepareWire(tmp, opts.connections);
    const sizes = Object.entries(wire.http).map(([f, b]) => `${f} ${b.body.length} B`).join(', ');
    progress(`wire: ${wire.model}, input [${wire.input.shape.join(',')}], ${wire.payloadBytes} B tensor; ${sizes}, stream frame ${wire.frames[0].length} B; repository ${wire.repository}`);
    const servers = [volley(wire.repository), echo(wire.responseFile)].filter((s) => opts.only.includes(s.id));
    const wireOpts = { ...opts, warmupS: WARMUP_S, startupTimeoutMs: STARTUP_TIMEOUT_MS, progress };
    report.scenarios.push(await benchWire(wire, servers, wireOpts));
  }

  report.finishedAt = new Date().toISOString();
  const markdown = renderMarkdown(report);
  const files = writeResults(RESULTS_DIR, report, markdown);
  console.log(`\n${markdown}`);
  for (const f of files) progress(`wrote ${f}`);
  return report.scenarios.every((sc) => sc.results.every((r) => r.status === 'ok')) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench: ${(err as Error).message}`);
    process.exit(2);
  },
);
