// Start a server under test as a child process, find its port from the JSON
// "listening" log line, wait for /v2/health/ready, and stop it again.
// Every server (Volley and the baselines) speaks this same small contract.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ServerSpec {
  id: string;
  label: string;
  /** Arguments for `node` (process.execPath); always run from `cwd`. */
  args: string[];
  cwd: string;
}

export interface StopInfo {
  how: 'already-exited' | 'SIGTERM' | 'SIGKILL';
  code: number | null;
  signal: NodeJS.Signals | null;
  ms: number;
}

export interface RunningServer {
  spec: ServerSpec;
  pid: number;
  port: number;
  baseUrl: string;
  listeningMs: number;
  readyMs: number;
  /** Last lines of stdout/stderr, for failure reports. */
  tail(): string;
  stop(): Promise<StopInfo>;
}

const TAIL_LINES = 20;
const live = new Set<ChildProcess>();

// If the bench dies or is interrupted, never leave a server holding the CPU.
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const child of live) child.kill('SIGKILL');
    process.exit(130);
  });
}

export async function startServer(spec: ServerSpec, timeoutMs: number): Promise<RunningServer> {
  const started = performance.now();
  const deadline = started + timeoutMs;
  // BENCH_SERVER_CPUS=1 (say): the server runs on those cores only (taskset, which execs node, so
  // the pid is the server's); run the bench itself under `taskset -c 0` to keep the load generator
  // off them.
  const cpus = process.env.BENCH_SERVER_CPUS;
  const [command, args] = cpus ? ['taskset', ['-c', cpus, process.execPath, ...spec.args]] : [process.execPath, spec.args];
  const child = spawn(command, args, {
    cwd: spec.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: process.env,
  });
  live.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('exit', () => live.delete(child));

  const lines: string[] = [];
  const remember = (stream: string, line: string) => {
    lines.push(`[${stream}] ${line}`);
    if (lines.length > TAIL_LINES) lines.shift();
  };
  const tail = () => lines.join('\n');

  // Keep draining stdout for the server's whole life: a server that logs per
  // request would otherwise block on a full pipe and look slow.
  let onPort: (port: number) => void = () => {};
  const portSeen = new Promise<number>((resolve) => (onPort = resolve));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    remember('out', line);
    const port = listeningPort(line);
    if (port !== undefined) onPort(port);
  });
  createInterface({ input: child.stderr! }).on('line', (line) => remember('err', line));

  const stop = () => stopChild(child, exited);
  const fail = async (why: string): Promise<never> => {
    await stop();
    throw new Error(`${spec.label}: ${why}${lines.length ? `\n--- last output ---\n${tail()}` : ''}`);
  };

  const spawnError = new Promise<string>((resolve) => child.once('error', (err) => resolve(`spawn failed: ${err.message}`)));
  const exitBeforeListening = exited.then(() => `exited before listening (code ${child.exitCode}, signal ${child.signalCode})`);
  // Race timers are unref'd so a pending one never keeps the bench alive.
  const timedOut = sleep(timeoutMs, undefined, { ref: false }).then(() => `no "listening" line within ${timeoutMs} ms`);
  const first = await Promise.race([portSeen, spawnError, exitBeforeListening, timedOut]);
  if (typeof first === 'string') return fail(first);
  const port = first;
  const listeningMs = performance.now() - started;
  const baseUrl = `http://127.0.0.1:${port}`;

  // Poll readiness: Volley may still be loading models after it listens.
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) return fail('exited while waiting for readiness');
    try {
      const res = await fetch(`${baseUrl}/v2/health/ready`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not accepting yet; retry below
    }
    if (performance.now() > deadline) return fail(`/v2/health/ready not 200 within ${timeoutMs} ms`);
    await sleep(100);
  }
  const readyMs = performance.now() - started;

  return { spec, pid: child.pid!, port, baseUrl, listeningMs, readyMs, tail, stop };
}

/** The port from a `{"msg":"listening",...,"port":N}` JSON log line, if this is one. */
export function listeningPort(line: string): number | undefined {
  if (!line.startsWith('{') || !line.includes('listening')) return undefined;
  try {
    const obj = JSON.parse(line) as { msg?: unknown; port?: unknown };
    if (obj.msg === 'listening' && typeof obj.port === 'number' && obj.port > 0) return obj.port;
  } catch {
    // not JSON after all
  }
  return undefined;
}

/** SIGTERM, then SIGKILL after 5 s, so a stuck server cannot steal CPU from the next one. */
async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<StopInfo> {
  const t0 = performance.now();
  const done = (how: StopInfo['how']): StopInfo => ({
    how,
    code: child.exitCode,
    signal: child.signalCode,
    ms: Math.round(performance.now() - t0),
  });
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return done('already-exited');
  child.kill('SIGTERM');
  if (await Promise.race([exited.then(() => true), sleep(5000, undefined, { ref: false }).then(() => false)])) return done('SIGTERM');
  child.kill('SIGKILL');
  await Promise.race([exited, sleep(5000, undefined, { ref: false })]);
  return done('SIGKILL');
}
