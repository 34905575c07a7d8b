/**
 * The KServe v2 gRPC endpoint (--grpc-port), spoken to with @grpc/grpc-js and the repository's
 * proto/inference.proto: health, metadata, inference with raw and typed contents (every datatype,
 * extremes included), and errors as gRPC statuses, on a server that keeps serving.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addConst } from '../../scripts/onnx/versioned.js';
import { EXTREMES, FIXTURES, ROOT, emptyRepo, getJson, makeRepo, postJson, startServer, writeConfig, writeVersion } from './harness.js';
import type { ServerProcess } from './harness.js';

let server: ServerProcess;
let client: any;

const proto = protoLoader.loadSync(fileURLToPath(new URL('proto/inference.proto', `file://${ROOT}/`)), { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
const { inference } = grpc.loadPackageDefinition(proto) as any;

/** A client of `s`'s gRPC port. */
async function connect(s: ServerProcess): Promise<any> {
  const { port } = (await s.waitForLog((l) => l.event === 'grpc_listening')) as { port: number };
  return new inference.GRPCInferenceService(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

beforeAll(async () => {
  server = await startServer(FIXTURES, ['--grpc-port', '0', '--max-body-bytes', '65536']);
  client = await connect(server);
});
afterAll(async () => {
  client?.close();
  await server?.stop();
});

/** One unary call: resolves with the response, or with the error (its gRPC `code` and `details`). */
function call(method: string, request: unknown, options: grpc.CallOptions = {}, on: any = client): Promise<{ ok: true; res: any } | { ok: false; code: number; details: string }> {
  return new Promise((resolve) => on[method](request, options, (err: grpc.ServiceError | null, res: unknown) => resolve(err ? { ok: false, code: err.code, details: err.details } : { ok: true, res })));
}

const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const mlpRequest = (rows: number) => ({ model_name: 'mlp_classifier', id: 'r1', inputs: [{ name: 'input', datatype: 'FP32', shape: [rows, 4] }], raw_input_contents: [bytes(new Float32Array(rows * 4).fill(0.5))] });

describe('gRPC (KServe v2)', () => {
  it("reads and changes the log settings (Triton's LogSettings), with the HTTP endpoint's rules", async () => {
    const read = await call('LogSettings', {});
    expect(read.ok && read.res.settings).toMatchObject({ log_info: { bool_param: true }, log_verbose_level: { uint32_param: 0 }, log_format: { string_param: 'json' }, log_level: { string_param: 'info' } });
    const verbose = await call('LogSettings', { settings: { log_verbose_level: { uint32_param: 1 } } });
    expect(verbose.ok && verbose.res.settings).toMatchObject({ log_verbose_level: { uint32_param: 1 }, log_level: { string_param: 'debug' } });
    expect((await getJson(`${server.url}/v2/logging`)).body).toMatchObject({ log_verbose_level: 1, log_level: 'debug' });
    const bad = await call('LogSettings', { settings: { log_info: { bool_param: false } } });
    expect(bad).toMatchObject({ ok: false, code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/verbose messages cannot be on while info messages are off/) });
    const back = await call('LogSettings', { settings: { log_verbose_level: { uint32_param: 0 } } });
    expect(back.ok && back.res.settings.log_level).toMatchObject({ string_param: 'info' });
  });

  it('answers health and metadata', async () => {
    expect(await call('ServerLive', {})).toEqual({ ok: true, res: { live: true } });
    expect(await call('ServerReady', {})).toEqual({ ok: true, res: { ready: true } });
    expect(await call('ModelReady', { name: 'mlp_classifier' })).toEqual({ ok: true, res: { ready: true } });
    expect(await call('ModelReady', { name: 'broken', version: '1' })).toEqual({ ok: true, res: { ready: false } });
    // As Triton: an unknown model or version is not ready, not an error.
    expect(await call('ModelReady', { name: 'nope' })).toEqual({ ok: true, res: { ready: false } });
    expect(await call('ModelReady', { name: 'mlp_classifier', version: '9' })).toEqual({ ok: true, res: { ready: false } });
    const meta = await call('ServerMetadata', {});
    expect(meta.ok && meta.res).toMatchObject({ name: 'volley', extensions: ['model_repository', 'model_configuration', 'statistics', 'logging'] });
    const model = await call('ModelMetadata', { name: 'two_inputs' });
    expect(model.ok && model.res).toMatchObject({
      name: 'two_inputs',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [
        { name: 'a', datatype: 'FP32', shape: ['-1', '4'] },
        { name: 'b', datatype: 'INT32', shape: ['-1', '4'] },
      ],
    });
  });

  it('infers with raw contents, as the HTTP endpoint does, and counts it in the statistics', async () => {
    const before = (await getJson(`${server.url}/v2/models/mlp_classifier/stats`)).body.model_stats[0].inference_stats.success.count;
    const answer = await call('ModelInfer', mlpRequest(2));
    if (!answer.ok) throw new Error(answer.details);
    expect(answer.res).toMatchObject({ model_name: 'mlp_classifier', model_version: '1', id: 'r1', outputs: [{ name: 'probabilities', datatype: 'FP32', shape: ['2', '3'] }] });
    const raw: Buffer = answer.res.raw_output_contents[0];
    const probabilities = Array.from(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)));
    const http = await postJson(`${server.url}/v2/models/mlp_classifier/infer`, { inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 4], data: new Array(8).fill(0.5) }] });
    expect(probabilities).toEqual(http.body.outputs[0].data);
    const after = (await getJson(`${server.url}/v2/models/mlp_classifier/stats`)).body.model_stats[0].inference_stats.success.count;
    expect(after - before).toBe(2);
  });

  it('answers Triton’s ModelConfig and ModelStatistics (what perf_analyzer -i grpc reads)', async () => {
    const config = await call('ModelConfig', { name: 'mlp_classifier' });
    expect(config.ok && config.res.config).toMatchObject({
      name: 'mlp_classifier',
      platform: 'onnxruntime_onnx',
      backend: 'onnxruntime',
      max_batch_size: 64,
      input: [{ name: 'input', data_type: 'TYPE_FP32', dims: ['4'] }],
      output: [{ name: 'probabilities', data_type: 'TYPE_FP32', dims: ['3'] }],
      dynamic_batching: { preferred_batch_size: [16, 32, 64], max_queue_delay_microseconds: '500' },
      instance_group: [{ count: 1, kind: 'KIND_CPU' }],
    });
    expect(await call('ModelConfig', { name: 'nope' })).toMatchObject({ ok: false, code: grpc.status.NOT_FOUND });

    const before = await call('ModelStatistics', { name: 'mlp_classifier', version: '1' });
    expect((await call('ModelInfer', mlpRequest(3))).ok).toBe(true);
    const after = await call('ModelStatistics', { name: 'mlp_classifier', version: '1' });
    if (!before.ok || !after.ok) throw new Error('ModelStatistics failed');
    const [b, a] = [before.res.model_stats[0], after.res.model_stats[0]];
    expect([a.name, a.version, Number(a.inference_count) - Number(b.inference_count), Number(a.execution_count) - Number(b.execution_count)]).toEqual(['mlp_classifier', '1', 3, 1]);
    const s = a.inference_stats;
    expect(Number(s.success.count) - Number(b.inference_stats.success.count)).toBe(1);
    expect([s.compute_input.count, s.compute_output.count, s.queue.count]).toEqual([s.compute_infer.count, s.compute_infer.count, s.success.count]);
    expect(a.batch_stats.some((x: { batch_size: string }) => x.batch_size === '3')).toBe(true);
    const all = await call('ModelStatistics', {});
    expect(all.ok && all.res.model_stats.map((x: { name: string }) => x.name)).toEqual(expect.arrayContaining(['mlp_classifier', 'two_inputs', 'identity_all']));
  });

  it('round-trips every datatype exactly as raw contents', async () => {
    const inputs = Object.keys(EXTREMES).map((dt) => ({ name: `in_${dt.toLowerCase()}`, datatype: dt, shape: [2, 2] }));
    const answer = await call('ModelInfer', { model_name: 'identity_all', inputs, raw_input_contents: Object.values(EXTREMES).map(bytes) });
    if (!answer.ok) throw new Error(answer.details);
    for (const [dt, sent] of Object.entries(EXTREMES)) {
      const i = answer.res.outputs.findIndex((o: { name: string }) => o.name === `out_${dt.toLowerCase()}`);
      expect([dt, answer.res.outputs[i].datatype, answer.res.raw_output_contents[i]]).toEqual([dt, dt, bytes(sent)]);
    }
  });

  it('takes typed contents (every datatype is checked in test/server/grpc-request.test.ts)', async () => {
    const b = [-2147483648, 2147483647, 0, -1];
    const request = {
      model_name: 'two_inputs',
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: [0.5, 1, 2, 3] } },
        { name: 'b', datatype: 'INT32', shape: [1, 4], contents: { int_contents: b } },
      ],
      outputs: [{ name: 'b_doubled' }],
    };
    const answer = await call('ModelInfer', request);
    if (!answer.ok) throw new Error(answer.details);
    expect(answer.res.outputs.map((o: { name: string }) => o.name)).toEqual(['b_doubled']);
    const raw: Buffer = answer.res.raw_output_contents[0];
    expect(Array.from(new Int32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)))).toEqual(Array.from(Int32Array.from(b, (v) => v * 2)));
  });

  it('streams (Triton’s ModelStreamInfer): every request answered on the stream by id, errors as error_message, then the stream ends', async () => {
    const stream = client.ModelStreamInfer();
    const answers: { error_message: string; infer_response: any }[] = [];
    const done = new Promise<void>((resolve, reject) => {
      stream.on('data', (a: { error_message: string; infer_response: unknown }) => answers.push(a as never));
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    for (let i = 0; i < 20; i++) stream.write({ ...mlpRequest(1 + (i % 3)), id: `s${i}` });
    stream.write({ ...mlpRequest(1), id: 'bad', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 5] }] });
    stream.write({ ...mlpRequest(1), id: 'nobody', model_name: 'nope' });
    stream.end();
    await done;
    expect(answers).toHaveLength(22);
    const byId = new Map(answers.map((a) => [a.infer_response.id, a]));
    for (let i = 0; i < 20; i++) {
      const a = byId.get(`s${i}`);
      expect([i, a?.error_message, a?.infer_response.outputs[0].shape]).toEqual([i, '', [String(1 + (i % 3)), '3']]);
      expect(a?.infer_response.raw_output_contents[0].byteLength).toBe((1 + (i % 3)) * 3 * 4);
    }
    expect(byId.get('bad')?.error_message).toMatch(/input/);
    expect(byId.get('nobody')).toMatchObject({ error_message: expect.stringMatching(/nope/), infer_response: { model_name: 'nope' } });
  });

  it('answers bad requests with gRPC statuses and the HTTP path’s messages, and keeps serving', async () => {
    const cases: [unknown, grpc.status, RegExp][] = [
      [{ ...mlpRequest(1), model_name: 'nope' }, grpc.status.NOT_FOUND, /nope/],
      [{ ...mlpRequest(1), model_name: 'broken' }, grpc.status.UNAVAILABLE, /FAILED|not ready/i],
      [{ ...mlpRequest(1), inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 5] }] }, grpc.status.INVALID_ARGUMENT, /input/],
      [{ ...mlpRequest(1), raw_input_contents: [] }, grpc.status.INVALID_ARGUMENT, /input/],
      [{ ...mlpRequest(1), raw_input_contents: [Buffer.alloc(16), Buffer.alloc(16)] }, grpc.status.INVALID_ARGUMENT, /raw_input_contents has 2 entries for 1 inputs/],
      [{ model_name: 'mlp_classifier', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], contents: { fp64_contents: [1, 2, 3, 4] } }] }, grpc.status.INVALID_ARGUMENT, /contents\.fp32_contents, not contents\.fp64_contents/],
      [{ model_name: 'identity_all', inputs: [{ name: 'in_fp16', datatype: 'FP16', shape: [2, 2], contents: { fp32_contents: [1, 2, 3, 4] } }] }, grpc.status.INVALID_ARGUMENT, /FP16 travels only as raw_input_contents/],
      [{ ...mlpRequest(1), outputs: [{ name: 'nope' }] }, grpc.status.INVALID_ARGUMENT, /nope/],
      // Cut at 1,024 characters, never inside a surrogate pair (grpc-js would throw encoding the status, and the call hang).
      [{ ...mlpRequest(1), model_name: `${'😀'.repeat(700)}` }, grpc.status.NOT_FOUND, /unknown model/],
      [{ ...mlpRequest(1), model_name: `a${'😀'.repeat(700)}` }, grpc.status.NOT_FOUND, /unknown model/],
      // Over --max-body-bytes (64 KiB here): refused by gRPC itself.
      [mlpRequest(64 * 64), grpc.status.RESOURCE_EXHAUSTED, /./],
    ];
    for (const [request, code, details] of cases) {
      const answer = await call('ModelInfer', request);
      expect(answer).toMatchObject({ ok: false, code, details: expect.stringMatching(details) });
    }
    // A message quoting a long client string is cut: a status trailer this long (percent-encoded, ~120 KB) stalls the connection.
    const long = await call('ModelMetadata', { name: 'é'.repeat(20_000) });
    expect(long).toMatchObject({ ok: false, code: grpc.status.NOT_FOUND });
    expect((long as { details: string }).details.length).toBeLessThanOrEqual(1025);
    expect((await call('ModelInfer', mlpRequest(1))).ok).toBe(true);
  });
});

