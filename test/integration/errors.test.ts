/**
 * Every error the issue lists, over real HTTP, each checked for status and a JSON `{"error"}`
 * body; at the end the same server still answers correctly and has not exited.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, makeRepo, postJson, startServer } from './harness.js';
import type { ServerProcess } from './harness.js';

let server: ServerProcess;
const LIMIT = 1024 * 1024;
const row = (name = 'input', data: unknown = [1, 2, 3, 4], shape: unknown = [1, 4], datatype: unknown = 'FP32') => ({ name, shape, datatype, data });

beforeAll(async () => {
  const repo = makeRepo({
    mlp_classifier: { from: 'mlp_classifier' },
    two_inputs: { from: 'two_inputs' },
    reshape_fail: { from: 'reshape_fail' },
    broken: { from: 'broken' },
    // Holds a lone request for 2 s waiting for company, with room for one: the next is refused.
    slow: { from: 'mlp_classifier', config: { max_batch_size: 8, dynamic_batching: { max_queue_delay_microseconds: 2_000_000, max_queue_size: 1 } } },
    // Every request gets a 50 ms queue deadline unless it brings its own.
    deadline: {
      from: 'mlp_classifier',
      config: { max_batch_size: 8, dynamic_batching: { max_queue_delay_microseconds: 2_000_000, default_queue_policy: { default_timeout_microseconds: 50_000 } } },
    },
  });
  server = await startServer(repo, ['--max-body-bytes', String(LIMIT)]);
});
afterAll(async () => {
  await server?.stop();
});

const infer = (model: string, body: unknown, headers?: Record<string, string>) => postJson(`${server.url}/v2/models/${model}/infer`, body, headers);

async function expectError(p: ReturnType<typeof postJson>, status: number, message: RegExp): Promise<void> {
  const res = await p;
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/json');
  expect(res.body.error).toMatch(message);
}

describe('400 invalid request', () => {
  it.each([
    ['bad JSON', '{"inputs": [', /not valid JSON/],
    ['a non-object body', '[1,2]', /JSON object/],
    ['no inputs', {}, /'inputs' must be a non-empty array/],
    ['an unknown input', { inputs: [row('nope')] }, /unknown input 'nope'/],
    ['a wrong datatype', { inputs: [row('input', [1, 2, 3, 4], [1, 4], 'INT32')] }, /datatype INT32; the model expects FP32/],
    ['an unsupported datatype', { inputs: [row('input', [1, 2, 3, 4], [1, 4], 'FP8')] }, /not supported/],
    ['too few values for the shape', { inputs: [row('input', [1, 2, 3])] }, /needs 4 values but 'data' has 3/],
    ['too many values for the shape', { inputs: [row('input', [1, 2, 3, 4, 5])] }, /needs 4 values but 'data' has 5/],
    ['a wrong rank', { inputs: [row('input', [1, 2, 3, 4], [4])] }, /expects \[-1,4\]/],
    ['a wrong fixed dimension', { inputs: [row('input', [1, 2, 3, 4, 5, 6], [1, 6])] }, /expects \[-1,4\]/],
    ['a negative dimension', { inputs: [row('input', [], [-1, 4])] }, /shape .* is invalid/],
    ['an absurd dimension', { inputs: [row('input', [], [1e12, 4])] }, /shape .* is invalid/],
    ['an absurd element count', { inputs: [row('input', [], [100000, 100000])] }, /more than the limit/],
    ['a batch of zero rows', { inputs: [row('input', [], [0, 4])] }, /batch size 0/],
    ['more rows than max_batch_size', { inputs: [row('input', new Array(65 * 4).fill(0), [65, 4])] }, /max_batch_size 64/],
    ['a string element', { inputs: [row('input', [1, 'x', 3, 4])] }, /not a valid FP32 element/],
    ['an unknown output', { inputs: [row()], outputs: [{ name: 'logits' }] }, /unknown output 'logits'/],
    ['a non-string id', { id: 5, inputs: [row()] }, /'id' must be a string/],
    ['a bad timeout', { inputs: [row()], parameters: { timeout: -5 } }, /timeout/],
  ])('for %s', async (_what, body, message) => {
    await expectError(infer('mlp_classifier', body), 400, message);
  });

  it('for a missing input of a two-input model, and for an input given twice', async () => {
    await expectError(infer('two_inputs', { inputs: [row('a')] }), 400, /missing input 'b' \(INT32 \[-1,4\]\)/);
    await expectError(infer('two_inputs', { inputs: [row('a'), row('b', [1, 2, 3, 4], [1, 4], 'INT32'), row('a')] }), 400, /'a' is given 2 times/);
  });

  it('for inputs whose batch sizes differ', async () => {
    const b = row('b', [1, 2, 3, 4, 5, 6, 7, 8], [2, 4], 'INT32');
    await expectError(infer('two_inputs', { inputs: [row('a'), b] }), 400, /batch size 2 but another input has 1/);
  });
});

describe('404, 405', () => {
  it('404 for an unknown model, version or route', async () => {
    await expectError(infer('nope', { inputs: [row()] }), 404, /unknown model 'nope'/);
    await expectError(postJson(`${server.url}/v2/models/mlp_classifier/versions/2/infer`, { inputs: [row()] }), 404, /no version '2'/);
    const route = await getJson(`${server.url}/v3/anything`);
    expect(route.status).toBe(404);
    expect(route.body.error).toMatch(/no route/);
  });

  it('404 for path traversal attempts in model names', async () => {
    const res = await getJson(`${server.url}/v2/models/..%2F..%2Fetc/ready`);
    expect(res.status).toBe(404);
  });

  it('405 with Allow for a wrong method', async () => {
    const get = await getJson(`${server.url}/v2/models/mlp_classifier/infer`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect(get.body.error).toMatch(/GET is not allowed/);
    const post = await postJson(`${server.url}/v2/health/ready`, '{}');
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    expect((await getJson(`${server.url}/v2/models/mlp_classifier`, 'DELETE')).status).toBe(405);
  });

  // Regression (adversarial probe): HEAD got a 405 whose body a keep-alive client then read as the
  // start of its next response. Now HEAD answers as GET would, headers only, on any route.
  it('HEAD: the GET answer without a body (a 405 or 404 too), and the connection reads on cleanly', async () => {
    const head = (path: string) => `HEAD ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;
    const wire = await rawExchange([head('/v2/health/ready'), head('/v2/models/mlp_classifier/infer'), head('/v3/nothing'), 'GET /v2/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
    const answers = wire.split(/(?=HTTP\/1\.1 )/);
    expect(answers.map((a) => a.slice(9, 12))).toEqual(['200', '405', '404', '200']);
    expect(answers[0]).toMatch(/\r\nContent-Length: 14\r\n/);
    expect(answers[1]).toMatch(/\r\nAllow: POST\r\n/);
    for (const a of answers.slice(0, 3)) expect(a.endsWith('\r\n\r\n')).toBe(true);
    expect(answers[3].endsWith('{"live":true}')).toBe(true);
  });
});

/**
 * Writes `requests` on one connection, each once the answer to the last is complete (the server
 * does not take pipelining; every answer but the last here has no body, so it ends at its blank
 * line), and resolves with everything read until the server closes the connection.
 */
