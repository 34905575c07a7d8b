/**
 * TF Serving's REST API, for clients written against TensorFlow Serving: `POST
 * /v1/models/{m}[/versions/{v}]:predict` in the row ("instances" → "predictions") and columnar
 * ("inputs" → "outputs") formats, and `GET /v1/models/{m}[/versions/{v}]` (model status). Any model
 * Volley serves answers, ONNX or TF.js, through the same registry, batchers, routing and
 * statistics as KServe v2. A request is turned into the KServe request object the HTTP path
 * decodes (decodeInferObject), with each input's datatype the model's and its shape read off the
 * nesting of its values, so every check and message is the KServe path's. Errors are
 * `{"error": "..."}`, as TF Serving's.
 */
import { VolleyError } from '../errors.js';
import { pickVersion, runRequest } from '../registry/dispatch.js';
import type { ModelVersion } from '../registry/model-version.js';
import { buildTimedRequest } from '../registry/serving-spec.js';
import type { ServingSpec } from '../registry/serving-spec.js';
import { giveBuffer } from '../runtimes/buffer-pool.js';
import type { Tensor } from '../runtimes/tensor.js';
import type { Exchange } from './exchange.js';
import { decodeInferObject, isObject, parseJson } from './json-codec.js';
import { halfToFloat } from './fp16.js';
import type { ServerContext } from './v2-handlers.js';

const OK = '200 OK';
/** `/v1/models/{m}[/versions/{v}][:predict]`: model names never hold '/' or ':' (repository.ts). */
const PATH = /^\/v1\/models\/([^/:]+)(?:\/versions\/([^/:]+))?(:predict)?$/;

interface Target {
  model: string;
  version: string | undefined;
  predict: boolean;
}

function target(ex: Exchange): Target {
  const m = PATH.exec(ex.url);
  if (m === null) throw new VolleyError('ERR_ROUTE_NOT_FOUND', `no route for ${ex.method} ${ex.url} (TF Serving's: /v1/models/{model}[/versions/{version}][:predict])`);
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new VolleyError('ERR_INVALID_REQUEST', `malformed percent-encoding in URL: ${ex.url}`);
    }
  };
  const t = { model: decode(m[1]), version: m[2] === undefined ? undefined : decode(m[2]), predict: m[3] !== undefined };
  // The router counts a failure against ex.params[0], which a wildcard route does not fill.
  if (ex.params.length === 0) ex.params.push(t.model);
  return t;
}

/** GET /v1/models/{m}[/versions/{v}]: TF Serving's model status, one entry per version (those that failed to load too, with why). */
export function modelStatus(ctx: ServerContext, ex: Exchange): void {
  const t = target(ex);
  if (t.predict) throw new VolleyError('ERR_METHOD_NOT_ALLOWED', `GET is not allowed on ${ex.url}; use POST`);
  if (!ctx.registry.has(t.model)) ctx.registry.model(t.model);
  const rows = ctx.registry.index().filter((r) => r.name === t.model && r.version !== undefined && (t.version === undefined || r.version === t.version));
  if (t.version !== undefined && rows.length === 0) throw new VolleyError('ERR_VERSION_NOT_FOUND', `model '${t.model}' has no version ${t.version}`);
  const failed = (r: (typeof rows)[number]) => r.state === 'FAILED';
  ex.sendJson(OK, JSON.stringify({ model_version_status: rows.map((r) => ({ version: r.version, state: STATES[r.state], status: { error_code: failed(r) ? 'UNKNOWN' : 'OK', error_message: failed(r) ? r.reason : '' } })) }));
}

/** TF Serving's ModelVersionStatus states for Volley's. */
const STATES: Record<ModelVersion['state'], string> = { LOADING: 'LOADING', WARMING: 'LOADING', READY: 'AVAILABLE', DRAINING: 'UNLOADING', UNLOADED: 'END', FAILED: 'END' };

