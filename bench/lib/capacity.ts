// Scenarios beyond one-server-one-load, all on mlp_small with the `small`
// scenario's JSON body: multi-model (RSS and cost per request with 1 vs N
// models loaded), overload (offered load 3× measured capacity).
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { describeLoad, measured, type Target, withServer } from './bench-one.js';
import { checkInfer, type LoadResult, runLoad } from './load.js';
import { buildMlpSmall, MLP_SMALL_CONFIG, MLP_SMALL_FEATURES, writeMlpSmallRepo } from './mlp-small.js';
import { runLoadOrPaced } from './paced-load.js';
import { sampleProc } from './proc-stats.js';
import { runBaseline, volley } from './servers.js';
import { fetchMetrics, newSpaceMBFrom } from './volley-metrics.js';

export interface ExtraOptions {
  root: string;
  tmp: string;
  warmupS: number;
  durationS: number;
  connections: number;
  progress: (msg: string) => void;
}

export interface MultiModelPoint {
  models: number;
  /** VmRSS once every model is ready, before any load, MB. */
  idleRssMB: number;
  /** VmRSS after the measured window (load spread over every model), MB. */
  loadedRssMB: number;
  /**
   * The main thread's V8 new space after the window, MB (absent in older results). It grows with
   * the load to its ceiling (64 MB with --max-semi-space-size=32), and not always within the
   * window: two points compare like with like only where it is the same.
   */
  newSpaceMB?: number;
  load: LoadResult;
}

/** N ONNX Runtime sessions of the same model with no server (bench/baselines/ort-sessions.ts). */
export interface OrtSessionsFloor {
  count: number;
  rssOneMB: number;
  rssAllMB: number;
  /** RSS per session beyond the first, MB: what each model's own ONNX Runtime session costs. */
  perSessionMB: number;
}

export interface MultiModelReport {
  points: MultiModelPoint[];
  /** (RSS with N models − RSS with 1) / (N − 1), after load, MB. */
  perExtraModelMB: number;
  /** RSS after load with N models ÷ with 1. */
  rssGrowth: number;
  /** ORT's own cost per session (absent in older results, or `floorError`). */
  floor?: OrtSessionsFloor;
  floorError?: string;
  /** Volley's 1-model RSS plus N − 1 bare sessions, ÷ that RSS: the growth if each extra model cost only its session. */
  floorGrowth?: number;
}

const modelName = (i: number) => `mlp_small_${String(i).padStart(2, '0')}`;

/** Volley with 1, then `n` copies of mlp_small loaded, load spread evenly (each connection cycles through the models). */
export async function benchMultiModel(small: Target, n: number, o: ExtraOptions): Promise<MultiModelReport> {
  const bytes = buildMlpSmall();
  const points: MultiModelPoint[] = [];
  let modelPath = '';
  for (const count of [1, n]) {
    const repo = join(o.tmp, `multi-${count}`);
    mkdirSync(repo, { recursive: true });
    for (let i = 0; i < count; i++) modelPath = writeMlpSmallRepo(repo, modelName(i), MLP_SMALL_CONFIG, bytes);
    const say = (msg: string) => o.progress(`multi/${count} model(s): ${msg}`);
    const spec = volley(o.root, repo, { label: `volley, ${count} model(s)` });
    points.push(
      await withServer(spec, say, async (server) => {
        const idle = sampleProc(server.pid);
        const paths = Array.from({ length: count }, (_, i) => `/v2/models/${modelName(i)}/infer`);
        const cfg = { url: `${server.baseUrl}${paths[0]}`, paths, body: small.body, connections: o.connections };
        const check = await checkInfer({ ...cfg, url: `${server.baseUrl}${paths[count - 1]}` }, small.probabilities);
        if (!check.ok) throw new Error(`sanity request failed: ${check.note}`);
        await runLoad(cfg, o.warmupS);
        const load = await measured(server, cfg, o.durationS);
        const newSpaceMB = await fetchMetrics(server.baseUrl).then(newSpaceMBFrom, () => NaN);
        say(`${describeLoad(load)}; idle RSS ${((idle?.rssBytes ?? NaN) / 2 ** 20).toFixed(0)} MB; new space ${newSpaceMB.toFixed(0)} MB`);
        return { models: count, idleRssMB: (idle?.rssBytes ?? NaN) / 2 ** 20, loadedRssMB: load.proc?.rssAfterMB ?? NaN, newSpaceMB, load };
      }),
    );
  }
  const [one, many] = points;
  const report: MultiModelReport = { points, perExtraModelMB: (many.loadedRssMB - one.loadedRssMB) / (n - 1), rssGrowth: many.loadedRssMB / one.loadedRssMB };
  o.progress(`multi: ${n} ONNX Runtime sessions alone (bench/baselines/ort-sessions.ts)`);
  try {
    // Volley's intra-op threads for this config: the cores shared by its instances (model-version.ts).
    const threads = Math.max(1, Math.floor(availableParallelism() / MLP_SMALL_CONFIG.instance_count));
    report.floor = await measureOrtSessions(o.root, modelPath, n, MLP_SMALL_CONFIG.max_batch_size, threads);
    // A version opens one session per instance.
    report.floorGrowth = (one.loadedRssMB + (n - 1) * MLP_SMALL_CONFIG.instance_count * report.floor.perSessionMB) / one.loadedRssMB;
    o.progress(`multi: ${report.floor.perSessionMB.toFixed(2)} MB per session`);
  } catch (err) {
    report.floorError = (err as Error).message;
  }
  return report;
}