function rawExchange(requests: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const queue = [...requests];
    const socket = connect(server.port, '127.0.0.1', () => socket.write(queue.shift() as string));
    let got = '';
    socket.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (queue.length > 0 && got.endsWith('\r\n\r\n')) socket.write(queue.shift() as string);
    });
    socket.on('close', () => resolve(got));
    socket.on('error', reject);
    socket.setTimeout(5000, () => socket.destroy(new Error(`no close within 5 s; read so far: ${got}`)));
  });
}

describe('413, 415', () => {
  it('413 for a body over the limit, declared by Content-Length', async () => {
    await expectError(infer('mlp_classifier', 'x'.repeat(LIMIT + 1)), 413, /exceeds the limit of 1048576 bytes/);
  });

  it('413 for a chunked body that grows over the limit', async () => {
    // Raw socket: the server answers and closes mid-upload, which fetch reports as EPIPE.
    const response = await new Promise<string>((resolve) => {
      let text = '';
      const sock = connect(server.port, '127.0.0.1', () => {
        sock.write('POST /v2/models/mlp_classifier/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
        const chunk = 'x'.repeat(LIMIT / 2);
        for (let i = 0; i < 3; i++) sock.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
      });
      sock.on('data', (d) => (text += d.toString()));
      sock.on('close', () => resolve(text));
      sock.on('error', () => undefined);
    });
    expect(response).toMatch(/^HTTP\/1\.1 413/);
    expect(response).toMatch(/"error":"request body of \d+ bytes exceeds the limit/);
  });

  it('415 for an unsupported Content-Type', async () => {
    await expectError(infer('mlp_classifier', { inputs: [row()] }, { 'Content-Type': 'text/plain' }), 415, /not supported/);
    await expectError(infer('mlp_classifier', { inputs: [row()] }, { 'Content-Type': 'application/x-www-form-urlencoded' }), 415, /application\/json/);
  });
});

describe('500, 503, 504', () => {
  it('500 for a real runtime failure, without ORT build paths', async () => {
    const res = await infer('reshape_fail', { inputs: [row('x', [1, 2, 3, 4], [1, 4])] });
    expect(res.status).toBe(500);
    expect(res.body.error).toMatch(/cannot be reshaped/);
    expect(res.body.error).not.toMatch(/onnxruntime_src/);
  });

  it('503 for a model that failed to load', async () => {
    await expectError(infer('broken', { inputs: [row()] }), 503, /FAILED/);
  });

  it('503 with Retry-After when the queue is full, 504 when a deadline passes in the queue', async () => {
    // The first request waits up to 2 s for company and fills the one-slot queue.
    const first = infer('slow', { inputs: [row()], parameters: { timeout: 200_000 } });
    const full = await infer('slow', { inputs: [row()] });
    expect(full.status).toBe(503);
    expect(full.headers.get('retry-after')).toBe('1');
    expect(full.body.error).toMatch(/queue is full/);
    const expired = await first;
    expect(expired.status).toBe(504);
    expect(expired.body.error).toMatch(/timed out/);
  });
});

describe('default queue policy', () => {
  it('gives a request without parameters.timeout the model default deadline (504)', async () => {
    const res = await infer('deadline', { inputs: [row()] });
    expect(res.status).toBe(504);
    expect(res.body.error).toMatch(/timed out/);
  });
});

describe('a malformed HTTP request', () => {
  it('is answered or closed without taking the server down', async () => {
    await new Promise<void>((resolve) => {
      const sock = connect(server.port, '127.0.0.1', () => sock.end('POST /v2/models/mlp_classifier/infer HTTP/1.1\r\nContent-Length: nope\r\n\r\n{}'));
      sock.on('data', () => undefined);
      sock.on('close', () => resolve());
      sock.on('error', () => resolve());
    });
  });
});

describe('after every error', () => {
  it('the server still serves correct answers and has not exited', async () => {
    const res = await infer('mlp_classifier', { inputs: [row()] });
    expect(res.status).toBe(200);
    expect(res.body.outputs[0].shape).toEqual([1, 3]);
    expect(server.proc.exitCode).toBeNull();
  });
});
