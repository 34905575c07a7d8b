// Core benchmark: Volley vs a naive node:http + onnxruntime-node server vs a
// uWebSockets.js echo (the transport ceiling), one after another, same load.
//
//   npm run bench                       # build, then 3 rounds of all three, 10 s each
//   npm run bench -- --quick            # 1 round, 3 s each
//   npx tsx bench/run.ts --only naive,echo --duration 5 --connections 64
//
// Servers run one at a time so they never compete with each other for the 2
// cores; the load generator (autocannon) does share the cores with the server.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkInfer, type LoadConfig, runLoad } from './lib/load.js';
import { gitInfo, machineInfo, median, renderMarkdown, type Report, type ServerResult, writeResults } from './lib/report.js';
import { type ServerSpec, startServer } from './lib/server.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS_DIR = join(ROOT, 'bench', 'results');
const MODEL = 'mlp_classifier';
const INFER_PATH = `/v2/models/${MODEL}/infer`;
// One Iris-like row; bench/baselines/uws-echo.ts answers with this row's real output.
const BODY = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] });
const WARMUP_S = 2;
// Volley spawns worker threads and loads models before it is ready.
const STARTUP_TIMEOUT_MS = 30_000;

// Baselines run through tsx's loader in a plain `node` process: no npx or
// wrapper process in between, so SIGTERM/SIGKILL reach the server itself.
const tsx = (file: string) => ['--import', 'tsx', join('bench', 'baselines', file), '--host', '127.0.0.1', '--port', '0'];
const SERVERS: ServerSpec[] = [
  {
    id: 'volley',
    label: 'volley',
    args: ['bin/volley.js', 'serve', '--model-repository', 'models', '--host', '127.0.0.1', '--port', '0'],
    cwd: ROOT,
  },
  { id: 'naive', label: 'naive (node:http + ort)', args: tsx('naive-http.ts'), cwd: ROOT },
  { id: 'echo', label: 'echo (uWS, no inference)', args: tsx('uws-echo.ts'), cwd: ROOT },
];