async function measureOrtSessions(root: string, modelPath: string, count: number, maxBatch: number, threads: number): Promise<OrtSessionsFloor> {
  const flags = ['--model', modelPath, '--features', String(MLP_SMALL_FEATURES), '--count', String(count), '--max-batch', String(maxBatch), '--threads', String(threads)];
  const { rssOneMB, rssAllMB, perSessionMB } = await runBaseline<OrtSessionsFloor>(root, 'ort-sessions.ts', 'ort-sessions', flags);
  return { count, rssOneMB, rssAllMB, perSessionMB };
}

export interface OverloadReport {
  /** Bounded queue of the overload repository's model (max_queue_size). */
  maxQueueSize: number;
  connections: number;
  capacity: LoadResult;
  offeredRps: number;
  overload: LoadResult;
  /** 2xx/s under overload ÷ capacity. */
  goodputRatio: number;
  /** 503 answers ÷ all answers under overload. */
  share503: number;
}

/**
 * Measure capacity (closed loop, `connections`), then offer 3× that rate from
 * 512 connections on the same server, evenly paced (paced-load.ts: autocannon's
 * overallRate would send it in one-second bursts). The model's queue is bounded at 128 (the
 * default 1,024 would hold every connection's request, so nothing would ever be
 * rejected and the overload would show up only as latency).
 */
export async function benchOverload(small: Target, o: ExtraOptions): Promise<OverloadReport> {
  const maxQueueSize = 128;
  const connections = 512;
  const repo = join(o.tmp, 'overload');
  const config = { ...MLP_SMALL_CONFIG, dynamic_batching: { ...MLP_SMALL_CONFIG.dynamic_batching, max_queue_size: maxQueueSize } };
  writeMlpSmallRepo(repo, 'mlp_small', config);
  const say = (msg: string) => o.progress(`overload: ${msg}`);
  return withServer(volley(o.root, repo), say, async (server) => {
    const cfg = { url: `${server.baseUrl}${small.path}`, body: small.body, connections: o.connections };
    await runLoad(cfg, o.warmupS);
    const capacity = await measured(server, cfg, o.durationS);
    say(`capacity at ${o.connections} connections: ${describeLoad(capacity)}`);
    const offeredRps = Math.round(3 * capacity.rps);
    say(`offering ${offeredRps} req/s (3×) from ${connections} connections`);
    const overload = await measured(server, { ...cfg, connections, rate: offeredRps }, o.durationS, runLoadOrPaced);
    const answers = overload.ok2xx + overload.non2xx;
    const share503 = answers > 0 ? (overload.statusCodes['503'] ?? 0) / answers : NaN;
    say(`${describeLoad(overload)}; ${(share503 * 100).toFixed(1)}% 503`);
    return { maxQueueSize, connections, capacity, offeredRps, overload, goodputRatio: overload.rps / capacity.rps, share503 };
  });
}
