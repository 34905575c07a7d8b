/**
 * The WebSocket stream over a real socket: many requests in flight, answered by id; malformed
 * frames answered with error frames while the socket and the server keep going.
 */
import { Packr, unpack } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { EXTREMES, FIXTURES, getJson, postJson, startServer } from './harness.js';
import type { ServerProcess } from './harness.js';

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer(FIXTURES, ['--max-body-bytes', '1048576', '--ws-max-buffered-bytes', '65536']);
});
afterAll(async () => {
  await server?.stop();
});

const packr = new Packr({ useRecords: false });

/** A connected socket whose frames are decoded and delivered per id. */
async function connect(): Promise<{ ws: WebSocket; frames: any[]; next: (n: number) => Promise<any[]>; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/v2/stream`);
  const frames: any[] = [];
  let waiter: { n: number; resolve: (f: any[]) => void } | null = null;
  ws.on('message', (data, isBinary) => {
    frames.push(isBinary ? unpack(data as Buffer) : JSON.parse(String(data)));
    if (waiter !== null && frames.length >= waiter.n) waiter.resolve(frames.splice(0, waiter.n));
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const next = (n: number) =>
    new Promise<any[]>((resolve) => {
      if (frames.length >= n) resolve(frames.splice(0, n));
      else waiter = { n, resolve };
    });
  return { ws, frames, next, closed };
}

const row = (i: number) => [i % 5, (i * 7) % 3, 1, -1];

describe('WebSocket stream', () => {
  it('closes a reader that stops reading (1008) instead of buffering its answers without bound', async () => {
    const s = await connect();
    // Stop reading; ask for 200 answers of 256 KB each (50 MB: more than loopback's socket buffers
    // can hold, 32 MB + 4 MB with the tcp_rmem/tcp_wmem maxima seen here).
    (s.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const x = new Float32Array(3 * 21845);
    for (let i = 0; i < 200; i++) s.ws.send(packr.pack({ id: i, model_name: 'reshape_fail', inputs: [{ name: 'x', shape: [1, x.length], datatype: 'FP32', data: new Uint8Array(x.buffer) }] }));
    // The server says when it gives up on this reader; only then read again.
    const log = await server.waitForLog((l) => l.event === 'stream_slow_reader');
    expect(log.limit).toBe(65536);
    (s.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    const { code, reason } = await s.closed;
    expect(code).toBe(1008);
    expect(reason).toMatch(/reads too slowly: over 65536 bytes/);
    expect(s.frames.length).toBeLessThan(200);
  });

  it('is listed in the server extensions', async () => {
    expect((await getJson(`${server.url}/v2`)).body.extensions).toContain('websocket');
  });

  // Adversarial probe: a plain GET got 404 "no route", as if the endpoint did not exist.
  it('answers a plain GET (no upgrade) with 426 and Upgrade: websocket', async () => {
    const res = await getJson(`${server.url}/v2/stream`);
    expect(res.status).toBe(426);
    expect(res.headers.get('upgrade')).toBe('websocket');
    expect(res.body.error).toMatch(/WebSocket endpoint/);
  });

  it('answers 1,000 requests in flight over 4 sockets, each matched by id and correct', async () => {
    const expected = new Map<number, number[]>();
    for (let i = 0; i < 5 * 3; i++) {
      const res = await postJson(`${server.url}/v2/models/mlp_classifier/infer`, { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: row(i) }] });
      expected.set(i, res.body.outputs[0].data);
    }
    const sockets = await Promise.all([0, 1, 2, 3].map(() => connect()));
    sockets.forEach((s, k) => {
      for (let j = 0; j < 250; j++) {
        const id = k * 250 + j;
        s.ws.send(packr.pack({ id, model_name: 'mlp_classifier', inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: row(id) }] }));
      }
    });
    const answers = (await Promise.all(sockets.map((s) => s.next(250)))).flat();
    expect(answers).toHaveLength(1000);
    const ids = new Set<number>();
    for (const a of answers) {
      expect(a.error).toBeUndefined();
      expect(a).toMatchObject({ model_name: 'mlp_classifier', model_version: '1' });
      const data = Buffer.from(a.outputs[0].data);
      const probs = Array.from(new Float32Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.length)));
      expect(probs, `id ${a.id}`).toEqual(expected.get(a.id % 15));
      ids.add(a.id);
    }
    expect(ids.size).toBe(1000);
    for (const s of sockets) s.ws.close();
  });

  it('round-trips every datatype exactly as bytes', async () => {
    const s = await connect();
    const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const inputs = Object.entries(EXTREMES).map(([dt, a]) => ({ name: `in_${dt.toLowerCase()}`, shape: [2, 2], datatype: dt, data: bytes(a) }));
    s.ws.send(packr.pack({ id: 'all', model_name: 'identity_all', inputs }));
    const [a] = await s.next(1);
    expect(a.error).toBeUndefined();
    expect(a.outputs).toHaveLength(12);
    for (const out of a.outputs as { name: string; datatype: string; data: Uint8Array }[]) {
      expect(Buffer.compare(Buffer.from(out.data), Buffer.from(bytes(EXTREMES[out.datatype]))), out.name).toBe(0);
    }
    s.ws.close();
  });

  it('answers JSON text frames with JSON', async () => {
    const s = await connect();
    s.ws.send(JSON.stringify({ id: 'j1', model_name: 'no_batch', inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] }] }));
    const [a] = await s.next(1);
    expect(a).toEqual({ id: 'j1', model_name: 'no_batch', model_version: '1', outputs: [{ name: 'y', datatype: 'FP32', shape: [2, 3], data: [2, 4, 6, 8, 10, 12] }] });
    s.ws.close();
  });

  it('answers malformed frames with error frames and keeps the socket open', async () => {
    const s = await connect();
    const good = packr.pack({ id: 'ok', model_name: 'no_batch', inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] }] });
    s.ws.send(good.subarray(0, 10));
    s.ws.send(packr.pack({ model_name: 'no_batch', inputs: [] }));
    s.ws.send(packr.pack({ id: 7, model_name: 'nope', inputs: [] }));
    s.ws.send(packr.pack({ id: 8, model_name: 'no_batch', inputs: [{ name: 'x', shape: [2, 2], datatype: 'FP32', data: [1, 2, 3, 4] }] }));
    s.ws.send(JSON.stringify([1, 2]));
    s.ws.send(good);
    const frames = await s.next(6);
    expect(frames[0]).toMatchObject({ id: null, status: 400 });
    expect(frames[0].error).toMatch(/not valid msgpack/);
    expect(frames[1]).toMatchObject({ id: null, status: 400 });
    expect(frames[1].error).toMatch(/needs an 'id'/);
    expect(frames[2]).toMatchObject({ id: 7, status: 404 });
    expect(frames[3]).toMatchObject({ id: 8, status: 400 });
    expect(frames[4]).toMatchObject({ id: null, status: 400 });
    expect(frames[5]).toMatchObject({ id: 'ok', model_name: 'no_batch' });
    s.ws.close();
  });

  // Regression (adversarial review): an id of 1e400 parsed to Infinity and came back as null, a
  // 64-bit msgpack id was "missing", and a 10,000-deep value overflowed the stack (status 500).
  it('refuses ids it could not send back as they came, and deep nesting, with 400 frames', async () => {
    const s = await connect();
    const inputs = [{ name: 'x', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] }];
    s.ws.send(`{"id":1e400,"model_name":"no_batch","inputs":${JSON.stringify(inputs)}}`);
    s.ws.send(packr.pack({ id: 2n ** 60n, model_name: 'no_batch', inputs }));
    s.ws.send(`{"id":"deep","model_name":"no_batch","inputs":[{"name":"x","shape":[1],"datatype":${'['.repeat(10_000)}${']'.repeat(10_000)},"data":[1]}]}`);
    s.ws.send(packr.pack({ id: 2 ** 40, model_name: 'no_batch', inputs }));
    const frames = await s.next(4);
    expect(frames[0]).toMatchObject({ id: null, status: 400, error: expect.stringMatching(/finite number/) });
    expect(frames[1]).toMatchObject({ id: null, status: 400, error: expect.stringMatching(/send it as a string/) });
    expect(frames[2]).toMatchObject({ id: 'deep', status: 400 });
    expect(frames[3]).toMatchObject({ id: 2 ** 40, model_name: 'no_batch' });
    s.ws.close();
  });

  it('closes a socket that sends a frame over the size limit (1009), and the server keeps serving', async () => {
    const s = await connect();
    s.ws.send(Buffer.alloc(1048576 + 1));
    const { code, reason } = await s.closed;
    expect(code).toBe(1009);
    expect(reason).toMatch(/exceeds the limit of 1048576 bytes/);
    const res = await postJson(`${server.url}/v2/models/no_batch/infer`, { inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] }] });
    expect(res.status).toBe(200);
    expect(server.proc.exitCode).toBeNull();
  });
});