/** POST /v1/models/{m}[/versions/{v}]:predict */
export async function predict(ctx: ServerContext, ex: Exchange): Promise<void> {
  const t = target(ex);
  if (!t.predict) throw new VolleyError('ERR_METHOD_NOT_ALLOWED', `POST is not allowed on ${ex.url}; POST to ${ex.url}:predict`);
  const body = parseJson(await ex.readBody(ctx.maxBodyBytes));
  const started = performance.now();
  ex.started = started;
  if (ctx.draining) throw new VolleyError('ERR_SERVER_NOT_READY', 'server is shutting down', 1);
  if (!isObject(body)) throw invalid('the body must be a JSON object with "instances" (row format) or "inputs" (columnar format)');
  const model = ctx.registry.model(t.model);
  const mv = pickVersion(model, t.version, ex.routeKey);
  ex.stats = mv.stats;
  const spec = mv.spec as NonNullable<ModelVersion['spec']>;
  const rows = body.instances !== undefined;
  if (rows === (body.inputs !== undefined)) throw invalid('send exactly one of "instances" (row format) and "inputs" (columnar format)');
  if (body.signature_name !== undefined && body.signature_name !== '' && body.signature_name !== 'serving_default') throw invalid(`signature_name '${String(body.signature_name)}': a model serves one signature here, "serving_default"`);
  const payload = decodeInferObject({ inputs: rows ? fromInstances(spec, body.instances) : fromColumns(spec, body.inputs) }, null);
  const request = buildTimedRequest(spec, payload.inputs, undefined, performance.now());
  ex.onAbort = () => request.cancel();
  // Every output, in the model's order (TF Serving's REST predict names none).
  const outputs = await runRequest(model, mv, request, t.version === undefined, ex.routeKey);
  const answer = rows ? `{"predictions":${predictions(outputs, payload.inputs[0]?.shape[0] ?? 0)}}` : `{"outputs":${outputs.length === 1 ? nested(outputs[0]) : object(outputs.map((o) => [o.name, nested(o)]))}}`;
  ex.sendJson(OK, answer);
  ex.recycleBody();
  for (const tensor of request.inputs) giveBuffer(tensor.data.buffer);
  mv.stats.succeeded(performance.now() - started, request);
}

/** Row format: a list of instances, each a value (a model with one input) or an object of inputs; stacked into one batch. */
function fromInstances(spec: ServingSpec, instances: unknown): Record<string, unknown>[] {
  if (!Array.isArray(instances) || instances.length === 0) throw invalid('"instances" must be a non-empty list');
  const names = spec.inputs.map((s) => s.name);
  const named = isObject(instances[0]);
  if (!named && names.length !== 1) throw invalid(`the model has ${names.length} inputs (${names.join(', ')}): each instance must be an object of them`);
  return spec.inputs.map((s) => {
    const column = instances.map((inst, i) => {
      if (!named) return inst;
      if (!isObject(inst)) throw invalid(`instances[${i}] must be an object of the model's inputs, as instances[0] is`);
      if (!Object.hasOwn(inst, s.name)) throw invalid(`instances[${i}] has no input '${s.name}'`);
      return inst[s.name];
    });
    if (named) {
      for (const [i, inst] of instances.entries()) {
        const extra = Object.keys(inst as object).find((k) => !names.includes(k));
        if (extra !== undefined) throw invalid(`instances[${i}] has '${extra}', which is not an input of the model (its inputs: ${names.join(', ')})`);
      }
    }
    return input(s, column);
  });
}

