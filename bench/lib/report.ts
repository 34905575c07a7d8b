// Results: the Markdown table and the JSON files under bench/results/.
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { MultiModelReport, OverloadReport } from './capacity.js';
import type { Ceiling } from './ceiling.js';
import type { CheckResult, LoadResult } from './load.js';
import { pngName, svgToPng } from './png.js';
import { renderAcceptance, renderExtras } from './report-extra.js';
import type { ConnectionSweep, DelayPoint } from './sweeps.js';

export interface ServerResult {
  id: string;
  label: string;
  status: 'ok' | 'failed';
  error?: string;
  startup?: { listeningMs: number; readyMs: number };
  check?: CheckResult;
  load?: LoadResult;
  stop?: { how: string; code: number | null; signal: string | null; ms: number };
  /** Every round's figures; `load` is the round with the median req/s. */
  rounds?: { rps: number; p50: number; p99: number }[];
}

/** One model and request body, every selected server measured on it. */
export interface ScenarioReport {
  id: string;
  model: string;
  /** One line on what the scenario stresses (shown under its Markdown title). */
  summary: string;
  inputShape: number[];
  path: string;
  body: string;
  bodyBytes: number;
  /** Size of Volley's response body (as computed in-process; what echo sends). */
  responseBytes: number;
  results: ServerResult[];
  /** In-process onnxruntime-node at batch sizes 1..64 (bench/baselines/inprocess-ort.ts): the compute ceiling (the median round's, when measured every round). */
  ceiling?: Ceiling;
  /** Best rows/s of the ceiling measured after each round, in round order (the compute-bound target, cnn). */
  ceilingRounds?: number[];
  ceilingError?: string;
}

/** A row of the wire scenario: one format against Volley, or the echo ceiling. */
export interface WireResult extends ServerResult {
  format: 'json' | 'binary' | 'msgpack' | 'websocket' | 'echo' | 'echo-ws';
  /** Request size on the wire (the stream: one frame). */
  bodyBytes: number;
  /** Tensor bytes ingested per second in the median round, in MB/s (1e6). */
  payloadMBps?: number;
  /** Median per-round req/s ratios (equal to the MB/s ratios: every request carries the same tensor). */
  vsJson?: number;
  vsEcho?: number;
}

/** The wire scenario: one model and tensor, sent in every format Volley speaks. */
export interface WireScenarioReport {
  kind: 'wire';
  id: 'wire';
  model: string;
  summary: string;
  inputShape: number[];
  /** Bytes of tensor data in every request. */
  payloadBytes: number;
  path: string;
  streamPath: string;
  stream: { sockets: number; inflight: number };
  bodies: { format: string; bytes: number; headers: Record<string, string> }[];
  /** What echo answers (Volley's JSON answer for the image). */
  echoResponseBytes: number;
  results: WireResult[];
  /** Issue 3's targets, as median per-round ratios: binary and msgpack ≥ 5× JSON, WebSocket ≥ 1× HTTP binary. */
  acceptance: { binaryVsJson?: number; msgpackVsJson?: number; websocketVsBinary?: number };
  /** The same ratio for uWS alone (the echo): its WebSocket frames ÷ its HTTP bodies (absent in results written before it was measured). */
  transport?: { websocketVsHttp?: number };
}

export const isWire = (sc: ScenarioReport | WireScenarioReport): sc is WireScenarioReport => 'kind' in sc && sc.kind === 'wire';

