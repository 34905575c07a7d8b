/**
 * Explicit model control over HTTP: --load-model, load (with a config override), unload, reloads
 * that fail and leave the old version serving, path traversal, and the API refused in other modes.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { addConst } from '../../scripts/onnx/versioned.js';
import { addRequest, emptyRepo, getJson, postJson, startServer, writeConfig, writeVersion } from './harness.js';
import type { ServerProcess } from './harness.js';

let server: ServerProcess | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

function repoAB(): string {
  const repo = emptyRepo();
  for (const [name, c] of [['a', 1], ['b', 2]] as const) {
    writeConfig(repo, name, { max_batch_size: 8 });
    writeVersion(repo, name, 1, addConst(c));
  }
  return repo;
}

function rawPost(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers: { 'content-length': 0 } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const EXPLICIT = ['--model-control-mode', 'explicit'];
const infer = (s: ServerProcess, model: string) => postJson(`${s.url}/v2/models/${model}/infer`, addRequest([0, 0, 0, 0]));
const load = (s: ServerProcess, model: string, body?: unknown) => postJson(`${s.url}/v2/repository/models/${model}/load`, body ?? '');

describe('explicit model control', () => {
  it('loads only --load-model at start and lists the rest as not loaded', async () => {
    server = await startServer(repoAB(), [...EXPLICIT, '--load-model', 'a']);
    expect((await infer(server, 'a')).status).toBe(200);
    expect((await infer(server, 'b')).status).toBe(404);
    expect((await postJson(`${server.url}/v2/repository/index`, {})).body).toEqual([
      { name: 'a', version: '1', state: 'READY', reason: '' },
      { name: 'b', state: 'UNLOADED', reason: 'not loaded' },
    ]);
    expect((await getJson(`${server.url}/v2/health/ready`)).status).toBe(200);
  });

  it('loads, reloads with a config override, and unloads on request', async () => {
    server = await startServer(repoAB(), EXPLICIT);
    expect((await infer(server, 'b')).status).toBe(404);
    expect(await load(server, 'b')).toMatchObject({ status: 200 });
    const ok = await infer(server, 'b');
    expect([ok.status, ok.body.outputs[0].data]).toEqual([200, [2, 2, 2, 2]]);

    // A Triton parameter Volley does not read is accepted, and logged as ignored.
    const override = { parameters: { config: JSON.stringify({ max_batch_size: 2, parameters: { inter_op_thread_count: { string_value: '2' } } }) } };
    expect((await load(server, 'b', override)).status).toBe(200);
    expect(await server.waitForLog((l) => l.event === 'config_parameters_ignored')).toMatchObject({ model: 'b', parameters: ['inter_op_thread_count'] });
    expect(server.logs.filter((l) => l.event === 'config_parameters_ignored')).toHaveLength(1);
    expect((await getJson(`${server.url}/v2/models/b/config`)).body.max_batch_size).toBe(2);
    // The override is for that load: a plain load reads config.json again.
    expect((await load(server, 'b')).status).toBe(200);
    expect((await getJson(`${server.url}/v2/models/b/config`)).body.max_batch_size).toBe(8);

    expect((await postJson(`${server.url}/v2/repository/models/b/unload`, '')).status).toBe(200);
    const gone = await infer(server, 'b');
    expect(gone.status).toBe(503);
    expect(gone.body.error).toMatch(/unloaded by request/);
    expect((await postJson(`${server.url}/v2/repository/models/b/unload`, '')).status).toBe(404);
    expect((await postJson(`${server.url}/v2/repository/index`, {})).body[1]).toEqual({ name: 'b', state: 'UNLOADED', reason: 'unloaded by request' });
  });

  it('a failed reload (broken file, invalid override) answers 400 and the old version keeps serving', async () => {
    const repo = repoAB();
    server = await startServer(repo, [...EXPLICIT, '--load-model', '*']);
    writeVersion(repo, 'a', 1, 'garbage');
    const broken = await load(server, 'a');
    expect(broken.status).toBe(400);
    expect(broken.body.error).toMatch(/failed to load 'a'/);
    expect((await infer(server, 'a')).body.outputs[0].data).toEqual([1, 1, 1, 1]);

    // Asking again retries the load (the file did not change, the answer is still 400, not 200).
    const again = await load(server, 'a');
    expect([again.status, again.body.error]).toEqual([400, expect.stringMatching(/failed to load 'a'/)]);
    const s = server;
    const failedLoads = (): number => s.logs.filter((l) => l.event === 'model_state' && l.model === 'a' && l.to === 'FAILED').length;
    // The log line may trail the HTTP answer: wait for it rather than read it at once.
    await s.waitForLog(() => failedLoads() >= 2);
    expect(failedLoads()).toBe(2);

    const bad = await load(server, 'b', { parameters: { config: JSON.stringify({ max_batch_size: -1 }) } });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/max_batch_size/);
    expect((await load(server, 'b', { parameters: { config: '{not json' } })).status).toBe(400);
    // Regression (adversarial review): the schema refused a config nested 20,000 deep, but keying
    // the refusal with JSON.stringify overflowed the stack and the answer was a 500.
    const deep = await load(server, 'b', { parameters: { config: `{"x":${'['.repeat(20_000)}${']'.repeat(20_000)}}` } });
    expect([deep.status, deep.body.error]).toEqual([400, expect.stringMatching(/Unrecognized key: "x"/)]);
    expect((await infer(server, 'b')).body.outputs[0].data).toEqual([2, 2, 2, 2]);
  });

  it('a config.json that cannot be read answers 400 with the file and why; a config override loads anyway', async () => {
    const repo = emptyRepo();
    writeVersion(repo, 'b', 1, addConst(2));
    mkdirSync(join(repo, 'b', 'config.json'));
    server = await startServer(repo, EXPLICIT);
    const refused = await load(server, 'b');
    expect([refused.status, refused.body.error]).toEqual([400, "failed to load 'b': model 'b': cannot read b/config.json: EISDIR"]);
    const override = await load(server, 'b', { parameters: { config: JSON.stringify({ max_batch_size: 4 }) } });
    expect(override.status).toBe(200);
    expect((await infer(server, 'b')).body.outputs[0].data).toEqual([2, 2, 2, 2]);
  });

  it('takes load and unload of one model in the order they arrive: an unload sent during a load unloads what it loaded', async () => {
    server = await startServer(repoAB(), EXPLICIT);
    const s = server;
    const loadsStarted = () => s.logs.filter((l) => l.event === 'model_state' && l.model === 'b' && l.to === 'LOADING').length;
    for (let round = 0; round < 3; round++) {
      const loading = load(server, 'b');
      // The unload goes once this round's load is under way (not on a timer: a busy machine may
      // not have read the load's body within any fixed time).
      await s.waitForLog(() => loadsStarted() > round);
      const unloading = postJson(`${server.url}/v2/repository/models/b/unload`, '');
      expect([(await loading).status, (await unloading).status]).toEqual([200, 200]);
      expect((await postJson(`${server.url}/v2/repository/index`, {})).body[1]).toEqual({ name: 'b', state: 'UNLOADED', reason: 'unloaded by request' });
      expect((await infer(server, 'b')).status).toBe(503);
    }
    // A load after the unloads serves again.
    expect((await load(server, 'b')).status).toBe(200);
    expect((await infer(server, 'b')).body.outputs[0].data).toEqual([2, 2, 2, 2]);
  });

  it('promotes a canary and rolls it back by hand through the load API with a config override', async () => {
    const repo = repoAB();
    writeVersion(repo, 'a', 2, addConst(20));
    const routing = (r: unknown) => ({ parameters: { config: JSON.stringify({ max_batch_size: 8, version_policy: { all: {} }, routing: r }) } });
    server = await startServer(repo, [...EXPLICIT, '--load-model', 'a']);
    expect((await infer(server, 'a')).body.model_version).toBe('2');
    expect((await load(server, 'a', routing({ default: 1, canary: { version: 2, percent: 100 } }))).status).toBe(200);
    expect((await infer(server, 'a')).body.model_version).toBe('2');
    expect((await getJson(`${server.url}/v2/models/a/routing`)).body).toMatchObject({ primary: 1, canary: { version: 2, percent: 100 } });
    // Roll back: the canary goes to 0%; no version reloads (a routing-only change).
    await server.waitForLog((l) => l.event === 'model_state' && l.model === 'a' && l.version === 1 && l.to === 'READY');
    const loadsBefore = server.logs.filter((l) => l.event === 'model_state' && l.to === 'LOADING').length;
    expect((await load(server, 'a', routing({ default: 1, canary: { version: 2, percent: 0 } }))).status).toBe(200);
    expect((await infer(server, 'a')).body.model_version).toBe('1');
    expect(server.logs.filter((l) => l.event === 'model_state' && l.to === 'LOADING').length).toBe(loadsBefore);
    // Promote: version 2 becomes the default.
    expect((await load(server, 'a', routing({ default: 2 }))).status).toBe(200);
    expect((await infer(server, 'a')).body.outputs[0].data).toEqual([20, 20, 20, 20]);
  });

  it('refuses model names that could leave the repository, and unknown models', async () => {
    server = await startServer(repoAB(), EXPLICIT);
    // fetch normalizes '..' and '%2E%2E' away; node:http sends the path as written (uWS routes it as a name).
    for (const name of ['..', '%2E%2E', '.%2E']) {
      const res = await rawPost(server.port, `/v2/repository/models/${name}/load`);
      expect(res.status, name).toBe(400);
    }
    for (const name of [ '..%2F..%2Fetc', '.hidden', 'a%2F..%2Fb', '%00']) {
      const res = await load(server, name);
      expect(res.status, name).toBe(400);
      expect(res.body.error, name).toMatch(/invalid model name|percent-encoding/);
    }
    expect((await load(server, 'nope')).status).toBe(404);
    expect((await load(server, 'a', { parameters: 5 })).status).toBe(400);
  });

  it('is refused (400) outside explicit mode', async () => {
    server = await startServer(repoAB());
    const res = await load(server, 'a');
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/not allowed in model control mode 'none'/);
    expect((await postJson(`${server.url}/v2/repository/models/a/unload`, '')).status).toBe(400);
    expect((await infer(server, 'a')).status).toBe(200);
  });
});

describe('explicit model control: files in the load request (Triton\'s override model directory)', () => {
  const b64 = (c: number) => Buffer.from(addConst(c)).toString('base64');
  const upload = (c: number, config: unknown = { max_batch_size: 8 }) => ({ parameters: { config: JSON.stringify(config), 'file:1/model.onnx': b64(c) } });
  /** The upload directories under the server's TMPDIR: `volley-uploads-*` roots, then each root's `<model>-*` directories. */
  const roots = (tmp: string) => readdirSync(tmp).filter((f) => f.startsWith('volley-uploads-'));
  const uploads = (tmp: string) => roots(tmp).flatMap((root) => readdirSync(join(tmp, root)).map((d) => `${root}/${d}`));

  it('loads a model from base64 files and its config, replaces it with another upload, and removes the files it no longer serves from', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'volley-upload-test-'));
    onTestFinished(() => rmSync(tmp, { recursive: true, force: true }));
    server = await startServer(emptyRepo(), EXPLICIT, { TMPDIR: tmp });
    expect((await load(server, 'up', upload(3))).status).toBe(200);
    const first = await infer(server, 'up');
    expect([first.status, first.body.outputs[0].data]).toEqual([200, [3, 3, 3, 3]]);
    expect((await getJson(`${server.url}/v2/models/up/config`)).body.max_batch_size).toBe(8);
    const [dirA] = uploads(tmp);
    expect(uploads(tmp)).toEqual([expect.stringMatching(/^volley-uploads-[^/]+\/up-/)]);

    expect((await load(server, 'up', upload(5))).status).toBe(200);
    const second = await infer(server, 'up');
    expect([second.status, second.body.outputs[0].data]).toEqual([200, [5, 5, 5, 5]]);
    expect(uploads(tmp)).toHaveLength(1);
    expect(uploads(tmp)[0]).not.toBe(dirA);
    expect((await postJson(`${server.url}/v2/repository/index`, {})).body).toEqual([{ name: 'up', version: '1', state: 'READY', reason: '' }]);

    // A failed upload (not an ONNX model) leaves the last one serving and its own files removed.
    const bad = await load(server, 'up', { parameters: { config: '{}', 'file:1/model.onnx': Buffer.from('not onnx').toString('base64') } });
    expect(bad.status).toBe(400);
    expect((await infer(server, 'up')).body.outputs[0].data).toEqual([5, 5, 5, 5]);
    expect(uploads(tmp)).toHaveLength(1);

    // A plain load reads the repository, which has no such model; an unload removes the files.
    expect((await load(server, 'up')).status).toBe(404);
    expect((await postJson(`${server.url}/v2/repository/models/up/unload`, '')).status).toBe(200);
    expect(uploads(tmp)).toEqual([]);
    expect((await load(server, 'up', upload(7))).status).toBe(200);
    await server.stop();
    expect(roots(tmp)).toEqual([]);
  });

  it('keeps the files of a version that loaded when another version of the same upload failed', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'volley-upload-test-'));
    onTestFinished(() => rmSync(tmp, { recursive: true, force: true }));
    server = await startServer(emptyRepo(), EXPLICIT, { TMPDIR: tmp });
    const parameters = { config: JSON.stringify({ max_batch_size: 8, version_policy: { all: {} } }), 'file:1/model.onnx': b64(3), 'file:2/model.onnx': Buffer.from('not onnx').toString('base64') };
    expect((await load(server, 'up', { parameters })).status).toBe(400);
    const index = (await postJson(`${server.url}/v2/repository/index`, {})).body as { version: string; state: string }[];
    expect(index.map((r) => [r.version, r.state])).toEqual([
      ['1', 'READY'],
      ['2', 'FAILED'],
    ]);
    expect((await infer(server, 'up')).body.outputs[0].data).toEqual([3, 3, 3, 3]);
    // Version 1 serves from the upload: its files stay (a restarted worker thread reloads from them).
    const [dir] = uploads(tmp);
    expect(readdirSync(join(tmp, dir, 'up', '1'))).toEqual(['model.onnx']);
  });

  it('removes the uploads at exit when the drain times out', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'volley-upload-test-'));
    onTestFinished(() => rmSync(tmp, { recursive: true, force: true }));
    server = await startServer(emptyRepo(), [...EXPLICIT, '--drain-timeout-ms', '0'], { TMPDIR: tmp });
    expect((await load(server, 'up', upload(3))).status).toBe(200);
    expect(uploads(tmp)).toHaveLength(1);
    await server.stop();
    expect(roots(tmp)).toEqual([]);
  });

  it('refuses files without a config, paths that leave the directory, and content that is not base64', async () => {
    server = await startServer(repoAB(), [...EXPLICIT, '--load-model', 'a']);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ 'file:1/model.onnx': b64(1) }, /needs 'parameters\.config'/],
      [{ config: '{}', 'file:../model.onnx': b64(1) }, /file:<version>\/<file name>/],
      [{ config: '{}', 'file:1/../../../model.onnx': b64(1) }, /file:<version>\/<file name>/],
      [{ config: '{}', 'file:/etc/model.onnx': b64(1) }, /file:<version>\/<file name>/],
      [{ config: '{}', 'file:1/': b64(1) }, /file:<version>\/<file name>/],
      [{ config: '{}', 'file:1/model.onnx': 'not base64!' }, /base64/],
      [{ config: '{}', 'file:1/model.onnx': 42 }, /base64/],
      [{ config: '{}', 'file:1/model.onnx': '' }, /base64/],
      [{ config: 'null', 'file:1/model.onnx': b64(1) }, /must be a JSON object/],
      [{ config: '{}', 'file:1/model.onnx': b64(1), 'file:1/model.onnx/x': b64(1) }, /clash/],
      [{ config: '{}', [`file:1/${'é'.repeat(200)}`]: b64(1) }, /file:<version>\/<file name>/],
    ];
    for (const [parameters, error] of cases) {
      const res = await load(server, 'a', { parameters });
      expect([Object.keys(parameters).join(' '), res.status, res.body.error]).toEqual([Object.keys(parameters).join(' '), 400, expect.stringMatching(error)]);
    }
    const still = await infer(server, 'a');
    expect([still.status, still.body.outputs[0].data]).toEqual([200, [1, 1, 1, 1]]);
  });
});
