// Sweeps on mlp_small (the `small` scenario's JSON body):
// - connections: one server process per server, every connection count in
//   turn (short warm-up each), throughput vs p99 per server;
// - max_queue_delay_microseconds: one Volley per delay (config.json rewritten
//   in a temp repository), each at 1 connection, at 64 (closed loop: peak),
//   and at 50% of that peak rate (paced open loop, paced-load.ts): the p99 there is
//   checked against delay + 2 × the mean batch compute time Volley reports
//   for the same window; the 64-connection window's batch-size histogram is kept.
import { join } from 'node:path';
import { describeLoad, measured, type Target, withServer } from './bench-one.js';
import type { ExtraOptions } from './capacity.js';
import { type LoadConfig, type LoadResult, runLoad } from './load.js';
import { MLP_SMALL_CONFIG, writeMlpSmallRepo } from './mlp-small.js';
import { runLoadOrPaced } from './paced-load.js';
import { type BenchServer, volley } from './servers.js';
import { batchDelta, type BatchStats, scrapeBatches } from './volley-metrics.js';

export interface SweepPoint {
  connections: number;
  /** Offered rate (open loop), when the point had one. */
  rate?: number;
  load: LoadResult;
}

export interface ConnectionSweep {
  server: string;
  label: string;
  points: SweepPoint[];
  error?: string;
}

export interface DelayPoint {
  delayUs: number;
  single: SweepPoint;
  peak: SweepPoint;
  /** Batches during the peak window. */
  peakBatches: BatchStats;
  half: SweepPoint;
  halfBatches: BatchStats;
  /** delay + 2 × mean batch compute time of the half-load window, ms. */
  boundMs: number;
  /**
   * The uWS echo (no parsing, no inference) at the same paced rate and connections: the p99 this
   * machine's transport and scheduling alone give at that load, to read Volley's p99 against.
   */
  echoHalf?: SweepPoint;
  meetsBound: boolean;
  error?: string;
}

const pointSummary = (p: SweepPoint) => `${p.connections} conn${p.rate ? ` @ ${p.rate} req/s` : ''}: ${describeLoad(p.load)}`;

export async function sweepConnections(small: Target, servers: BenchServer[], counts: number[], o: ExtraOptions): Promise<ConnectionSweep[]> {
  const out: ConnectionSweep[] = [];
  for (const spec of servers) {
    const sweep: ConnectionSweep = { server: spec.id, label: spec.label, points: [] };
    const say = (msg: string) => o.progress(`sweep-connections/${spec.id}: ${msg}`);
    try {
      await withServer(spec, say, async (server) => {
        for (const connections of counts) {
          const cfg: LoadConfig = { url: `${server.baseUrl}${small.path}`, body: small.body, connections };
          await runLoad(cfg, o.warmupS);
          const point = { connections, load: await measured(server, cfg, o.durationS) };
          sweep.points.push(point);
          say(pointSummary(point));
        }
      });
    } catch (err) {
      sweep.error = (err as Error).message.split('\n')[0];
      say(`failed: ${sweep.error}`);
    }
    out.push(sweep);
  }
  return out;
}

export async function sweepDelay(small: Target, model: string, delays: number[], o: ExtraOptions, echoSpec?: BenchServer): Promise<DelayPoint[]> {
  const out: DelayPoint[] = [];
  for (const delayUs of delays) {
    const repo = join(o.tmp, `delay-${delayUs}`);
    writeMlpSmallRepo(repo, model, { ...MLP_SMALL_CONFIG, dynamic_batching: { ...MLP_SMALL_CONFIG.dynamic_batching, max_queue_delay_microseconds: delayUs } });
    const say = (msg: string) => o.progress(`sweep-delay/${delayUs} µs: ${msg}`);
    out.push(
      await withServer(volley(o.root, repo), say, async (server) => {
        const cfg: LoadConfig = { url: `${server.baseUrl}${small.path}`, body: small.body, connections: 1 };
        const window = async (c: LoadConfig): Promise<[SweepPoint, BatchStats]> => {
          // Closed loop (autocannon) for 1 connection and peak; evenly paced open loop at half of peak.
          await runLoadOrPaced(c, o.warmupS);
          const before = await scrapeBatches(server.baseUrl, model);
          const load = await measured(server, c, o.durationS, runLoadOrPaced);
          const stats = batchDelta(before, await scrapeBatches(server.baseUrl, model));
          const point = { connections: c.connections, rate: c.rate, load };
          say(`${pointSummary(point)}; mean batch ${stats.meanBatch.toFixed(1)} rows, ${stats.meanComputeMs.toFixed(2)} ms compute`);
          return [point, stats];
        };
        const [single] = await window(cfg);
        const [peak, peakBatches] = await window({ ...cfg, connections: o.connections });
        const rate = Math.max(1, Math.round(peak.load.rps / 2));
        const [half, halfBatches] = await window({ ...cfg, connections: o.connections, rate });
        const boundMs = delayUs / 1000 + 2 * halfBatches.meanComputeMs;
        return { delayUs, single, peak, peakBatches, half, halfBatches, boundMs, meetsBound: half.load.latencyMs.p99 <= boundMs };
      }),
    );
  }
  if (echoSpec !== undefined) {
    const say = (msg: string) => o.progress(`sweep-delay/echo: ${msg}`);
    try {
      await withServer(echoSpec, say, async (server) => {
        for (const d of out) {
          const c: LoadConfig = { url: `${server.baseUrl}${small.path}`, body: small.body, connections: o.connections, rate: d.half.rate };
          await runLoadOrPaced(c, o.warmupS);
          d.echoHalf = { connections: c.connections, rate: c.rate, load: await measured(server, c, o.durationS, runLoadOrPaced) };
          say(pointSummary(d.echoHalf));
        }
      });
    } catch (err) {
      say(`failed: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return out;
}