export interface Report {
  kind: 'core';
  startedAt: string;
  finishedAt: string;
  machine: {
    cpuModel: string;
    cores: number;
    totalMemBytes: number;
    platform: string;
    release: string;
    arch: string;
    loadavgAtStart: number[];
  };
  node: string;
  git: { commit: string | null; dirty: boolean | null };
  config: {
    scenarios: string[];
    connections: number;
    durationS: number;
    warmupS: number;
    /** Rounds per scenario. */
    rounds: number;
    quick: boolean;
    /** Sweeps and extra scenarios: measured window and warm-up per point, seconds. */
    pointS: number;
    pointWarmupS: number;
    sweepConnections: number[];
    sweepDelaysUs: number[];
    multiModels: number;
    ceilingBatches: number[];
    method: 'POST';
    loadGenerator: string;
    note: string;
  };
  scenarios: (ScenarioReport | WireScenarioReport)[];
  multiModel?: MultiModelReport;
  overload?: OverloadReport;
  sweeps?: { connections?: ConnectionSweep[]; delay?: DelayPoint[] };
  /** A section that failed as a whole (multi, overload, sweep-connections, sweep-delay) and why. */
  failures: Record<string, string>;
  /** SVG files written next to the JSON (names only; each also as a `.png` of the same basename). */
  charts: string[];
}

export function machineInfo(): Report['machine'] {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    totalMemBytes: os.totalmem(),
    platform: os.platform(),
    release: os.release(),
    arch: os.arch(),
    loadavgAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/** Commit and dirty flag; null when git is unavailable (e.g. a tarball checkout). */
export function gitInfo(cwd: string): Report['git'] {
  const git = (...args: string[]) =>
    execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  let commit: string | null = null;
  let dirty: boolean | null = null;
  try {
    commit = git('rev-parse', 'HEAD');
  } catch {
    // no git or no commits
  }
  try {
    dirty = git('status', '--porcelain').length > 0;
  } catch {
    // ignore
  }
  return { commit, dirty };
}

export const fmt = (x: number | undefined, digits: number) =>
  x === undefined || !Number.isFinite(x) ? '–' : x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Median of the per-round ratios: each round's servers ran back to back, so share its noise. */
export function roundRatio(r: ServerResult, ref: ServerResult | undefined): number | undefined {
  const a = r.rounds ?? [];
  const b = ref?.rounds ?? [];
  if (a.length === 0 || a.length !== b.length) return undefined;
  return median(a.map((x, i) => x.rps / b[i].rps));
}

/** One row per server (or format): its median round (by req/s), with every round's figures kept. */
export function aggregate(rounds: ServerResult[]): ServerResult {
  const failed = rounds.find((r) => r.status !== 'ok' || !r.load);
  if (failed) return failed;
  const mid = median(rounds.map((r) => r.load?.rps ?? 0));
  const chosen = rounds.reduce((best, r) => (Math.abs((r.load?.rps ?? 0) - mid) < Math.abs((best.load?.rps ?? 0) - mid) ? r : best));
  return { ...chosen, rounds: rounds.map((r) => ({ rps: r.load?.rps ?? 0, p50: r.load?.latencyMs.p50 ?? 0, p99: r.load?.latencyMs.p99 ?? 0 })) };
}

function ratio(r: ServerResult, ref: ServerResult | undefined): string {
  const x = roundRatio(r, ref);
  return x === undefined ? '–' : `${fmt(x, 2)}×`;
}

/**
 * A server's req/s ÷ the in-process ceiling's best rows/s (one row per request): the median of
 * per-round ratios when the ceiling was measured every round, else the median round ÷ the ceiling.
 */
export function ceilingRatio(sc: ScenarioReport | undefined, r: ServerResult | undefined): number | undefined {
  const best = sc?.ceiling?.best.rowsPerS;
  if (!sc || !best || !r?.load) return undefined;
  const perRound = sc.ceilingRounds ?? [];
  const rounds = r.rounds ?? [];
  if (perRound.length > 0 && perRound.length === rounds.length) return median(rounds.map((x, i) => x.rps / perRound[i]));
  return r.load.rps / best;
}

/**
 * Issue 6's "heavier model at ≥ 90% of the in-process ceiling" rows of the summary: the target on
 * the CNN, and the mid-weight MLP reported beside it.
 */
export function heavierModelRows(r: Report): string[] {
  const sc = (id: string) => r.scenarios.find((s): s is ScenarioReport => !isWire(s) && s.id === id);
  const volley = (s: ScenarioReport | undefined) => s?.results.find((res) => res.id === 'volley');
  const cnn = ceilingRatio(sc('cnn'), volley(sc('cnn')));
  const mlp = ceilingRatio(sc('heavy'), volley(sc('heavy')));
  const ok = cnn !== undefined && Number.isFinite(cnn);
  // Truncated to three decimals, not rounded: 0.8998 shown as 0.90× next to "not met" would read as a contradiction.
  const x = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : `${fmt(Math.floor(v * 1000) / 1000, 3)}×`);
  const c = sc('heavy')?.ceiling;
  const coreUs = c ? `~${fmt((c.threads * 1e6) / c.best.rowsPerS, 0)}` : 'a few hundred';
  return [
    `| heavier model (cnn: 11-conv CNN, [1,3,64,64] binary): Volley ÷ in-process ceiling | ${x(cnn)} | ≥ 0.9× | ${ok ? (cnn >= 0.9 ? 'met' : '**not met**') : 'not measured'} |`,
    `| mid-weight MLP (heavy: 512 → 2048×3 → 10, binary): Volley ÷ in-process ceiling | ${x(mlp)} | not the target (reported): with ${coreUs} core-µs of compute per row, ` +
      'the per-request CPU of the server (HTTP, decoding, worker hop) and of the load generator on the same cores is a large share, so it measures overhead | – |',
  ];
}

