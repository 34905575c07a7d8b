/** Triton's logging extension: GET/POST /v2/logging reads and changes the log threshold of a running server. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, getJson, postJson, startServer } from './harness.js';
import type { ServerProcess } from './harness.js';

let server: ServerProcess;

beforeAll(async () => {
  server = await startServer(FIXTURES);
});
afterAll(async () => {
  await server?.stop();
});

const logging = (body: unknown) => postJson(`${server.url}/v2/logging`, body);
/** A bad request (not the model's shape): logged at debug (`request_error`) with its id, a marker to find its line. */
const badRequest = (marker: string) => postJson(`${server.url}/v2/models/mlp_classifier/infer`, { id: marker, inputs: [{ name: 'input', shape: [1, 5], datatype: 'FP32', data: [1, 2, 3, 4, 5] }] });
const loggedBadRequest = (marker: string) => server.logs.some((l) => l.event === 'request_error' && l.id === marker);

describe('logging extension', () => {
  it('reads the settings as Triton names them, and turns debug lines on and off while serving', async () => {
    expect((await getJson(`${server.url}/v2`)).body.extensions).toContain('logging');
    expect((await getJson(`${server.url}/v2/logging`)).body).toEqual({ log_file: '', log_info: true, log_warnings: true, log_errors: true, log_verbose_level: 0, log_format: 'json', log_level: 'info' });

    expect((await badRequest('quiet')).status).toBe(400);
    const verbose = await logging({ log_verbose_level: 1 });
    expect(verbose).toMatchObject({ status: 200, body: { log_verbose_level: 1, log_info: true, log_level: 'debug' } });
    expect(await server.waitForLog((l) => l.event === 'log_level')).toMatchObject({ from: 'info', to: 'debug' });
    expect((await badRequest('loud')).status).toBe(400);
    await server.waitForLog((l) => l.event === 'request_error' && l.id === 'loud');
    expect(loggedBadRequest('quiet')).toBe(false);

    // Only errors: Triton's switches, or Volley's own level name.
    expect((await logging({ log_verbose_level: 0, log_info: false, log_warnings: false })).body).toMatchObject({ log_info: false, log_warnings: false, log_errors: true, log_verbose_level: 0, log_level: 'error' });
    expect((await badRequest('quiet again')).status).toBe(400);
    expect((await logging({ log_level: 'info' })).body).toMatchObject({ log_info: true, log_warnings: true, log_level: 'info' });
    expect(loggedBadRequest('quiet again')).toBe(false);
    expect((await logging({ log_errors: false, log_warnings: false, log_info: false })).body.log_level).toBe('silent');
    // At fatal the switches all read false: setting one to what it reads changes nothing.
    expect((await logging({ log_level: 'fatal' })).body.log_errors).toBe(false);
    expect((await logging({ log_verbose_level: 0, log_errors: false })).body.log_level).toBe('fatal');
    expect((await logging({ log_level: 'info' })).status).toBe(200);
  });

  it('refuses settings it cannot honour with 400 and leaves the level as it was', async () => {
    const cases: [unknown, RegExp][] = [
      [{ log_info: true, log_warnings: false }, /threshold/],
      [{ log_verbose_level: 2, log_info: false }, /threshold/],
      [{ log_file: '/var/log/volley.log' }, /stdout/],
      [{ log_format: 'ISO8601' }, /JSON lines/],
      [{ log_verbose_level: -1 }, /integer/],
      [{ log_info: 'yes' }, /boolean/],
      [{ log_level: 'loud' }, /one of/],
      [{ log_level: 'debug', log_info: true }, /either/],
      [{ log_colour: true }, /unknown log setting/],
      [[1], /JSON object/],
    ];
    for (const [body, error] of cases) {
      const res = await logging(body);
      expect([JSON.stringify(body), res.status, res.body.error]).toEqual([JSON.stringify(body), 400, expect.stringMatching(error)]);
    }
    expect((await getJson(`${server.url}/v2/logging`)).body.log_level).toBe('info');
  });
});