interface Options {
  durationS: number;
  rounds: number;
  connections: number;
  only: string[];
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string' },
      connections: { type: 'string' },
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      rounds: { type: 'string' },
    },
    strict: true,
  });
  const positive = (name: string, raw: string | undefined, fallback: number) => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got "${raw}"`);
    return n;
  };
  const only = values.only ? values.only.split(',').map((s) => s.trim()).filter(Boolean) : SERVERS.map((s) => s.id);
  const unknown = only.filter((id) => !SERVERS.some((s) => s.id === id));
  if (unknown.length) throw new Error(`--only: unknown server(s) ${unknown.join(', ')}; known: ${SERVERS.map((s) => s.id).join(', ')}`);
  return {
    durationS: positive('duration', values.duration, values.quick ? 3 : 10),
    rounds: positive('rounds', values.rounds, values.quick ? 1 : 3),
    connections: positive('connections', values.connections, 64),
    only,
  };
}

const t0 = performance.now();
function progress(msg: string): void {
  const s = ((performance.now() - t0) / 1000).toFixed(1).padStart(6);
  console.log(`[bench ${s}s] ${msg}`);
}

async function benchOne(spec: ServerSpec, opts: Options): Promise<ServerResult> {
  const result: ServerResult = { id: spec.id, label: spec.label, status: 'failed' };
  if (spec.id === 'volley' && !existsSync(join(ROOT, 'bin', 'volley.js'))) {
    result.error = 'bin/volley.js does not exist (server not written yet?)';
    progress(`${spec.id}: skipped: ${result.error}`);
    return result;
  }

  progress(`${spec.id}: starting: node ${spec.args.join(' ')}`);
  let server;
  try {
    server = await startServer(spec, STARTUP_TIMEOUT_MS);
  } catch (err) {
    result.error = (err as Error).message;
    progress(`${spec.id}: failed to start: ${result.error}`);
    return result;
  }
  result.startup = { listeningMs: Math.round(server.listeningMs), readyMs: Math.round(server.readyMs) };
  progress(`${spec.id}: pid ${server.pid} on port ${server.port}, listening after ${result.startup.listeningMs} ms, ready after ${result.startup.readyMs} ms`);

  try {
    const cfg: LoadConfig = { url: `${server.baseUrl}${INFER_PATH}`, body: BODY, connections: opts.connections };
    result.check = await checkInfer(cfg);
    progress(`${spec.id}: sanity request: ${result.check.note} (${result.check.bytes} B response)`);

    progress(`${spec.id}: warm-up ${WARMUP_S} s`);
    await runLoad(cfg, WARMUP_S);
    progress(`${spec.id}: measuring ${opts.durationS} s at ${opts.connections} connections`);
    const load = await runLoad(cfg, opts.durationS);
    result.load = load;
    result.status = 'ok';
    progress(
      `${spec.id}: ${Math.round(load.rps)} req/s, p50 ${load.latencyMs.p50.toFixed(2)} ms, p99 ${load.latencyMs.p99.toFixed(2)} ms, ` +
        `${load.non2xx} non-2xx, ${load.errors} errors, ${load.timeouts} timeouts`,
    );
  } catch (err) {
    result.error = `load run failed: ${(err as Error).message}\n${server.tail()}`;
    progress(`${spec.id}: ${result.error}`);
  } finally {
    result.stop = await server.stop();
    progress(`${spec.id}: stopped (${result.stop.how}, code ${result.stop.code}, signal ${result.stop.signal}, ${result.stop.ms} ms)`);
  }
  return result;
}

/** One row per server: its median round (by req/s), with every round's figures kept. */
function aggregate(rounds: ServerResult[]): ServerResult {
  const failed = rounds.find((r) => r.status !== 'ok' || !r.load);
  if (failed) return failed;
  const mid = median(rounds.map((r) => r.load?.rps ?? 0));
  const chosen = rounds.reduce((best, r) => (Math.abs((r.load?.rps ?? 0) - mid) < Math.abs((best.load?.rps ?? 0) - mid) ? r : best));
  return { ...chosen, rounds: rounds.map((r) => ({ rps: r.load?.rps ?? 0, p50: r.load?.latencyMs.p50 ?? 0, p99: r.load?.latencyMs.p99 ?? 0 })) };
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
      connections: opts.connections,
      durationS: opts.durationS,
      warmupS: WARMUP_S,
      rounds: opts.rounds,
      method: 'POST',
      path: INFER_PATH,
      body: BODY,
      loadGenerator: 'autocannon 9 (programmatic, pipelining 1), inside the bench process',
      note:
        `the load generator runs in the bench process on the same ${machine.cores} cores as the server under test, ` +
        'so every server gives up CPU to the client; the figures compare servers on this machine, they are not absolute capacity.',
    },
    results: [],
  };
  progress(`${report.machine.cpuModel}, ${report.machine.cores} cores, Node ${report.node}; servers: ${opts.only.join(', ')}`);
  progress(`note: ${report.config.note}`);

  const selected = SERVERS.filter((s) => opts.only.includes(s.id));
  const runs = new Map<string, ServerResult[]>(selected.map((s) => [s.id, []]));
  for (let round = 0; round < opts.rounds; round++) {
    // Rotate the order so no server always runs first (or right after the heaviest one).
    const order = selected.map((_, i) => selected[(i + round) % selected.length]);
    for (const spec of order) {
      progress(`round ${round + 1}/${opts.rounds}`);
      runs.get(spec.id)?.push(await benchOne(spec, opts));
      // A moment for the stopped server's sockets and CPU to settle.
      await sleep(1000);
    }
  }
  for (const spec of selected) report.results.push(aggregate(runs.get(spec.id) ?? []));

  report.finishedAt = new Date().toISOString();
  const markdown = renderMarkdown(report);
  const files = writeResults(RESULTS_DIR, report, markdown);
  console.log(`\n${markdown}`);
  for (const f of files) progress(`wrote ${f}`);
  return report.results.every((r) => r.status === 'ok') ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench: ${(err as Error).message}`);
    process.exit(2);
  },
);
