// Markdown and SVG for what the core tables do not show: the acceptance
// summary (issue 6's targets), multi-model, overload, the two sweeps, and the
// charts (latency-throughput curves, batch-size histogram).
import type { LoadResult } from './load.js';
import { fmt, heavierModelRows, isWire, type Report, roundRatio, type ScenarioReport, type ServerResult } from './report.js';
import { barChart, lineChart } from './svg.js';

const x = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : `${fmt(v, 2)}×`);
const verdict = (ok: boolean | undefined) => (ok === undefined ? 'not measured' : ok ? 'met' : '**not met**');
const core = (r: Report, id: string) => r.scenarios.find((s): s is ScenarioReport => !isWire(s) && s.id === id);
const row = (sc: ScenarioReport | undefined, id: string) => sc?.results.find((res) => res.id === id);
/** How an offered-load window was generated (runs saved before paced-load.ts used autocannon's overallRate). */
const offeredHow = (l: LoadResult) =>
  l.paced
    ? `evenly paced open loop, bench/lib/paced-load.ts: the client sent ${fmt(l.paced.sentRps, 0)} req/s, ${fmt(l.paced.late, 0)} requests late, ${fmt(l.paced.unsent, 0)} never sent`
    : 'autocannon overallRate: one-second per-connection quotas, sent in bursts';

/** Issue 6's acceptance figures, each as measured in this run (or "not measured"). */
export function renderAcceptance(r: Report): string[] {
  const small = core(r, 'small');
  const wire = r.scenarios.find(isWire);
  const vsNaive = roundRatio(row(small, 'volley') ?? ({} as ServerResult), row(small, 'naive'));
  const vsFastify = roundRatio(row(small, 'volley') ?? ({} as ServerResult), row(small, 'fastify'));
  const binary = wire?.acceptance.binaryVsJson;
  const delays = r.sweeps?.delay ?? [];
  const mm = r.multiModel;
  const ov = r.overload;
  const n = (v: number | undefined) => v !== undefined && Number.isFinite(v);
  const lines = [
    `| small MLP JSON, ${r.config.connections} connections: Volley ÷ naive | ${x(vsNaive)} | ≥ 2× | ${verdict(n(vsNaive) ? (vsNaive as number) >= 2 : undefined)} |`,
    `| small MLP JSON: Volley ÷ fastify | ${x(vsFastify)} | ≥ 1.5× | ${verdict(n(vsFastify) ? (vsFastify as number) >= 1.5 : undefined)} |`,
    `| 602 KB tensor: binary ÷ JSON | ${x(binary)} | ≥ 5× | ${verdict(n(binary) ? (binary as number) >= 5 : undefined)} |`,
    ...heavierModelRows(r),
    ...delays.map(
      (d) =>
        `| p99 at 50% of peak, max_queue_delay ${d.delayUs} µs | ${fmt(d.half.load.latencyMs.p99, 2)} ms${d.echoHalf ? ` (uWS echo at the same paced rate: ${fmt(d.echoHalf.load.latencyMs.p99, 2)} ms)` : ''} | ≤ ${fmt(d.boundMs, 2)} ms (delay + 2 × ${fmt(d.halfBatches.meanComputeMs, 2)} ms batch compute) | ${verdict(d.meetsBound)} |`,
    ),
    mm
      ? `| RSS after load, 1 → ${mm.points[1].models} models | ${fmt(mm.points[0].loadedRssMB, 0)} → ${fmt(mm.points[1].loadedRssMB, 0)} MB (${x(mm.rssGrowth)}; ${fmt(mm.perExtraModelMB, 1)} MB per extra model${floorNote(mm)}) | flat ±10% (≤ 1.10×) | ${verdict(mm.rssGrowth <= 1.1)} |`
      : '| RSS, 1 → 20 models | – | flat ±10% | not measured |',
    ov
      ? `| overload, 3× capacity offered (${fmt(ov.offeredRps, 0)} req/s) | goodput ${x(ov.goodputRatio)} capacity, ${fmt(ov.share503 * 100, 1)}% 503, p99 of 2xx ${fmt(ov.overload.latencyMs.p99, 1)} ms | (reported) | – |`
      : '| overload | – | (reported) | not measured |',
  ];
  return ['## Summary: issue 6 targets', '', '| figure | measured | target | |', '|---|---:|---|---|', ...lines, ''];
}

/** The ORT floor in the summary row, where it was measured. */
function floorNote(mm: NonNullable<Report['multiModel']>): string {
  return mm.floor ? `; ONNX Runtime sessions alone: ${fmt(mm.floor.perSessionMB, 1)} MB each, ${x(mm.floorGrowth)}` : '';
}