describe('gRPC deadlines', () => {
  it('a call whose deadline passes in the queue is a timeout in the statistics, not a client gone, whatever the request or model set', async () => {
    // Batches wait up to 5 s for more rows: a lone request sits in the queue past its 300 ms deadline.
    const slow = { max_batch_size: 64, dynamic_batching: { max_queue_delay_microseconds: 5_000_000 } };
    const strict = { max_batch_size: 64, dynamic_batching: { max_queue_delay_microseconds: 5_000_000, default_queue_policy: { allow_timeout_override: false } } };
    const repo = makeRepo({ slow: { from: 'mlp_classifier', config: slow }, strict: { from: 'mlp_classifier', config: strict } });
    const s = await startServer(repo, ['--grpc-port', '0']);
    const c = await connect(s);
    const tenSeconds = { timeout: { parameter_choice: 'int64_param', int64_param: '10000000' } };
    try {
      // No timeout of its own; a longer one of its own; a model that ignores the request's timeout.
      for (const [model, parameters] of [['slow', {}], ['slow', tenSeconds], ['strict', tenSeconds]] as const) {
        const answer = await call('ModelInfer', { ...mlpRequest(1), model_name: model, parameters }, { deadline: Date.now() + 300 }, c);
        expect(answer).toMatchObject({ ok: false, code: grpc.status.DEADLINE_EXCEEDED });
      }
      await s.waitForLog((l) => l.event === 'request_error' && l.code === 'ERR_DEADLINE_EXCEEDED' && l.model === 'strict');
      const stats = async (m: string) => (await getJson(`${s.url}/v2/models/${m}/stats`)).body.model_stats[0];
      const [a, b] = [await stats('slow'), await stats('strict')];
      expect([a.timeout_count, a.cancelled_count, a.inference_stats.success.count]).toEqual([2, 0, 0]);
      expect([b.timeout_count, b.cancelled_count, b.inference_stats.success.count]).toEqual([1, 0, 0]);
    } finally {
      c.close();
      await s.stop();
    }
  });
});