function renderScenario(sc: ScenarioReport): string[] {
  const ref = (id: string) => sc.results.find((r) => r.id === id);
  const best = sc.ceiling?.best;
  const rounds = sc.ceilingRounds ?? [];
  const rows = sc.results.map((r) => {
    if (!r.load) return `| ${r.label} | failed | – | – | – | – | – | – | – | – | – | – | – | – |`;
    const l = r.load;
    const flag = r.check && !r.check.ok ? ' ⚠' : '';
    const per = (r.rounds ?? []).map((x) => fmt(x.rps, 0)).join(' / ');
    const vsCeiling = best ? `${fmt(ceilingRatio(sc, r), 2)}×` : '–';
    const p = l.proc;
    return `| ${r.label}${flag} | ${fmt(l.rps, 0)} | ${per} | ${fmt(l.latencyMs.p50, 2)} | ${fmt(l.latencyMs.p99, 2)} | ${l.non2xx} | ${l.errors + l.timeouts} | ${ratio(r, ref('naive'))} | ${ratio(r, ref('fastify'))} | ${ratio(r, ref('echo'))} | ${vsCeiling} | ${fmt(p?.cpuUsPerRequest, 0)} | ${fmt(p?.cores, 2)} | ${fmt(p?.rssAfterMB, 0)} |`;
  });
  const problems = sc.results.flatMap(problemLines);
  const ceiling = best
    ? `In-process ceiling (onnxruntime-node on ${sc.ceiling?.threads} cores, no server; layouts are sessions × intra-op threads): ${fmt(best.rowsPerS, 0)} rows/s at batch ${best.batch}` +
      `${best.layout ? `, ${best.layout}` : ''}${sc.ceiling?.picked ? ', the fastest point of the sweep measured again for twice as long' : ''} (sweep: ${ceilingPoints(sc.ceiling as Ceiling)}). ` +
      'One row per request, so *vs in-process* = req/s ÷ that' +
      (rounds.length > 1 ? `; measured after every round (${rounds.map((x) => fmt(x, 0)).join(' / ')} rows/s; the sweep shown is the median round's), and the ratio is the median of per-round ratios.` : '.')
    : `In-process ceiling: ${sc.ceilingError ?? 'not measured'}.`;
  return [
    `## ${sc.id}: ${sc.model}, input FP32 [${sc.inputShape.join(',')}], ${fmt(sc.bodyBytes, 0)} B JSON body`,
    '',
    `${sc.summary} \`POST ${sc.path}\`, ${fmt(sc.responseBytes, 0)} B response.`,
    '',
    '| server | req/s (median) | req/s per round | p50 ms | p99 ms | non-2xx | errors | vs naive | vs fastify | vs echo | vs in-process | server CPU µs/req | server cores | RSS MB |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    ceiling,
    '',
    ...(problems.length ? ['Problems:', '', ...problems, ''] : []),
  ];
}

