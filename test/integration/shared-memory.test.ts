/**
 * Triton's system shared-memory extension over real HTTP: regions registered on objects in
 * /dev/shm, inputs read from them and outputs written into them (JSON, Triton binary, msgpack
 * requests), status and unregister, and every misuse a 4xx with the server still serving; off
 * unless --allow-client-shm.
 */
import { closeSync, openSync, readFileSync, readSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Packr, unpack } from 'msgpackr';
import { FIXTURES, ROOT, getJson, makeRepo, postJson, startServer } from './harness.js';
import type { ServerProcess } from './harness.js';

const PREFIX = `volley-test-${process.pid}`;
const IN = `/dev/shm/${PREFIX}-in`;
const OUT = `/dev/shm/${PREFIX}-out`;
const LINK = `/dev/shm/${PREFIX}-link`;
const SECRET = `/dev/shm/${PREFIX}-secret`;

let server: ServerProcess;

function writeAt(path: string, offset: number, data: Float32Array | Int32Array): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 0, data.byteLength, offset);
  closeSync(fd);
}

function floatsAt(path: string, offset: number, count: number): number[] {
  const out = new Float32Array(count);
  const fd = openSync(path, 'r');
  readSync(fd, new Uint8Array(out.buffer), 0, out.byteLength, offset);
  closeSync(fd);
  return Array.from(out);
}

const register = (s: ServerProcess, name: string, body: unknown) => postJson(`${s.url}/v2/systemsharedmemory/region/${name}/register`, body);
const ROWS = Float32Array.from([5.1, 3.5, 1.4, 0.2, -1, 2, 0.5, 3]);
const plain = (s: ServerProcess) => postJson(`${s.url}/v2/models/mlp_classifier/infer`, { inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: Array.from(ROWS) }] });
const shmInput = (offset = 64, size = 32, region = 'in') => ({ name: 'input', shape: [2, 4], datatype: 'FP32', parameters: { shared_memory_region: region, shared_memory_offset: offset, shared_memory_byte_size: size } });

beforeAll(async () => {
  writeFileSync(IN, Buffer.alloc(1024));
  writeFileSync(OUT, Buffer.alloc(1024));
  writeFileSync(SECRET, Buffer.alloc(64));
  symlinkSync(SECRET, LINK);
  const repo = makeRepo({ mlp_classifier: { from: 'mlp_classifier' }, two_inputs: { from: 'two_inputs' }, slow: { from: 'mlp_classifier', config: { max_batch_size: 8, dynamic_batching: { max_queue_delay_microseconds: 800_000 } } } });
  server = await startServer(repo, ['--allow-client-shm', '--max-body-bytes', '4096']);
  expect((await register(server, 'in', { key: `/${PREFIX}-in`, offset: 0, byte_size: 1024 })).status).toBe(200);
  expect((await register(server, 'out', { key: `/${PREFIX}-out`, offset: 256, byte_size: 512 })).status).toBe(200);
});
afterAll(async () => {
  await server?.stop();
  for (const f of [IN, OUT, LINK, SECRET]) rmSync(f, { force: true });
});