describe('gRPC stream backpressure', () => {
  it('ends a stream whose answers pile up unread past --ws-max-buffered-bytes, and keeps serving', async () => {
    const s = await startServer(FIXTURES, ['--grpc-port', '0', '--ws-max-buffered-bytes', '65536']);
    const c = await connect(s);
    try {
      const stream = c.ModelStreamInfer();
      const answers: unknown[] = [];
      const ended = new Promise<grpc.ServiceError | null>((resolve) => {
        stream.on('error', resolve);
        stream.on('end', () => resolve(null));
      });
      stream.pause();
      // 40 answers of ~20 KB each (the id is echoed): ~800 KB unread against a 64 KB limit.
      for (let i = 0; i < 40; i++) stream.write({ ...mlpRequest(1), id: `${i}:${'x'.repeat(20_000)}` });
      // Let the server answer them all into its buffers (the client reads nothing meanwhile).
      await new Promise((r) => setTimeout(r, 1500));
      stream.on('data', (a: unknown) => answers.push(a));
      stream.resume();
      const err = await ended;
      expect(err?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(answers.length).toBeLessThan(40);
      expect((await call('ModelInfer', mlpRequest(1), {}, c)).ok).toBe(true);
    } finally {
      c.close();
      await s.stop();
    }
  });
});

describe('gRPC model repository (explicit mode)', () => {
  it('lists, loads from the repository and from files sent as bytes, and unloads', async () => {
    const repo = emptyRepo();
    writeConfig(repo, 'a', { max_batch_size: 8 });
    writeVersion(repo, 'a', 1, addConst(1));
    const s = await startServer(repo, ['--grpc-port', '0', '--model-control-mode', 'explicit']);
    const c = await connect(s);
    const x = (model: string) => ({ model_name: model, inputs: [{ name: 'x', datatype: 'FP32', shape: [1, 4] }], raw_input_contents: [bytes(new Float32Array(4))] });
    const first = async (model: string) => {
      const r = await call('ModelInfer', x(model), {}, c);
      if (!r.ok) return r;
      const raw: Buffer = r.res.raw_output_contents[0];
      return Array.from(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)));
    };
    const p = (value: string | Buffer) => (typeof value === 'string' ? { string_param: value } : { bytes_param: value });
    try {
      expect(await call('RepositoryIndex', {}, {}, c)).toMatchObject({ ok: true, res: { models: [{ name: 'a', state: 'UNLOADED' }] } });
      expect((await call('RepositoryModelLoad', { model_name: 'a' }, {}, c)).ok).toBe(true);
      expect(await first('a')).toEqual([1, 1, 1, 1]);
      // A model the repository does not have, from bytes and a config (Triton's file: parameters).
      const upload = { model_name: 'up', parameters: { config: p(JSON.stringify({ max_batch_size: 8 })), 'file:1/model.onnx': p(Buffer.from(addConst(4))) } };
      expect((await call('RepositoryModelLoad', upload, {}, c)).ok).toBe(true);
      expect(await first('up')).toEqual([4, 4, 4, 4]);
      const ready = await call('RepositoryIndex', { ready: true }, {}, c);
      expect(ready.ok && ready.res.models.map((m: { name: string }) => m.name)).toEqual(['a', 'up']);
      expect(await call('RepositoryModelLoad', { model_name: 'up', parameters: { 'file:1/model.onnx': p(Buffer.from(addConst(5))) } }, {}, c)).toMatchObject({ ok: false, code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/config/) });
      expect(await call('RepositoryModelLoad', { model_name: 'nope' }, {}, c)).toMatchObject({ ok: false, code: grpc.status.NOT_FOUND });
      expect((await call('RepositoryModelUnload', { model_name: 'up' }, {}, c)).ok).toBe(true);
      expect(await first('up')).toMatchObject({ ok: false, code: grpc.status.UNAVAILABLE });
    } finally {
      c.close();
      await s.stop();
    }
  });
});