/** Rows/s per batch size, grouped by layout: `1x2: 1: 780, 8: 930; 2x1: …` (older results have no layout). */
function ceilingPoints(c: Ceiling): string {
  const layouts = [...new Set(c.points.map((p) => p.layout ?? `1x${c.threads}`))];
  return layouts
    .map((layout) => `${layout}: ${c.points.filter((p) => (p.layout ?? `1x${c.threads}`) === layout).map((p) => `${p.batch}: ${fmt(p.rowsPerS, 0)}`).join(', ')}`)
    .join('; ');
}

function problemLines(r: ServerResult): string[] {
  const out: string[] = [];
  if (r.error) out.push(`- **${r.label}** failed: ${r.error.split('\n')[0]}`);
  if (r.check && !r.check.ok) out.push(`- **${r.label}** sanity request failed (${r.check.note}); its figures are not an inference rate.`);
  if (r.load && r.load.ok2xx === 0) out.push(`- **${r.label}**: no 2xx answer within the measured ${fmt(r.load.durationS, 1)} s.`);
  if (r.load && (r.load.non2xx > 0 || r.load.errors > 0 || r.load.timeouts > 0)) {
    out.push(`- **${r.label}**: ${r.load.non2xx} non-2xx (${JSON.stringify(r.load.statusCodes)}), ${r.load.errors} errors, ${r.load.timeouts} timeouts.`);
  }
  return out;
}

// A ratio over a row with no answers is Infinity or NaN: shown as not measured, never as met.
const times = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '–' : `${fmt(x, 2)}×`);
const target = (x: number | undefined, min: number) =>
  x === undefined || !Number.isFinite(x) ? 'not measured' : `${times(x)} (target ≥ ${min}×: ${x >= min ? 'met' : '**not met**'})`;

function renderWire(sc: WireScenarioReport): string[] {
  const rows = sc.results.map((r) => {
    if (!r.load) return `| ${r.label} | ${fmt(r.bodyBytes, 0)} | failed | – | – | – | – | – | – | – | – | – |`;
    const l = r.load;
    const flag = r.check && !r.check.ok ? ' ⚠' : '';
    const per = (r.rounds ?? []).map((x) => fmt(x.rps, 0)).join(' / ');
    // JSON's body is not the one echo read, so JSON ÷ echo would compare different bodies.
    const vsEcho = r.format === 'json' || r.format === 'echo-ws' ? '–' : times(r.vsEcho);
    return `| ${r.label}${flag} | ${fmt(r.bodyBytes, 0)} | ${fmt(l.rps, 0)} | ${per} | ${fmt(l.latencyMs.p50, 2)} | ${fmt(l.latencyMs.p99, 2)} | ${fmt(r.payloadMBps, 1)} | ${l.non2xx} | ${l.errors + l.timeouts} | ${times(r.vsJson)} | ${vsEcho} | ${fmt(l.proc?.cpuUsPerRequest, 0)} |`;
  });
  const problems = sc.results.flatMap(problemLines);
  const a = sc.acceptance;
  return [
    `## wire: ${sc.model}, input FP32 [${sc.inputShape.join(',')}] (${fmt(sc.payloadBytes, 0)} B of tensor data per request)`,
    '',
    `${sc.summary} HTTP formats: \`POST ${sc.path}\` from autocannon; WebSocket: \`${sc.streamPath}\`, ` +
      `${sc.stream.sockets} sockets × ${sc.stream.inflight / sc.stream.sockets} requests in flight. ` +
      `Echo reads the binary body and answers ${fmt(sc.echoResponseBytes, 0)} B (Volley's JSON answer); its WebSocket row copies each stream frame once and answers Volley's msgpack answer with the frame's id (Volley's WebSocket row is compared with it). ` +
      'payload MB/s = tensor bytes × req/s / 1e6.',
    '',
    '| format | request B | req/s (median) | req/s per round | p50 ms | p99 ms | payload MB/s | non-2xx | errors | vs JSON | vs echo MB/s | server CPU µs/req |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    'Each row warms up and is measured on the same connections: the window opens after ≥ the warm-up time *and* once every request in flight has had ' +
      `an answer (warm-up in the median round: ${sc.results.map((r) => `${r.format} ${fmt(r.load?.warmupS, 1)} s`).join(', ')}).`,
    '',
    `Targets (issue 3): binary ${target(a.binaryVsJson, 5)} JSON; msgpack ${target(a.msgpackVsJson, 5)} JSON; ` +
      `WebSocket ${target(a.websocketVsBinary, 1)} HTTP binary.`,
    ...(sc.transport?.websocketVsHttp === undefined
      ? []
      : ['', `The transport alone: uWS's WebSocket echo ÷ its HTTP echo, same bytes in, = ${times(sc.transport.websocketVsHttp)} (uWS copies a frame that spans reads into a buffer of its own and unmasks it before JavaScript sees it; docs/data-path.md).`]),
    '',
    ...(problems.length ? ['Problems:', '', ...problems, ''] : []),
  ];
}

