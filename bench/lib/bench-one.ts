// One server on one load: start it, check one answer, warm up, measure with
// autocannon while sampling the server's CPU time and RSS from /proc, stop it.
import { checkInfer, type LoadConfig, type LoadResult, runLoad } from './load.js';
import { procCost, sampleProc } from './proc-stats.js';
import type { ServerResult } from './report.js';
import { type RunningServer, type ServerSpec, startServer } from './server.js';
import type { BenchServer } from './servers.js';

// Volley spawns worker threads and loads models before it is ready.
export const STARTUP_TIMEOUT_MS = 60_000;

export interface Target {
  /** Prefix of progress lines, e.g. "small". */
  id: string;
  path: string;
  body: string | Buffer;
  headers?: Record<string, string>;
  /** Reference probabilities for the sanity request. */
  probabilities: number[];
}

export interface OneOptions {
  connections: number;
  warmupS: number;
  durationS: number;
  progress: (msg: string) => void;
}

/**
 * Start `spec`, run `fn` on it, always stop it. Startup failures and errors in
 * `fn` are thrown with the server's last output attached.
 */
export async function withServer<T>(spec: ServerSpec, say: (msg: string) => void, fn: (server: RunningServer) => Promise<T>): Promise<T> {
  say(`starting: node ${spec.args.join(' ')}`);
  const server = await startServer(spec, STARTUP_TIMEOUT_MS);
  say(`pid ${server.pid} on port ${server.port}, ready after ${Math.round(server.readyMs)} ms`);
  try {
    return await fn(server);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${server.tail()}`);
  } finally {
    const stop = await server.stop();
    say(`stopped (${stop.how}, ${stop.ms} ms)`);
  }
}

/** A measured run (autocannon unless `run` says otherwise) with the server's CPU and RSS over the same window. */
export async function measured(server: RunningServer, cfg: LoadConfig, durationS: number, run: (cfg: LoadConfig, durationS: number) => Promise<LoadResult> = runLoad): Promise<LoadResult> {
  const before = sampleProc(server.pid);
  const load = await run(cfg, durationS);
  load.proc = procCost(before, sampleProc(server.pid), load.ok2xx);
  return load;
}

export const describeLoad = (l: LoadResult) =>
  `${Math.round(l.rps)} req/s, p50 ${l.latencyMs.p50.toFixed(2)} ms, p99 ${l.latencyMs.p99.toFixed(2)} ms, ` +
  `${l.non2xx} non-2xx, ${l.errors} errors` +
  (l.proc ? `; server ${l.proc.cpuUsPerRequest.toFixed(0)} µs CPU/req, ${l.proc.cores.toFixed(2)} cores, RSS ${l.proc.rssAfterMB.toFixed(0)} MB` : '') +
  (l.paced ? `; paced: sent ${Math.round(l.paced.sentRps)} req/s, ${l.paced.late} late, p99 from schedule ${l.paced.latencyFromScheduleMs.p99.toFixed(2)} ms` : '');

export async function benchOne(t: Target, spec: BenchServer, opts: OneOptions): Promise<ServerResult> {
  const result: ServerResult = { id: spec.id, label: spec.label, status: 'failed' };
  const say = (msg: string) => opts.progress(`${t.id}/${spec.id}: ${msg}`);
  try {
    await withServer(spec, say, async (server) => {
      result.startup = { listeningMs: Math.round(server.listeningMs), readyMs: Math.round(server.readyMs) };
      const cfg: LoadConfig = { url: `${server.baseUrl}${t.path}`, body: spec.body ?? t.body, headers: spec.headers ?? t.headers, connections: opts.connections };
      result.check = await checkInfer(cfg, t.probabilities, spec.expect);
      say(`sanity request: ${result.check.note}`);
      await runLoad(cfg, opts.warmupS);
      say(`measuring ${opts.durationS} s at ${opts.connections} connections`);
      result.load = await measured(server, cfg, opts.durationS);
      result.status = 'ok';
      say(describeLoad(result.load));
    });
  } catch (err) {
    result.error = (err as Error).message;
    say(`failed: ${result.error.split('\n')[0]}`);
  }
  return result;
}
