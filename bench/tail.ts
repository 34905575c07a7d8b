// Where the tail at half load comes from (issue 6: p99 at 50% of peak ≤ max_queue_delay + 2 batch
// compute times). The same evenly paced rate (bench/lib/paced-load.ts) is offered to:
//
//   volley  Volley serving mlp_small (JSON [1,256], 64 connections)
//   volley1t  the same with --cpu-threads 1: one intra-op thread, so a batch never waits for a
//           second ORT thread to be scheduled (not in the default list)
//   volley-noflag  the same without VOLLEY_NODE_FLAGS (not in the default list)
//   volley-oldspace  the same with the first of those flags only, --initial-old-space-size=64
//           (not in the default list)
//   volley-semi16  the same with --max-semi-space-size=16 instead of 32 (not in the default list)
//   volley-inline  the same model with run_on_event_loop: batches on the event loop, no worker
//           thread hop (not in the default list)
//   noop    the same, with the no-op runtime: the event loop → worker thread → event loop hop and
//           the batcher, no model compute
//   naive   node:http + onnxruntime-node, no thread hop (saturates below Volley's half load)
//   echo    the uWS echo: the transport and this machine's scheduling alone
//
// The rate is half of Volley's closed-loop peak, measured first in the same run (or --rate;
// --peak-of <server> takes another server's peak). With --peaks, each rep first measures every
// listed server's closed-loop peak in turn (64 connections, 2 s warmup + the window).
// Servers take turns, `--reps` times. For Volley's rows the same window is also read from its
// /metrics: p50/p99 inside Volley (body received to answer written), mean queue wait and batch
// compute, the event loop's GC time and major collections, and its longest stall.
//
//   npx tsx bench/tail.ts                         # delay 0, 2 reps
//   npx tsx bench/tail.ts --delay-us 2000 --servers volley,noop,echo --reps 3
//   npx tsx bench/tail.ts --servers volley,volley-inline,echo --peaks --reps 3
//
// Results: bench/results/tail-<time>.json (and a table on stdout).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { runLoad } from './lib/load.js';
import { MLP_SMALL, MLP_SMALL_CONFIG, mlpSmallRow, writeMlpSmallRepo } from './lib/mlp-small.js';
import { type PacedResult, runPaced } from './lib/paced-load.js';
import { gitInfo, machineInfo } from './lib/report.js';
import { withServer } from './lib/bench-one.js';
import { durationDelta, durationsFrom, fetchMetrics, runtimeFrom } from './lib/volley-metrics.js';
import { type BenchServer, echo, naive, volley, volleyNoop } from './lib/servers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { 'delay-us': { type: 'string' }, servers: { type: 'string' }, reps: { type: 'string' }, rate: { type: 'string' }, duration: { type: 'string' }, peaks: { type: 'boolean' }, 'peak-of': { type: 'string' } } });
const DELAY_US = Number(values['delay-us'] ?? 0);
const REPS = Number(values.reps ?? 2);
const DURATION_S = Number(values.duration ?? 5);
const CONNECTIONS = 64;
const SERVERS = (values.servers ?? 'volley,noop,naive,echo').split(',');
const PEAK_OF = values['peak-of'] ?? 'volley';

interface Row {
  server: string;
  rep: number;
  rps: number;
  p50: number;
  p99: number;
  /** p99 from each request's scheduled send time (coordinated omission corrected). */
  p99FromSchedule: number;
  late: number;
  failed: number;
  /**
   * Volley rows: the same window as Volley's own histograms see it (/metrics): request p50/p99 from
   * body received to answer written (bucket-interpolated), mean queue wait and mean batch compute;
   * the main thread's GC (ms per second of window, major collections) and its longest event-loop
   * stall beyond the monitor's 10 ms timer (prom-client's default metrics).
   */
  inside?: { p50: number; p99: number; meanQueueMs: number; meanComputeMs: number; gcMsPerS: number; majorGcs: number; loopStallMaxMs: number };
}

const tmp = mkdtempSync(join(os.tmpdir(), 'volley-tail-'));
const repo = join(tmp, 'repository');
const config = { ...MLP_SMALL_CONFIG, dynamic_batching: { ...MLP_SMALL_CONFIG.dynamic_batching, max_queue_delay_microseconds: DELAY_US } };
const modelPath = writeMlpSmallRepo(repo, MLP_SMALL, config);
const repoInline = join(tmp, 'repository-inline');
writeMlpSmallRepo(repoInline, MLP_SMALL, { ...config, parameters: { run_on_event_loop: { string_value: 'true' } } });
const body = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 256], datatype: 'FP32', data: mlpSmallRow() }] });
const responseFile = join(tmp, 'response.json');
writeFileSync(responseFile, JSON.stringify({ model_name: MLP_SMALL, model_version: '1', outputs: [] }));
const specs: Record<string, BenchServer> = { volley: volley(ROOT, repo), volley1t: volley(ROOT, repo, { id: 'volley1t', label: 'volley, --cpu-threads 1', args: ['--cpu-threads', '1'] }), 'volley-noflag': volley(ROOT, repo, { id: 'volley-noflag', label: 'volley, no Node flags', nodeFlags: [] }), 'volley-oldspace': volley(ROOT, repo, { id: 'volley-oldspace', label: 'volley, --initial-old-space-size=64 only', nodeFlags: ['--initial-old-space-size=64'] }), 'volley-semi16': volley(ROOT, repo, { id: 'volley-semi16', label: 'volley, --max-semi-space-size=16', nodeFlags: ['--initial-old-space-size=64', '--max-semi-space-size=16'] }), 'volley-inline': volley(ROOT, repoInline, { id: 'volley-inline', label: 'volley, run_on_event_loop' }), noop: volleyNoop(ROOT, repo), naive: naive(ROOT, modelPath, MLP_SMALL), echo: echo(ROOT, responseFile) };
for (const id of [...SERVERS, PEAK_OF]) if (!(id in specs)) throw new Error(`--servers / --peak-of: unknown ${id} (known: ${Object.keys(specs).join(', ')})`);

