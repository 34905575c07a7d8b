/**
 * Hot swap under load: 64 clients send requests without pause while the model is swapped to a new
 * version five times (explicit load API, then poll mode). Not one request may fail, and every
 * answer must come entirely from the version it names (y = x + version). Latency under swaps is a
 * bench figure (bench/), not asserted here.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { addConst } from '../../scripts/onnx/versioned.js';
import { addRequest, emptyRepo, postJson, startServer, writeConfig, writeVersion } from './harness.js';
import type { ServerProcess } from './harness.js';

let server: ServerProcess | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

const CLIENTS = 64;
const SWAPS = 5;

interface Tally {
  ok: number;
  failures: string[];
  versions: Map<string, number>;
}

/** 64 loops sending requests until `stop` resolves; every answer is checked as it arrives. */
async function load(s: ServerProcess, tally: Tally, stop: Promise<void>): Promise<void> {
  let stopped = false;
  void stop.then(() => (stopped = true));
  const client = async (c: number): Promise<void> => {
    for (let i = 0; !stopped; i++) {
      const x = [c, i, -c, 0.5];
      const rows = 1 + ((c + i) % 3);
      const res = await postJson(`${s.url}/v2/models/m/infer`, addRequest(Array.from({ length: rows }, () => x).flat(), rows));
      if (res.status !== 200) {
        tally.failures.push(`${res.status} ${JSON.stringify(res.body)}`);
        continue;
      }
      const v = Number(res.body.model_version);
      const y: number[] = res.body.outputs[0].data;
      if (y.length !== rows * 4 || y.some((yi, k) => Math.abs(yi - x[k % 4] - v) > 1e-3)) tally.failures.push(`version ${v} answered ${JSON.stringify(y)} for ${JSON.stringify(x)}`);
      tally.ok++;
      tally.versions.set(String(v), (tally.versions.get(String(v)) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
}

/** Resolves once `n` more answers have arrived (checked between I/O rounds, not on a timer). */
function moreAnswers(tally: Tally, n: number): Promise<void> {
  const target = tally.ok + tally.failures.length + n;
  return new Promise((resolve) => {
    const check = (): void => {
      if (tally.ok + tally.failures.length >= target) resolve();
      else setImmediate(check);
    };
    check();
  });
}

/** Starts the load; `stop()` ends it and resolves with the tally. */
function startLoad(s: ServerProcess): { tally: Tally; stop: () => Promise<Tally> } {
  const tally: Tally = { ok: 0, failures: [], versions: new Map() };
  let release = (): void => {};
  const running = load(s, tally, new Promise<void>((r) => (release = r)));
  return {
    tally,
    stop: async () => {
      release();
      await running;
      return tally;
    },
  };
}

function repo(): string {
  const dir = emptyRepo();
  writeConfig(dir, 'm', { max_batch_size: 16, dynamic_batching: { max_queue_delay_microseconds: 500 } });
  writeVersion(dir, 'm', 1, addConst(1));
  return dir;
}

describe('hot swap under load', () => {
  it('explicit mode: five load-before-unload swaps, zero failed requests, every answer from one version', async () => {
    const dir = repo();
    server = await startServer(dir, ['--model-control-mode', 'explicit', '--load-model', 'm', '--cpu-threads', '2']);
    const s = server;
    const traffic = startLoad(s);
    for (let v = 2; v <= SWAPS + 1; v++) {
      await moreAnswers(traffic.tally, 100);
      writeVersion(dir, 'm', v, addConst(v));
      const res = await postJson(`${s.url}/v2/repository/models/m/load`, '');
      expect(res.status, JSON.stringify(res.body)).toBe(200);
    }
    await moreAnswers(traffic.tally, 100);
    const tally = await traffic.stop();
    expect(tally.failures).toEqual([]);
    expect(tally.ok).toBeGreaterThan(500);
    // Every version answered: the swaps happened while requests were flowing.
    expect([...tally.versions.keys()].sort()).toEqual(['1', '2', '3', '4', '5', '6']);
    const unloaded = s.logs.filter((l) => l.event === 'model_state' && l.to === 'UNLOADED').map((l) => l.version);
    expect(unloaded).toEqual([1, 2, 3, 4, 5]);
  });

  it('poll mode: five new version directories swap in while 64 clients send, zero failed requests', async () => {
    const dir = repo();
    server = await startServer(dir, ['--model-control-mode', 'poll', '--repository-poll-secs', '0.1', '--cpu-threads', '2']);
    const s = server;
    const traffic = startLoad(s);
    for (let v = 2; v <= SWAPS + 1; v++) {
      await moreAnswers(traffic.tally, 100);
      writeVersion(dir, 'm', v, addConst(v));
      await s.waitForLog((l) => l.event === 'model_state' && l.version === v - 1 && l.to === 'UNLOADED');
    }
    await moreAnswers(traffic.tally, 100);
    const tally = await traffic.stop();
    expect(tally.failures).toEqual([]);
    expect([...tally.versions.keys()].sort()).toEqual(['1', '2', '3', '4', '5', '6']);
  });
});