describe('system shared memory', () => {
  it('reads an input from a region and writes an output into one: the answer names it and carries no data', async () => {
    writeAt(IN, 64, ROWS);
    const res = await postJson(`${server.url}/v2/models/mlp_classifier/infer`, {
      inputs: [shmInput()],
      outputs: [{ name: 'probabilities', parameters: { shared_memory_region: 'out', shared_memory_offset: 16, shared_memory_byte_size: 24 } }],
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/json/);
    expect(res.body.outputs).toEqual([{ name: 'probabilities', datatype: 'FP32', shape: [2, 3], parameters: { shared_memory_region: 'out', shared_memory_offset: 16, shared_memory_byte_size: 24 } }]);
    // The region starts 256 bytes into its object.
    const reference = (await plain(server)).body.outputs[0].data as number[];
    expect(floatsAt(OUT, 256 + 16, 6)).toEqual(reference.map((v) => Math.fround(v)));
    // An input from shared memory with the answer in JSON.
    const mixed = await postJson(`${server.url}/v2/models/mlp_classifier/infer`, { inputs: [shmInput()] });
    expect(mixed.body.outputs[0].data).toEqual(reference);
  });

  it('mixes with Triton binary tensors and msgpack requests', async () => {
    writeAt(IN, 128, Float32Array.from([1, 2, 3, 4]));
    const b = Int32Array.from([10, 20, 30, 40]);
    const header = Buffer.from(JSON.stringify({
      inputs: [
        { name: 'a', shape: [1, 4], datatype: 'FP32', parameters: { shared_memory_region: 'in', shared_memory_offset: 128, shared_memory_byte_size: 16 } },
        { name: 'b', shape: [1, 4], datatype: 'INT32', parameters: { binary_data_size: 16 } },
      ],
      outputs: [{ name: 'sum', parameters: { shared_memory_region: 'out', shared_memory_byte_size: 16 } }, { name: 'b_doubled', parameters: { binary_data: true } }],
    }));
    const res = await fetch(`${server.url}/v2/models/two_inputs/infer`, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream', 'Inference-Header-Content-Length': String(header.length) }, body: Buffer.concat([header, Buffer.from(b.buffer)]) });
    expect(res.status).toBe(200);
    const raw = Buffer.from(await res.arrayBuffer());
    const n = Number(res.headers.get('inference-header-content-length'));
    const answer = JSON.parse(raw.subarray(0, n).toString());
    expect(answer.outputs[0]).toEqual({ name: 'sum', datatype: 'FP32', shape: [1, 4], parameters: { shared_memory_region: 'out', shared_memory_offset: 0, shared_memory_byte_size: 16 } });
    expect(answer.outputs[1].parameters).toEqual({ binary_data_size: 16 });
    expect(Array.from(new Int32Array(raw.buffer.slice(raw.byteOffset + n, raw.byteOffset + n + 16)))).toEqual([20, 40, 60, 80]);
    expect(floatsAt(OUT, 256, 4)).toEqual([11, 22, 33, 44]);
    // msgpack: the same parameters.
    const packed = new Packr({ useRecords: false }).pack({ inputs: [shmInput()] });
    const viaMsgpack = await fetch(`${server.url}/v2/models/mlp_classifier/infer`, { method: 'POST', headers: { 'Content-Type': 'application/msgpack' }, body: packed });
    writeAt(IN, 64, ROWS);
    expect(viaMsgpack.status).toBe(200);
  });

  it('answers the status of every region and of one; an unknown region is a 404', async () => {
    const all = await getJson(`${server.url}/v2/systemsharedmemory/status`);
    expect(all.body).toEqual(expect.arrayContaining([{ name: 'in', key: `/${PREFIX}-in`, offset: 0, byte_size: 1024 }, { name: 'out', key: `/${PREFIX}-out`, offset: 256, byte_size: 512 }]));
    expect((await getJson(`${server.url}/v2/systemsharedmemory/region/out/status`)).body).toEqual([{ name: 'out', key: `/${PREFIX}-out`, offset: 256, byte_size: 512 }]);
    const unknown = await getJson(`${server.url}/v2/systemsharedmemory/region/nope/status`);
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toMatch(/region 'nope' is not registered/);
    expect((await getJson(`${server.url}/v2`)).body.extensions).toContain('system_shared_memory');
  });

  it.each([
    ['a byte size that is not the tensor’s', { inputs: [shmInput(64, 28)] }, /shared_memory_byte_size is 28 bytes but FP32 with 8 elements needs 32/],
    ['a slice past the region', { inputs: [shmInput(1000, 32)] }, /runs past the end of region 'in' \(1024 bytes\)/],
    ['an unknown region', { inputs: [shmInput(0, 32, 'gone')] }, /region 'gone' is not registered/],
    ['data as well', { inputs: [{ ...shmInput(), data: Array.from(ROWS) }] }, /cannot have 'data' or binary_data_size as well/],
    ['a byte size without a region', { inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', parameters: { shared_memory_byte_size: 32 } }] }, /needs shared_memory_region/],
    ['an output slice too small', { inputs: [shmInput()], outputs: [{ name: 'probabilities', parameters: { shared_memory_region: 'out', shared_memory_byte_size: 20 } }] }, /output 'probabilities' is 24 bytes \(shape \[2,3\]\) but its shared_memory_byte_size is 20/],
    ['an output to shared memory and binary', { inputs: [shmInput()], outputs: [{ name: 'probabilities', parameters: { shared_memory_region: 'out', shared_memory_byte_size: 24, binary_data: true } }] }, /cannot ask for binary_data as well/],
  ])('refuses %s with 400, and keeps serving', async (_what, body, message) => {
    writeAt(IN, 64, ROWS);
    const res = await postJson(`${server.url}/v2/models/mlp_classifier/infer`, body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(message);
    expect((await plain(server)).status).toBe(200);
  });

  it('counts shared-memory inputs against --max-body-bytes (413), and takes no offset without a region', async () => {
    writeFileSync(`/dev/shm/${PREFIX}-big`, Buffer.alloc(8192));
    try {
      expect((await register(server, 'big', { key: `/${PREFIX}-big`, byte_size: 8192 })).status).toBe(200);
      const res = await postJson(`${server.url}/v2/models/mlp_classifier/infer`, { inputs: [{ name: 'input', shape: [320, 4], datatype: 'FP32', parameters: { shared_memory_region: 'big', shared_memory_byte_size: 5120 } }] });
      expect(res.status).toBe(413);
      expect(res.body.error).toMatch(/shared-memory inputs pass 4096 bytes, the limit a body has/);
    } finally {
      await postJson(`${server.url}/v2/systemsharedmemory/region/big/unregister`, '');
      rmSync(`/dev/shm/${PREFIX}-big`, { force: true });
    }
    const offsetOnly = await postJson(`${server.url}/v2/models/mlp_classifier/infer`, { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4], parameters: { shared_memory_offset: 8 } }] });
    expect(offsetOnly.status).toBe(400);
    expect(offsetOnly.body.error).toMatch(/shared_memory_offset needs shared_memory_region/);
  });

  it('a region unregistered and registered again (smaller) while a request runs: the write is refused, nothing is written', async () => {
    writeFileSync(`/dev/shm/${PREFIX}-small`, Buffer.alloc(64));
    writeFileSync(`/dev/shm/${PREFIX}-wide`, Buffer.alloc(1024));
    try {
      expect((await register(server, 'swap', { key: `/${PREFIX}-wide`, byte_size: 1024 })).status).toBe(200);
      // 'slow' waits 0.8 s for a batch: time to swap the region under it.
      const pending = postJson(`${server.url}/v2/models/slow/infer`, { inputs: [shmInput()], outputs: [{ name: 'probabilities', parameters: { shared_memory_region: 'swap', shared_memory_offset: 500, shared_memory_byte_size: 24 } }] });
      await new Promise((r) => setTimeout(r, 200));
      expect((await postJson(`${server.url}/v2/systemsharedmemory/region/swap/unregister`, '')).status).toBe(200);
      expect((await register(server, 'swap', { key: `/${PREFIX}-small`, byte_size: 64 })).status).toBe(200);
      const res = await pending;
      expect(res.status).toBe(400);
      expect(res.body.error).toMatch(/region 'swap' was unregistered while the request ran/);
      expect(readFileSync(`/dev/shm/${PREFIX}-small`).length).toBe(64);
      // Two outputs, the second too small: neither is written.
      writeAt(OUT, 256, Float32Array.from([9, 9, 9, 9]));
      writeAt(IN, 128, Float32Array.from([1, 2, 3, 4]));
      const both = await postJson(`${server.url}/v2/models/two_inputs/infer`, {
        inputs: [
          { name: 'a', shape: [1, 4], datatype: 'FP32', parameters: { shared_memory_region: 'in', shared_memory_offset: 128, shared_memory_byte_size: 16 } },
          { name: 'b', shape: [1, 4], datatype: 'INT32', data: [1, 1, 1, 1] },
        ],
        outputs: [{ name: 'sum', parameters: { shared_memory_region: 'out', shared_memory_byte_size: 16 } }, { name: 'b_doubled', parameters: { shared_memory_region: 'out', shared_memory_offset: 16, shared_memory_byte_size: 8 } }],
      });
      expect(both.status).toBe(400);
      expect(floatsAt(OUT, 256, 4)).toEqual([9, 9, 9, 9]);
    } finally {
      await postJson(`${server.url}/v2/systemsharedmemory/region/swap/unregister`, '');
      for (const f of [`/dev/shm/${PREFIX}-small`, `/dev/shm/${PREFIX}-wide`]) rmSync(f, { force: true });
    }
  });

  it('refuses outputs to shared memory in a msgpack answer', async () => {
    const res = await fetch(`${server.url}/v2/models/mlp_classifier/infer`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/msgpack' },
      body: JSON.stringify({ inputs: [shmInput()], outputs: [{ name: 'probabilities', parameters: { shared_memory_region: 'out', shared_memory_byte_size: 24 } }] }),
    });
    expect(res.status).toBe(400);
    const raw = Buffer.from(await res.arrayBuffer());
    const body = (res.headers.get('content-type') ?? '').includes('msgpack') ? unpack(raw) : JSON.parse(raw.toString());
    expect(body.error).toMatch(/answered in JSON \(or Triton binary\), not msgpack/);
  });

  it.each([
    ['a key with a path', 'new', { key: `/../${PREFIX}-in`, byte_size: 8 }, /'key' must be a shared-memory object name/],
    ['a symbolic link', 'new', { key: `/${PREFIX}-link`, byte_size: 8 }, /cannot open shared memory object .*: ELOOP/],
    ['a missing object', 'new', { key: `/${PREFIX}-missing`, byte_size: 8 }, /cannot open shared memory object .*: ENOENT/],
    ['a region past the object', 'new', { key: `/${PREFIX}-in`, offset: 1000, byte_size: 100 }, /runs past the end of '\/volley-test-\d+-in' \(1024 bytes\)/],
    ['no byte size', 'new', { key: `/${PREFIX}-in` }, /'byte_size' must be a positive integer/],
    ['a name taken', 'in', { key: `/${PREFIX}-in`, byte_size: 8 }, /region 'in' is already registered/],
  ])('refuses to register %s with 400', async (_what, name, body, message) => {
    const res = await register(server, name, body);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(message);
  });

  it('unregisters one region, then all; CUDA shared memory is refused', async () => {
    expect((await postJson(`${server.url}/v2/systemsharedmemory/region/out/unregister`, '')).status).toBe(200);
    expect((await getJson(`${server.url}/v2/systemsharedmemory/status`)).body.map((r: { name: string }) => r.name)).toEqual(['in']);
    const gone = await postJson(`${server.url}/v2/models/mlp_classifier/infer`, { inputs: [shmInput()], outputs: [{ name: 'probabilities', parameters: { shared_memory_region: 'out', shared_memory_byte_size: 24 } }] });
    expect(gone.status).toBe(400);
    expect((await postJson(`${server.url}/v2/systemsharedmemory/unregister`, '')).status).toBe(200);
    expect((await getJson(`${server.url}/v2/systemsharedmemory/status`)).body).toEqual([]);
    const cuda = await getJson(`${server.url}/v2/cudasharedmemory/status`);
    expect(cuda.status).toBe(400);
    expect(cuda.body.error).toMatch(/CUDA shared memory is not supported/);
  });
});

describe('over gRPC', () => {
  it("registers, reads inputs from and writes outputs to regions as tritonclient.grpc does: raw_input_contents for the other inputs, an empty raw entry for an output in shared memory", async () => {
    const s = await startServer(makeRepo({ two_inputs: { from: 'two_inputs' } }), ['--allow-client-shm', '--grpc-port', '0']);
    const proto = protoLoader.loadSync(join(ROOT, 'proto/inference.proto'), { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
    const { inference } = grpc.loadPackageDefinition(proto) as any;
    const { port } = (await s.waitForLog((l) => l.event === 'grpc_listening')) as { port: number };
    const client = new inference.GRPCInferenceService(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const call = (method: string, request: unknown): Promise<any> => new Promise((resolve, reject) => client[method](request, (err: Error | null, res: unknown) => (err ? reject(err) : resolve(res))));
    try {
      await call('SystemSharedMemoryRegister', { name: 'gin', key: `/${PREFIX}-in`, offset: '0', byte_size: '1024' });
      await call('SystemSharedMemoryRegister', { name: 'gout', key: `/${PREFIX}-out`, offset: '0', byte_size: '1024' });
      expect((await call('SystemSharedMemoryStatus', { name: 'gout' })).regions).toEqual({ gout: { name: 'gout', key: `/${PREFIX}-out`, offset: '0', byte_size: '1024' } });
      expect((await call('ServerMetadata', {})).extensions).toContain('system_shared_memory');
      writeAt(IN, 512, Float32Array.from([1, 2, 3, 4]));
      const shmParams = (region: string, offset: number, size: number) => ({ shared_memory_region: { string_param: region }, shared_memory_offset: { int64_param: String(offset) }, shared_memory_byte_size: { int64_param: String(size) } });
      const res = await call('ModelInfer', {
        model_name: 'two_inputs',
        inputs: [
          { name: 'a', datatype: 'FP32', shape: ['1', '4'], parameters: shmParams('gin', 512, 16) },
          { name: 'b', datatype: 'INT32', shape: ['1', '4'] },
        ],
        raw_input_contents: [Buffer.from(Int32Array.from([10, 20, 30, 40]).buffer)],
        outputs: [{ name: 'sum', parameters: shmParams('gout', 64, 16) }, { name: 'b_doubled' }],
      });
      expect(res.outputs[0]).toMatchObject({ name: 'sum', parameters: { shared_memory_region: { string_param: 'gout' }, shared_memory_byte_size: { int64_param: '16' } } });
      expect(res.raw_output_contents[0].length).toBe(0);
      expect(Array.from(new Int32Array(new Uint8Array(res.raw_output_contents[1]).buffer))).toEqual([20, 40, 60, 80]);
      expect(floatsAt(OUT, 64, 4)).toEqual([11, 22, 33, 44]);
      // As over HTTP: values beside a region, or a byte size without one, are refused.
      await expect(call('ModelInfer', { model_name: 'two_inputs', inputs: [{ name: 'a', datatype: 'FP32', shape: ['1', '4'], parameters: shmParams('gin', 512, 16), contents: { fp32_contents: [1, 2, 3, 4] } }, { name: 'b', datatype: 'INT32', shape: ['1', '4'], contents: { int_contents: [1, 1, 1, 1] } }] })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/takes its data from shared memory, so it cannot have 'data'/) });
      await expect(call('ModelInfer', { model_name: 'two_inputs', inputs: [{ name: 'a', datatype: 'FP32', shape: ['1', '4'], parameters: { shared_memory_byte_size: { int64_param: '16' } }, contents: { fp32_contents: [1, 2, 3, 4] } }, { name: 'b', datatype: 'INT32', shape: ['1', '4'], contents: { int_contents: [1, 1, 1, 1] } }] })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/shared_memory_byte_size needs shared_memory_region/) });
      await call('SystemSharedMemoryUnregister', { name: '' });
      expect((await call('SystemSharedMemoryStatus', {})).regions).toEqual({});
      await expect(call('SystemSharedMemoryStatus', { name: 'gone' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    } finally {
      client.close();
      await s.stop();
    }
  });
});

describe('without --allow-client-shm', () => {
  it('refuses registration and shared-memory parameters with 400, and does not list the extension', async () => {
    const off = await startServer(FIXTURES);
    try {
      const res = await register(off, 'in', { key: `/${PREFIX}-in`, byte_size: 8 });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatch(/client shared memory is off: start Volley with --allow-client-shm/);
      const infer = await postJson(`${off.url}/v2/models/mlp_classifier/infer`, { inputs: [shmInput()] });
      expect(infer.status).toBe(400);
      expect(infer.body.error).toMatch(/names a shared memory region: regions are read only for HTTP and gRPC requests \(not the WebSocket stream\) to a server started with --allow-client-shm/);
      expect((await getJson(`${off.url}/v2`)).body.extensions).not.toContain('system_shared_memory');
    } finally {
      await off.stop();
    }
  });
});