const quiet = (): void => {};
const path = `/v2/models/${MLP_SMALL}/infer`;

/** `id`'s closed-loop req/s at 64 connections, after a 2 s warmup. */
function peakOf(id: string): Promise<number> {
  return withServer(specs[id], quiet, async (server) => {
    const cfg = { url: `${server.baseUrl}${path}`, body, connections: CONNECTIONS };
    await runLoad(cfg, 2);
    return (await runLoad(cfg, DURATION_S)).rps;
  });
}

function paced(id: string, rate: number, rep: number): Promise<Row> {
  return withServer(specs[id], quiet, async (server) => {
    const cfg = { url: `${server.baseUrl}${path}`, body, connections: CONNECTIONS, rate };
    await runPaced(cfg, 1);
    const volleyRow = id !== 'naive' && id !== 'echo';
    // One /metrics read per side of the window (it also resets prom-client's event-loop monitor).
    const snapshot = async () => {
      const text = await fetchMetrics(server.baseUrl);
      const durations = (name: string) => durationsFrom(text, MLP_SMALL, `volley_${name}_duration_seconds`);
      return { request: durations('request'), queue: durations('queue'), compute: durations('compute'), runtime: runtimeFrom(text) };
    };
    const before = volleyRow ? await snapshot() : undefined;
    const r: PacedResult = await runPaced(cfg, DURATION_S);
    const row: Row = { server: id, rep, rps: r.rps, p50: r.latencyMs.p50, p99: r.latencyMs.p99, p99FromSchedule: r.paced.latencyFromScheduleMs.p99, late: r.paced.late, failed: r.non2xx + r.errors + r.timeouts };
    if (before !== undefined) {
      const after = await snapshot();
      row.inside = {
        p50: durationDelta(before.request, after.request, 0.5).quantileMs,
        p99: durationDelta(before.request, after.request, 0.99).quantileMs,
        meanQueueMs: durationDelta(before.queue, after.queue, 0.5).meanMs,
        meanComputeMs: durationDelta(before.compute, after.compute, 0.5).meanMs,
        gcMsPerS: ((after.runtime.gcMinorS + after.runtime.gcMajorS - before.runtime.gcMinorS - before.runtime.gcMajorS) * 1000) / DURATION_S,
        majorGcs: after.runtime.gcMajorCount - before.runtime.gcMajorCount,
        loopStallMaxMs: Math.max(0, (after.runtime.lagMaxS - 0.01) * 1000),
      };
    }
    return row;
  });
}

const startedAt = new Date().toISOString();
const peak = values.rate === undefined ? await peakOf(PEAK_OF) : undefined;
const rate = values.rate !== undefined ? Number(values.rate) : Math.round((peak as number) / 2);
console.log(`delay ${DELAY_US} µs; ${peak === undefined ? '' : `${PEAK_OF} peak ${Math.round(peak)} req/s; `}offering ${rate} req/s, evenly paced, ${CONNECTIONS} connections, ${DURATION_S} s windows`);
const rows: Row[] = [];
const peaks: { server: string; rep: number; rps: number }[] = [];
for (let rep = 1; rep <= REPS; rep++) {
  if (values.peaks) {
    for (const id of SERVERS) {
      const rps = await peakOf(id);
      peaks.push({ server: id, rep, rps });
      console.log(`${id.padEnd(7)} rep ${rep}: closed-loop peak ${Math.round(rps)} req/s`);
    }
  }
  for (const id of SERVERS) {
    const row = await paced(id, rate, rep);
    rows.push(row);
    const inside = row.inside
      ? `; inside Volley: p50 ${row.inside.p50.toFixed(2)} ms, p99 ${row.inside.p99.toFixed(2)} ms, mean queue ${row.inside.meanQueueMs.toFixed(2)} ms, mean batch compute ${row.inside.meanComputeMs.toFixed(2)} ms; GC ${row.inside.gcMsPerS.toFixed(1)} ms/s, ${row.inside.majorGcs} major; longest loop stall ${row.inside.loopStallMaxMs.toFixed(1)} ms`
      : '';
    console.log(`${id.padEnd(7)} rep ${rep}: ${Math.round(row.rps)} req/s, p50 ${row.p50.toFixed(2)} ms, p99 ${row.p99.toFixed(2)} ms (from schedule ${row.p99FromSchedule.toFixed(2)}), ${row.late} late, ${row.failed} failed${inside}`);
    await sleep(500);
  }
}
rmSync(tmp, { recursive: true, force: true });
const report = { kind: 'tail', startedAt, machine: machineInfo(), node: process.version, git: gitInfo(ROOT), config: { delayUs: DELAY_US, connections: CONNECTIONS, durationS: DURATION_S, reps: REPS, peakOf: PEAK_OF, peakRps: peak, rate }, peaks, rows };
const file = join(ROOT, 'bench', 'results', `tail-${startedAt.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
console.log(`wrote ${file}`);