export function renderExtras(r: Report): string[] {
  const out: string[] = [];
  const mm = r.multiModel;
  if (mm) {
    out.push(`## multi: ${mm.points[1].models} copies of mlp_small loaded at once`, '', `Each connection cycles through every loaded model; ${r.config.connections} connections.`, '');
    out.push('| models | req/s | p50 ms | p99 ms | errors + non-2xx | server CPU µs/req | idle RSS MB | RSS after load MB | V8 new space after load MB |', '|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const p of mm.points) {
      const l = p.load;
      out.push(`| ${p.models} | ${fmt(l.rps, 0)} | ${fmt(l.latencyMs.p50, 2)} | ${fmt(l.latencyMs.p99, 2)} | ${l.errors + l.non2xx} | ${fmt(l.proc?.cpuUsPerRequest, 0)} | ${fmt(p.idleRssMB, 0)} | ${fmt(p.loadedRssMB, 0)} | ${fmt(p.newSpaceMB, 0)} |`);
    }
    const [a, b] = mm.points.map((p) => p.newSpaceMB);
    if (a !== undefined && b !== undefined && Math.abs(a - b) >= 1) {
      out.push('', `The two points' V8 new spaces differ (${fmt(a, 0)} and ${fmt(b, 0)} MB): the young generation had grown further in one window than in the other, and that difference is in the RSS ratio too.`);
    }
    out.push('', `RSS per model beyond the first: ${fmt(mm.perExtraModelMB, 1)} MB (each model version has its own ONNX Runtime session; the versions share the worker threads, --worker-threads).`);
    if (mm.floor) {
      const f = mm.floor;
      out.push(
        '',
        `ONNX Runtime alone (bench/baselines/ort-sessions.ts: ${f.count} sessions of the same model through Volley's runtime class, each run at every batch size up to max_batch_size, no server): ` +
          `${fmt(f.rssOneMB, 0)} → ${fmt(f.rssAllMB, 0)} MB, ${fmt(f.perSessionMB, 2)} MB per session beyond the first; ` +
          `${mm.points[1].models - 1} of those on top of Volley's 1-model RSS above would be ${x(mm.floorGrowth)}. ` +
          `Volley's own RSS after a load window moves by ±10% between runs (the V8 heap grows with the load's rate), so compare the idle column too.`,
      );
    } else if (mm.floorError) {
      out.push('', `ONNX Runtime alone: not measured (${mm.floorError.split('\n')[0]}).`);
    }
    out.push('');
  }
  const ov = r.overload;
  if (ov) {
    const l = ov.overload;
    out.push(
      '## overload: mlp_small, offered load 3× measured capacity',
      '',
      `Capacity (closed loop, ${r.config.connections} connections): ${fmt(ov.capacity.rps, 0)} req/s, p99 ${fmt(ov.capacity.latencyMs.p99, 2)} ms. ` +
        `Then ${fmt(ov.offeredRps, 0)} req/s offered from ${ov.connections} connections (${offeredHow(l)}), model queue bounded at ${ov.maxQueueSize}: ` +
        `goodput ${fmt(l.rps, 0)} req/s (${x(ov.goodputRatio)} capacity), ${fmt(ov.share503 * 100, 1)}% of answers 503, ` +
        `p50/p99 of 2xx ${fmt(l.latencyMs.p50, 2)}/${fmt(l.latencyMs.p99, 2)} ms, ${l.errors} socket errors/timeouts, status codes ${JSON.stringify(l.statusCodes)}; ` +
        `server CPU ${fmt(l.proc?.cpuUsPerRequest, 0)} µs per 2xx.`,
      '',
    );
  }
  const cs = r.sweeps?.connections;
  if (cs?.length) {
    out.push('## sweep: connections (mlp_small, JSON)', '', '| server | connections | req/s | p50 ms | p99 ms | non-2xx | errors | server CPU µs/req |', '|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const s of cs) for (const p of s.points) out.push(`| ${s.label} | ${p.connections} | ${fmt(p.load.rps, 0)} | ${fmt(p.load.latencyMs.p50, 2)} | ${fmt(p.load.latencyMs.p99, 2)} | ${p.load.non2xx} | ${p.load.errors} | ${fmt(p.load.proc?.cpuUsPerRequest, 0)} |`);
    out.push('', ...cs.filter((s) => s.error).map((s) => `- ${s.label} failed: ${s.error}`), '');
  }
  const ds = r.sweeps?.delay;
  if (ds?.length) {
    out.push(
      '## sweep: max_queue_delay_microseconds (Volley, mlp_small, JSON)',
      '',
      `Per delay: 1 connection; ${r.config.connections} connections closed loop (peak); ${r.config.connections} connections offered 50% of that peak ` +
        (ds[0].half.load.paced
          ? '(evenly paced open loop, bench/lib/paced-load.ts; p99 from send, and from the scheduled time for coordinated omission; late = due while its connection still waited for an answer)'
          : '(autocannon overallRate: sent in one-second bursts, so batches stay peak-sized)') +
        ". Mean batch and compute time from Volley's /metrics over each window. " +
        'echo p99: the uWS echo baseline (reads the body, answers a fixed response) at the same paced rate and connections, after the Volley windows: ' +
        "the tail this machine's transport and scheduling give at that load with no server work.",
      '',
      '| delay µs | 1 conn req/s | 1 conn p99 ms | peak req/s | peak p99 ms | peak mean batch | half-load req/s | half-load p99 ms | p99 from schedule ms | late | half-load mean batch | batch compute ms | bound ms | | echo p99 ms, same rate |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|',
      ...ds.map(
        (d) =>
          `| ${d.delayUs} | ${fmt(d.single.load.rps, 0)} | ${fmt(d.single.load.latencyMs.p99, 2)} | ${fmt(d.peak.load.rps, 0)} | ${fmt(d.peak.load.latencyMs.p99, 2)} | ${fmt(d.peakBatches.meanBatch, 1)} | ` +
          `${fmt(d.half.load.rps, 0)} | ${fmt(d.half.load.latencyMs.p99, 2)} | ${fmt(d.half.load.paced?.latencyFromScheduleMs.p99, 2)} | ${fmt(d.half.load.paced?.late, 0)} | ` +
          `${fmt(d.halfBatches.meanBatch, 1)} | ${fmt(d.halfBatches.meanComputeMs, 2)} | ${fmt(d.boundMs, 2)} | ${verdict(d.meetsBound)} | ${fmt(d.echoHalf?.load.latencyMs.p99, 2)} |`,
      ),
      '',
    );
  }
  for (const [section, why] of Object.entries(r.failures)) out.push(`- **${section}** failed: ${why.split('\n')[0]}`);
  if (Object.keys(r.failures).length) out.push('');
  if (r.charts.length) out.push(`Charts: ${r.charts.map((c) => `[${c}](${c})`).join(', ')}.`, '');
  return out;
}

/** `latest-*.svg` by file name; only charts with data. */
export function renderCharts(r: Report): Record<string, string> {
  const charts: Record<string, string> = {};
  const cs = r.sweeps?.connections?.filter((s) => s.points.length);
  if (cs?.length) {
    charts['latest-sweep-connections.svg'] = lineChart({
      title: 'mlp_small, JSON: p99 vs throughput as connections grow',
      xLabel: 'throughput, req/s (2xx)',
      yLabel: 'p99 latency, ms (log)',
      logY: true,
      series: cs.map((s) => ({ name: s.label, points: s.points.map((p) => ({ x: p.load.rps, y: p.load.latencyMs.p99, label: String(p.connections) })) })),
    });
  }
  const ds = r.sweeps?.delay;
  if (ds?.length) {
    charts['latest-sweep-delay.svg'] = lineChart({
      title: 'Volley, mlp_small: p99 vs throughput per max_queue_delay',
      xLabel: 'throughput, req/s (2xx)',
      yLabel: 'p99 latency, ms (log)',
      logY: true,
      series: ds.map((d) => ({
        name: `${d.delayUs} µs`,
        points: [d.single, d.half, d.peak].sort((a, b) => a.load.rps - b.load.rps).map((p) => ({ x: p.load.rps, y: p.load.latencyMs.p99, label: p.rate ? '50%' : `${p.connections}c` })),
      })),
    });
    const used = Math.max(1, ...ds.map((d) => d.peakBatches.counts.findLastIndex((c) => c > 0) + 1));
    charts['latest-batch-sizes.svg'] = barChart({
      title: `Volley, mlp_small, ${r.config.connections} connections: rows per batch`,
      xLabel: 'batch size bucket (rows ≤ le)',
      yLabel: 'share of batches, %',
      // Buckets up to the largest one any delay used (max_batch_size is 64: the rest are empty).
      categories: ds[0].peakBatches.le.slice(0, used),
      series: ds.map((d) => ({ name: `delay ${d.delayUs} µs`, values: d.peakBatches.counts.slice(0, used).map((c) => (100 * c) / Math.max(1, d.peakBatches.batches)) })),
    });
  }
  return charts;
}
