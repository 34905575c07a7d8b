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
import { buildTimedRequest, pickOutputs, selectOutputs } from '../registry/serving-spec.js';
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
  return { model: decode(m[1]), version: m[2] === undefined ? undefined : decode(m[2]), predict: m[3] !== undefined };
}

/** GET /v1/models/{m}[/versions/{v}]: TF Serving's model status, one entry per version. */
export function modelStatus(ctx: ServerContext, ex: Exchange): void {
  const t = target(ex);
  if (t.predict) throw new VolleyError('ERR_METHOD_NOT_ALLOWED', `GET is not allowed on ${ex.url}; use POST`);
  const { versions } = ctx.registry.lookup(t.model, t.version);
  const chosen = t.version === undefined ? versions : versions.filter((v) => String(v.version) === t.version);
  ex.sendJson(OK, JSON.stringify({ model_version_status: chosen.map((mv) => ({ version: String(mv.version), state: STATES[mv.state], status: { error_code: mv.state === 'FAILED' ? 'UNKNOWN' : 'OK', error_message: mv.state === 'FAILED' ? mv.reason : '' } })) }));
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
  if (body.signature_name !== undefined && body.signature_name !== 'serving_default') throw invalid(`signature_name '${String(body.signature_name)}': a model serves one signature here, "serving_default"`);
  const payload = decodeInferObject({ inputs: rows ? fromInstances(spec, body.instances) : fromColumns(spec, body.inputs) }, null);
  const wanted = selectOutputs(spec, undefined);
  const request = buildTimedRequest(spec, payload.inputs, undefined, performance.now());
  ex.onAbort = () => request.cancel();
  const outputs = pickOutputs(await runRequest(model, mv, request, t.version === undefined, ex.routeKey), wanted);
  const answer = rows ? { predictions: toPredictions(outputs) } : { outputs: outputs.length === 1 ? nested(outputs[0]) : Object.fromEntries(outputs.map((o) => [o.name, nested(o)])) };
  ex.sendJson(OK, JSON.stringify(answer));
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

/** Row format answer: per row, the output's row (one output) or an object of outputs' rows. */
function toPredictions(outputs: readonly Tensor[]): unknown[] {
  const all = outputs.map(nested);
  const batch = outputs[0]?.shape[0] ?? 0;
  return Array.from({ length: batch }, (_, i) => (outputs.length === 1 ? (all[0] as unknown[])[i] : Object.fromEntries(outputs.map((o, k) => [o.name, (all[k] as unknown[])[i]]))));
}

/** A tensor as nested JSON arrays of its shape. */
function nested(t: Tensor): unknown {
  const flat = values(t);
  const build = (dim: number, offset: number): [unknown, number] => {
    if (dim === t.shape.length) return [flat[offset], offset + 1];
    const out: unknown[] = [];
    for (let i = 0; i < t.shape[dim]; i++) {
      const [v, next] = build(dim + 1, offset);
      out.push(v);
      offset = next;
    }
    return [out, offset];
  };
  return build(0, 0)[0];
}

/** Elements as JSON values: BOOL as booleans, FP16 as numbers, 64-bit integers as numbers (exact within 2^53), NaN and ±Infinity as null. */
function values(t: Tensor): unknown[] {
  switch (t.datatype) {
    case 'BOOL':
      return Array.from(t.data as Uint8Array, (b) => b !== 0);
    case 'FP16':
      return Array.from(t.data as Uint16Array, (h) => finite(halfToFloat(h)));
    case 'INT64':
    case 'UINT64':
      return Array.from(t.data as BigInt64Array, (v) => Number(v));
    default:
      return Array.from(t.data as Float32Array, finite);
  }
}

const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);

function invalid(message: string): VolleyError {
  return new VolleyError('ERR_INVALID_REQUEST', message);
}
