/** The TypeScript client against the real server: every format, the stream, and error answers. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferError, VolleyClient, VolleyStream } from '../../src/client/index.js';
import type { ClientTensor, Format } from '../../src/client/index.js';
import { FIXTURES, ROOT, startServer } from '../integration/harness.js';
import type { ServerProcess } from '../integration/harness.js';

let server: ServerProcess;
let client: VolleyClient;
beforeAll(async () => {
  server = await startServer(FIXTURES);
  client = new VolleyClient(server.url);
});
afterAll(async () => {
  await server?.stop();
});

const input: ClientTensor[] = [{ name: 'input', datatype: 'FP32', shape: [2, 4], data: Float32Array.from([1, 2, 3, 4, 4, 3, 2, 1]) }];

describe('VolleyClient', () => {
  it('gets the same probabilities over JSON, binary and msgpack', async () => {
    const results = await Promise.all((['json', 'binary', 'msgpack'] as Format[]).map((f) => client.infer('mlp_classifier', input, f, { id: f })));
    for (const r of results) {
      expect(r.outputs[0]).toMatchObject({ name: 'probabilities', datatype: 'FP32', shape: [2, 3] });
      expect(Array.from(r.outputs[0].data as Float32Array)).toEqual(Array.from(results[0].outputs[0].data as Float32Array));
    }
    expect(results.map((r) => r.id)).toEqual(['json', 'binary', 'msgpack']);
  });

  it('round-trips INT64 extremes and FP16 bits in the binary formats', async () => {
    for (const f of ['binary', 'msgpack'] as Format[]) {
      const r = await client.infer(
        'identity_all',
        [
          { name: 'in_int64', datatype: 'INT64', shape: [1, 2], data: BigInt64Array.from([-9223372036854775808n, 9223372036854775807n]) },
          { name: 'in_fp16', datatype: 'FP16', shape: [1, 2], data: Uint16Array.from([0x3c00, 0x7bff]) },
          ...['bool', 'uint8', 'uint16', 'uint32', 'uint64', 'int8', 'int16', 'int32', 'fp32', 'fp64'].map((t) => {
            const dt = t.toUpperCase() as ClientTensor['datatype'];
            const Ctor = { BOOL: Uint8Array, UINT8: Uint8Array, UINT16: Uint16Array, UINT32: Uint32Array, UINT64: BigUint64Array, INT8: Int8Array, INT16: Int16Array, INT32: Int32Array, FP32: Float32Array, FP64: Float64Array }[dt as 'BOOL'];
            return { name: `in_${t}`, datatype: dt, shape: [1, 2], data: new Ctor(2) } as ClientTensor;
          }),
        ],
        f,
        { outputs: ['out_int64', 'out_fp16'] },
      );
      expect(Array.from(r.outputs[0].data as BigInt64Array), f).toEqual([-9223372036854775808n, 9223372036854775807n]);
      expect(Array.from(r.outputs[1].data as Uint16Array), f).toEqual([0x3c00, 0x7bff]);
    }
  });

  it('throws InferError with the status and message of an error answer', async () => {
    for (const f of ['json', 'binary', 'msgpack'] as Format[]) {
      const err = await client.infer('nope', input, f).catch((e: unknown) => e);
      expect(err, f).toBeInstanceOf(InferError);
      expect((err as InferError).status).toBe(404);
      expect((err as InferError).message).toMatch(/unknown model 'nope'/);
    }
  });
});

describe('VolleyStream', () => {
  it('settles each request by id, errors included', async () => {
    const stream = await VolleyStream.connect(server.url);
    try {
      const ok = Array.from({ length: 50 }, () => stream.infer('mlp_classifier', input));
      const bad = stream.infer('mlp_classifier', [{ ...input[0], shape: [2, 5] }]).catch((e: unknown) => e);
      const results = await Promise.all(ok);
      expect(results.every((r) => r.outputs[0].shape.join() === '2,3')).toBe(true);
      const err = await bad;
      expect(err).toBeInstanceOf(InferError);
      expect((err as InferError).status).toBe(400);
    } finally {
      stream.close();
    }
  });
});

describe('the package', () => {
  it("exports the client with its type declarations, as 'volley/client' resolves in a TypeScript project", () => {
    const exports = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).exports as Record<string, { types: string; default: string }>;
    for (const entry of ['.', './client']) {
      for (const file of [exports[entry].types, exports[entry].default]) expect(existsSync(join(ROOT, file)), `${entry}: ${file}`).toBe(true);
    }
    expect(readFileSync(join(ROOT, exports['./client'].types), 'utf8')).toMatch(/VolleyClient/);
  });
});
