// The servers under test, as child-process specs (see server.ts for the
// start/ready/stop contract they all share), and what each is sent.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ServerSpec } from './server.js';

/** A server plus what the load sends it and what its sanity answer must look like. */
export interface BenchServer extends ServerSpec {
  /** Overrides the scenario's JSON body (e.g. Volley gets a binary body in `heavy`). */
  body?: string | Buffer;
  headers?: Record<string, string>;
  /** `zeros`: the no-op runtime answers zero-filled outputs of the right shape. */
  expect: 'reference' | 'zeros';
}

export const SERVER_IDS = ['volley', 'noop', 'naive', 'fastify', 'echo'] as const;
export type ServerId = (typeof SERVER_IDS)[number];

// Baselines run through tsx's loader in a plain `node` process: no npx or
// wrapper process in between, so SIGTERM/SIGKILL reach the server itself (and
// /proc/<pid> is the server's own CPU and memory).
export const tsxArgs = (file: string, ...flags: string[]) => ['--import', 'tsx', join('bench', 'baselines', file), ...flags];
const listen = ['--host', '127.0.0.1', '--port', '0'];

/** Runs a one-shot baseline (bench/baselines/<file>) to the end and returns its `{"msg":<msg>, …}` result line, parsed. */
export async function runBaseline<T>(root: string, file: string, msg: string, flags: string[]): Promise<T> {
  const { stdout } = await promisify(execFile)(process.execPath, tsxArgs(file, ...flags), { cwd: root, timeout: 120_000, maxBuffer: 1 << 20 });
  const line = stdout.split('\n').find((l) => l.startsWith(`{"msg":${JSON.stringify(msg)}`));
  if (!line) throw new Error(`${file} printed no result:\n${stdout.slice(-500)}`);
  return JSON.parse(line) as T;
}

/** The V8 flags `npm start` and the Docker image give Volley (README, "Node flags"): the bench runs it the same way. */
export const VOLLEY_NODE_FLAGS = ['--initial-old-space-size=64', '--max-semi-space-size=32'];

/** `nodeFlags`: instead of VOLLEY_NODE_FLAGS (`[]` runs Volley as plain `node bin/volley.js`). */
export function volley(root: string, repository: string, extra: { id?: string; label?: string; args?: string[]; nodeFlags?: string[] } = {}): BenchServer {
  return {
    id: extra.id ?? 'volley',
    label: extra.label ?? 'volley',
    args: [...(extra.nodeFlags ?? VOLLEY_NODE_FLAGS), 'bin/volley.js', 'serve', '--model-repository', repository, ...listen, ...(extra.args ?? [])],
    cwd: root,
    expect: 'reference',
  };
}

/** Volley with the benchmark-only no-op runtime: HTTP, decoding, batching, the worker hop and encoding, no compute. */
export function volleyNoop(root: string, repository: string): BenchServer {
  return { ...volley(root, repository, { id: 'noop', label: 'volley, no-op runtime', args: ['--bench-runtime', 'noop'] }), expect: 'zeros' };
}

export function naive(root: string, modelPath: string, model: string): BenchServer {
  return { id: 'naive', label: 'naive (node:http + ort)', args: tsxArgs('naive-http.ts', ...listen, '--model', modelPath, '--name', model), cwd: root, expect: 'reference' };
}

export function fastify(root: string, modelPath: string, model: string): BenchServer {
  return { id: 'fastify', label: 'fastify + ort', args: tsxArgs('fastify-ort.ts', ...listen, '--model', modelPath, '--name', model), cwd: root, expect: 'reference' };
}

export function echo(root: string, responseFile: string, label = 'echo (uWS, no inference)'): BenchServer {
  return { id: 'echo', label, args: tsxArgs('uws-echo.ts', ...listen, '--response-file', responseFile), cwd: root, expect: 'reference' };
}