export function renderMarkdown(report: Report): string {
  const { machine, config } = report;
  const gb = (machine.totalMemBytes / 2 ** 30).toFixed(1);
  return [
    `# Volley core benchmark (${report.startedAt})`,
    '',
    `One FP32 input per request, ${config.connections} connections, ` +
      `${config.durationS} s measured after ${config.warmupS} s warm-up, one server at a time, ` +
      `${config.rounds} round(s) per scenario with the servers in rotating order. Figures are from each server's median round; ` +
      'ratios are the median of per-round ratios.',
    '',
    ...renderAcceptance(report),
    ...report.scenarios.flatMap((sc) => (isWire(sc) ? renderWire(sc) : renderScenario(sc))),
    ...renderExtras(report),
    `Machine: ${machine.cpuModel}, ${machine.cores} cores, ${gb} GiB, ${machine.platform} ${machine.release}; ` +
      `Node ${report.node}; commit ${report.git.commit?.slice(0, 12) ?? 'unknown'}${report.git.dirty ? ' (dirty tree)' : ''}.`,
    '',
    `Note: ${config.note}`,
    '',
  ].join('\n');
}

/** Write atomically (tmp + rename; *.tmp is git-ignored) so a killed run never leaves half a file. */
function writeAtomic(path: string, text: string | Buffer): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

/** Each chart as `<name>.svg` and a PNG copy `<name>.png` (png.ts; a PNG that cannot be rendered is reported and skipped). */
export function writeCharts(dir: string, charts: Record<string, string>): string[] {
  const files: string[] = [];
  for (const [name, svg] of Object.entries(charts)) {
    writeAtomic(join(dir, name), svg);
    files.push(join(dir, name));
    try {
      writeAtomic(join(dir, pngName(name)), svgToPng(svg));
      files.push(join(dir, pngName(name)));
    } catch (err) {
      console.error(`bench: ${pngName(name)} not written: ${(err as Error).message}`);
    }
  }
  return files;
}

/** The JSON (timestamped and latest), the Markdown and the charts (`latest-<name>.svg` and `.png`). */
export function writeResults(dir: string, report: Report, markdown: string, charts: Record<string, string> = {}): string[] {
  mkdirSync(dir, { recursive: true });
  const stamp = report.startedAt.replace(/[:.]/g, '-');
  const json = `${JSON.stringify(report, null, 2)}\n`;
  const files = [join(dir, `core-${stamp}.json`), join(dir, 'latest-core.json'), join(dir, 'latest-core.md')];
  writeAtomic(files[0], json);
  writeAtomic(files[1], json);
  writeAtomic(files[2], markdown);
  files.push(...writeCharts(dir, charts));
  return files;
}