/** Columnar format: one tensor (a model with one input) or an object of tensors, each with its batch dimension. */
function fromColumns(spec: ServingSpec, inputs: unknown): Record<string, unknown>[] {
  const names = spec.inputs.map((s) => s.name);
  if (!isObject(inputs)) {
    if (names.length !== 1) throw invalid(`the model has ${names.length} inputs (${names.join(', ')}): "inputs" must be an object of them`);
    return [input(spec.inputs[0], inputs)];
  }
  const extra = Object.keys(inputs).find((k) => !names.includes(k));
  if (extra !== undefined) throw invalid(`"inputs" has '${extra}', which is not an input of the model (its inputs: ${names.join(', ')})`);
  return spec.inputs.map((s) => {
    if (!Object.hasOwn(inputs, s.name)) throw invalid(`"inputs" has no '${s.name}'`);
    return input(s, inputs[s.name]);
  });
}

/** A KServe input: the model's name and datatype, the shape read off the nesting of `data`. */
function input(s: ServingSpec['inputs'][number], data: unknown): Record<string, unknown> {
  const shape: number[] = [];
  let level: unknown = data;
  while (Array.isArray(level)) {
    shape.push(level.length);
    if (shape.length > 64) throw invalid(`input '${s.name}' is nested more than 64 levels deep`);
    level = level[0];
  }
  if (isObject(level)) throw invalid(`input '${s.name}': {"b64": …} and other objects are not values Volley takes (numbers and booleans only)`);
  return { name: s.name, datatype: s.datatype, shape, data: shape.length === 0 ? [data] : data };
}

/**
 * Row format answer (JSON text): per row, the output's row (one output) or an object of the
 * outputs' rows. Every output must have the instances' batch dimension: one without it (a scalar,
 * say) can only be answered in the columnar format.
 */
function predictions(outputs: readonly Tensor[], batch: number): string {
  for (const o of outputs) {
    if (o.shape.length === 0 || o.shape[0] !== batch) throw new VolleyError('ERR_INVALID_OUTPUT', `output '${o.name}' has shape [${o.shape}], not one row per instance (${batch}): ask in the columnar format ("inputs")`);
  }
  const rows = outputs.map((o) => rowsOf(o));
  return `[${Array.from({ length: batch }, (_, i) => (outputs.length === 1 ? rows[0][i] : object(outputs.map((o, k) => [o.name, rows[k][i]])))).join(',')}]`;
}

/** A tensor as nested JSON arrays of its shape (text: 64-bit integers print exactly). */
function nested(t: Tensor): string {
  return build(elements(t), t.shape, 0, 0)[0];
}

/** Each row of a tensor (its first dimension) as JSON text. */
function rowsOf(t: Tensor): string[] {
  const flat = elements(t);
  const per = flat.length / Math.max(1, t.shape[0]);
  return Array.from({ length: t.shape[0] }, (_, i) => build(flat, t.shape, 1, i * per)[0]);
}

function build(flat: readonly string[], shape: readonly number[], dim: number, offset: number): [string, number] {
  if (dim === shape.length) return [flat[offset], offset + 1];
  const parts: string[] = [];
  for (let i = 0; i < shape[dim]; i++) {
    const [text, next] = build(flat, shape, dim + 1, offset);
    parts.push(text);
    offset = next;
  }
  return [`[${parts.join(',')}]`, offset];
}

function object(entries: [string, string][]): string {
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
}

/** Elements as JSON text: BOOL as booleans, FP16 as numbers, integers exactly (64-bit ones too), NaN and ±Infinity as null. */
function elements(t: Tensor): string[] {
  switch (t.datatype) {
    case 'BOOL':
      return Array.from(t.data as Uint8Array, (b) => (b !== 0 ? 'true' : 'false'));
    case 'FP16':
      return Array.from(t.data as Uint16Array, (h) => finite(halfToFloat(h)));
    case 'FP32':
    case 'FP64':
      return Array.from(t.data as Float32Array, finite);
    default:
      return Array.from(t.data as unknown as ArrayLike<number | bigint>, (v) => String(v));
  }
}

const finite = (v: number): string => (Number.isFinite(v) ? String(v) : 'null');

function invalid(message: string): VolleyError {
  return new VolleyError('ERR_INVALID_REQUEST', message);
}
