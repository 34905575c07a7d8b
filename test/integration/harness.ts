/**
 * Starts the real server (`bin/volley.js`, built code) as a child process on 127.0.0.1 port 0 and
 * waits for its own log lines, not for time to pass: `listening` gives the port and
 * `repository_loaded` says the initial load finished.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const FIXTURES = join(ROOT, 'test/fixtures/models');

export interface ServerProcess {
  url: string;
  port: number;
  proc: ChildProcess;
  logs: Record<string, unknown>[];
  /** Resolves with the first log line (past or future) that matches. */
  waitForLog(match: (entry: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  stop(): Promise<number | null>;
}

/** `env`: added to this process's environment for the server's. */
export async function startServer(repo: string, extraArgs: string[] = [], env: Record<string, string> = {}): Promise<ServerProcess> {
  const proc = spawn(process.execPath, [join(ROOT, 'bin/volley.js'), 'serve', '--model-repository', repo, '--host', '127.0.0.1', '--port', '0', '--cpu-threads', '1', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const logs: Record<string, unknown>[] = [];
  const waiters: { match: (e: Record<string, unknown>) => boolean; resolve: (e: Record<string, unknown>) => void }[] = [];
  const waitForLog = (match: (e: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> => {
    const seen = logs.find(match);
    return seen !== undefined ? Promise.resolve(seen) : new Promise((resolve) => waiters.push({ match, resolve }));
  };
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    let buffered = '';
    let port = 0;
    proc.stdout?.on('data', (d: Buffer) => {
      buffered += d.toString();
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        logs.push(entry);
        for (let i = waiters.length - 1; i >= 0; i--) {
          if (waiters[i].match(entry)) waiters.splice(i, 1)[0].resolve(entry);
        }
        if (entry.event === 'listening') port = entry.port as number;
        if (entry.event === 'repository_loaded') resolve(port);
      }
    });
    void exited.then((code) => reject(new Error(`server exited with ${code} before it was ready: ${stderr}${logs.filter((l) => (l.level as number) >= 50).map((l) => JSON.stringify(l)).join('\n')}`)));
  });
  const stop = async (): Promise<number | null> => {
    if (proc.exitCode === null) proc.kill('SIGTERM');
    return exited;
  };
  return { url: `http://127.0.0.1:${port}`, port, proc, logs, waitForLog, exited, stop };
}

/** A fresh repository in a temp dir: fixture models copied in, with optional config.json overrides. */
export function makeRepo(models: Record<string, { from: string; config?: unknown }>): string {
  const dir = mkdtempSync(join(tmpdir(), 'volley-repo-'));
  for (const [name, { from, config }] of Object.entries(models)) {
    cpSync(join(FIXTURES, from), join(dir, name), { recursive: true });
    if (config !== undefined) writeFileSync(join(dir, name, 'config.json'), JSON.stringify(config));
  }
  return dir;
}

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text), headers: res.headers };
}

export async function getJson(url: string, method = 'GET'): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, { method });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text), headers: res.headers };
}

/** `n` rows of mlp_classifier's input ([n, 4] FP32, flat), fixed by `seed`, exact as float32. */
export function mlpRows(n: number, seed: number): number[] {
  return Array.from({ length: n * 4 }, (_, k) => Math.fround(Math.sin(seed * 7 + k) * 3));
}

/** POSTs `n` rows to `model`'s `input` as JSON. */
export function inferRows(server: { url: string }, model: string, data: number[], n: number) {
  return postJson(`${server.url}/v2/models/${model}/infer`, { inputs: [{ name: 'input', shape: [n, 4], datatype: 'FP32', data }] });
}

/** Every datatype's extremes as a [2,2] tensor, for exact round trips through the binary formats. */
export const EXTREMES: Readonly<Record<string, ArrayBufferView>> = {
  BOOL: Uint8Array.from([1, 0, 0, 1]),
  UINT8: Uint8Array.from([0, 255, 7, 128]),
  UINT16: Uint16Array.from([0, 65535, 1, 300]),
  UINT32: Uint32Array.from([0, 4294967295, 1, 70000]),
  UINT64: BigUint64Array.from([0n, 18446744073709551615n, 1n, 2n]),
  INT8: Int8Array.from([-128, 127, 0, -1]),
  INT16: Int16Array.from([-32768, 32767, 0, -1]),
  INT32: Int32Array.from([-2147483648, 2147483647, 0, -1]),
  INT64: BigInt64Array.from([-9223372036854775808n, 9223372036854775807n, 0n, -1n]),
  FP16: Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0001]),
  FP32: Float32Array.from([1.5, -0.25, 3.4028234663852886e38, 1e-30]),
  FP64: Float64Array.from([Math.PI, -1e300, 5e-324, 0]),
};

/** Writes `<repo>/<name>/<version>/model.onnx` atomically (written aside, then renamed over). */
export function writeVersion(repo: string, name: string, version: number, model: Uint8Array | string): void {
  const dir = join(repo, name, String(version));
  mkdirSync(dir, { recursive: true });
  const tmp = join(repo, name, `.model-${version}-${process.hrtime.bigint()}.tmp`);
  writeFileSync(tmp, model);
  renameSync(tmp, join(dir, 'model.onnx'));
}

/** Writes `<repo>/<name>/config.json` atomically. */
export function writeConfig(repo: string, name: string, config: unknown): void {
  mkdirSync(join(repo, name), { recursive: true });
  const tmp = join(repo, name, `.config-${process.hrtime.bigint()}.tmp`);
  writeFileSync(tmp, typeof config === 'string' ? config : JSON.stringify(config));
  renameSync(tmp, join(repo, name, 'config.json'));
}

/** An empty repository in a temp dir. */
export function emptyRepo(): string {
  return mkdtempSync(join(tmpdir(), 'volley-repo-'));
}

/** FP32 [rows, width] request body for the addConst models (input 'x'). */
export function addRequest(x: number[], rows = 1, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { inputs: [{ name: 'x', datatype: 'FP32', shape: [rows, x.length / rows], data: x }], ...extra };
}
