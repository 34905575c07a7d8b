import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, getJson, postJson, startServer } from './harness.js';
import type { ServerProcess } from './harness.js';

let server: ServerProcess;

/** A port nothing listens on now (the kernel's pick, released). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
    probe.on('error', reject);
  });
}

beforeAll(async () => {
  server = await startServer(FIXTURES);
});
afterAll(async () => {
  await server?.stop();
});

describe('health', () => {
  it('is live and ready once the repository has loaded (failed models settle too)', async () => {
    expect(await getJson(`${server.url}/v2/health/live`)).toMatchObject({ status: 200, body: { live: true } });
    expect(await getJson(`${server.url}/v2/health/ready`)).toMatchObject({ status: 200, body: { ready: true } });
  });
});

/** Why a server started with `args` failed to start ('it started' if it did: it is stopped again). */
function secondStart(args: string[]): Promise<string> {
  return startServer(FIXTURES, args).then(
    async (s) => (await s.stop(), 'it started'),
    (err: Error) => err.message,
  );
}

describe('ports', () => {
  it('a second server on a port already served fails to start, and the first keeps serving', async () => {
    // uWS's default listen shares a port it was given by number (SO_REUSEPORT; not one picked with
    // port 0): the second server would start and take a share of the first's connections.
    const port = await freePort();
    const first = await startServer(FIXTURES, ['--port', String(port)]);
    try {
      expect(await secondStart(['--port', String(port)])).toMatch(/exited with 1.*could not listen on 127\.0\.0\.1:\d+/s);
      expect(await getJson(`${first.url}/v2/health/ready`)).toMatchObject({ status: 200 });
    } finally {
      await first.stop();
    }
  });

  it('so is the metrics port: a second server whose --metrics-port is taken fails to start', async () => {
    const metricsPort = await freePort();
    const first = await startServer(FIXTURES, ['--metrics-port', String(metricsPort)]);
    try {
      expect(await secondStart(['--metrics-port', String(metricsPort)])).toMatch(/exited with 1.*metrics_listen_failed/s);
      expect((await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).status).toBe(200);
    } finally {
      await first.stop();
    }
  });
});

describe('server metadata', () => {
  it('names the server, its version and extensions', async () => {
    const { status, body } = await getJson(`${server.url}/v2`);
    expect(status).toBe(200);
    expect(body.name).toBe('volley');
    expect(body.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(body.extensions).toEqual(expect.arrayContaining(['model_repository', 'statistics']));
  });
});

describe('model metadata', () => {
  it('describes inputs and outputs from the ONNX model with -1 for dynamic dims', async () => {
    const expected = {
      name: 'two_inputs',
      versions: ['1'],
      platform: 'onnxruntime_onnx',
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [-1, 4] },
        { name: 'b', datatype: 'INT32', shape: [-1, 4] },
      ],
      outputs: [
        { name: 'sum', datatype: 'FP32', shape: [-1, 4] },
        { name: 'b_doubled', datatype: 'INT32', shape: [-1, 4] },
      ],
    };
    expect(await getJson(`${server.url}/v2/models/two_inputs`)).toMatchObject({ status: 200, body: expected });
    expect(await getJson(`${server.url}/v2/models/two_inputs/versions/1`)).toMatchObject({ status: 200, body: expected });
  });

  it('keeps fixed shapes of a model without a batch dimension', async () => {
    const { body } = await getJson(`${server.url}/v2/models/no_batch`);
    expect(body.inputs).toEqual([{ name: 'x', datatype: 'FP32', shape: [2, 3] }]);
  });

  it('answers 404 for an unknown model or version and 503 for a failed one', async () => {
    expect((await getJson(`${server.url}/v2/models/nope`)).status).toBe(404);
    expect((await getJson(`${server.url}/v2/models/two_inputs/versions/9`)).status).toBe(404);
    expect((await getJson(`${server.url}/v2/models/two_inputs/versions/abc`)).status).toBe(404);
    const failed = await getJson(`${server.url}/v2/models/broken`);
    expect(failed.status).toBe(503);
    expect(failed.body.error).toMatch(/FAILED/);
  });
});

describe('model readiness', () => {
  it('is 200 for a READY model and version', async () => {
    expect(await getJson(`${server.url}/v2/models/mlp_classifier/ready`)).toMatchObject({ status: 200, body: { ready: true } });
    expect((await getJson(`${server.url}/v2/models/mlp_classifier/versions/1/ready`)).status).toBe(200);
  });

  it('is 503 with the reason for a failed model, 404 for an unknown one', async () => {
    const broken = await getJson(`${server.url}/v2/models/broken/ready`);
    expect(broken.status).toBe(503);
    expect(broken.body.error).toMatch(/Protobuf parsing failed/);
    expect(broken.headers.get('retry-after')).toBe('1');
    expect((await getJson(`${server.url}/v2/models/bad_config/ready`)).status).toBe(503);
    expect((await getJson(`${server.url}/v2/models/nope/ready`)).status).toBe(404);
  });
});

describe('model config', () => {
  it('returns the effective config, derived fields filled in', async () => {
    const { status, body } = await getJson(`${server.url}/v2/models/mlp_classifier/config`);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      name: 'mlp_classifier',
      platform: 'onnxruntime_onnx',
      max_batch_size: 64,
      instance_count: 1,
      dynamic_batching: { preferred_batch_size: [16, 32, 64], max_queue_delay_microseconds: 500, max_queue_size: 1024 },
    });
  });
});

describe('repository index', () => {
  it('lists every model and version with state and reason', async () => {
    const { status, body } = await postJson(`${server.url}/v2/repository/index`, '');
    expect(status).toBe(200);
    const byName = Object.fromEntries((body as { name: string }[]).map((r) => [r.name, r]));
    expect(byName.mlp_classifier).toEqual({ name: 'mlp_classifier', version: '1', state: 'READY', reason: '' });
    expect(byName.broken).toMatchObject({ version: '1', state: 'FAILED' });
    expect(byName.broken.reason).toMatch(/Protobuf parsing failed/);
    expect(byName.bad_config).toMatchObject({ state: 'FAILED' });
    expect(byName.bad_config.reason).toMatch(/max_batch_size/);
    expect(byName.bad_config.reason).toMatch(/unknown_key/);
  });

  it('filters to READY models with {"ready": true}', async () => {
    const { body } = await postJson(`${server.url}/v2/repository/index`, { ready: true });
    expect((body as { state: string }[]).every((r) => r.state === 'READY')).toBe(true);
    expect((body as { name: string }[]).some((r) => r.name === 'broken')).toBe(false);
  });

  it('logs why a model failed', () => {
    const failures = server.logs.filter((l) => l.event === 'model_failed').map((l) => l.model);
    expect(failures).toEqual(expect.arrayContaining(['broken', 'bad_config']));
  });
});

describe('statistics', () => {
  it('counts inferences and executions', async () => {
    const body = { inputs: [{ name: 'x', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] }] };
    expect((await postJson(`${server.url}/v2/models/no_batch/infer`, body)).status).toBe(200);
    const { status, body: stats } = await getJson(`${server.url}/v2/models/no_batch/stats`);
    expect(status).toBe(200);
    expect(stats.model_stats[0]).toMatchObject({ name: 'no_batch', version: '1', inference_count: 1, execution_count: 1 });
  });
});
