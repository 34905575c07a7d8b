/**
 * Triton's model repository extension: `POST /v2/repository/index`, and in explicit mode
 * `POST /v2/repository/models/{m}/load` (from the repository, or from files sent in the request)
 * and `/unload` (docs/lifecycle.md).
 */
import { VolleyError } from '../errors.js';
import { uploadedFiles } from '../registry/uploads.js';
import type { UploadedFiles } from '../registry/uploads.js';
import type { Exchange } from './exchange.js';
import { isObject, parseJson } from './json-codec.js';
import type { ServerContext } from './v2-handlers.js';

const OK = '200 OK';

export async function repositoryIndex(ctx: ServerContext, ex: Exchange): Promise<void> {
  const body = await ex.readBody(ctx.maxBodyBytes);
  let readyOnly = false;
  if (body.length > 0) {
    const req = parseJson(body);
    if (!isObject(req)) throw new VolleyError('ERR_INVALID_REQUEST', 'request body must be a JSON object');
    if (req.ready !== undefined && typeof req.ready !== 'boolean') throw new VolleyError('ERR_INVALID_REQUEST', "'ready' must be a boolean");
    readyOnly = req.ready === true;
  }
  const rows = (await ctx.registry.repositoryIndex()).filter((r) => !readyOnly || r.state === 'READY');
  ex.sendJson(OK, JSON.stringify(rows));
}

/**
 * Body of a load request, all optional (Triton's): `{"parameters": {"config": "<JSON text or
 * object>", "file:<version>/<file name>": "<base64>", ...}}`. Other parameters are ignored.
 */
function loadRequest(body: Uint8Array): { config: unknown; files: UploadedFiles | undefined } {
  if (body.length === 0) return { config: undefined, files: undefined };
  const req = parseJson(body);
  if (!isObject(req)) throw new VolleyError('ERR_INVALID_REQUEST', 'request body must be a JSON object');
  if (req.parameters === undefined) return { config: undefined, files: undefined };
  if (!isObject(req.parameters)) throw new VolleyError('ERR_INVALID_REQUEST', "'parameters' must be an object");
  return loadParameters(req.parameters);
}

/** A load's parameters (HTTP's JSON object, or gRPC's map as plain values): the config override and the uploaded files. */
export function loadParameters(parameters: Record<string, unknown>): { config: unknown; files: UploadedFiles | undefined } {
  const files = uploadedFiles(parameters) ?? undefined;
  const config = parseConfigParameter(parameters.config);
  // The files' directory has no config.json: the request's is its configuration.
  if (files !== undefined && config !== undefined && !isObject(config)) throw new VolleyError('ERR_INVALID_REQUEST', "with 'file:' parameters, 'parameters.config' must be a JSON object (the configuration of the model directory those files make)");
  return { config, files };
}

function parseConfigParameter(config: unknown): unknown {
  if (config === undefined || isObject(config)) return config;
  if (typeof config !== 'string') throw new VolleyError('ERR_INVALID_REQUEST', "'parameters.config' must be a JSON string (or object) with the model configuration");
  try {
    return JSON.parse(config) as unknown;
  } catch (err) {
    throw new VolleyError('ERR_INVALID_CONFIG', `'parameters.config' is not valid JSON: ${(err as Error).message}`);
  }
}

/** Explicit mode: loads (or reloads, load-before-unload) a model, from the repository or from files in the request; answers once it serves. */
export async function loadModel(ctx: ServerContext, ex: Exchange): Promise<void> {
  const name = ex.param(0);
  const body = await ex.readBody(ctx.maxBodyBytes);
  if (ctx.draining) throw new VolleyError('ERR_SERVER_NOT_READY', 'server is shutting down', 1);
  const { config, files } = loadRequest(body);
  await ctx.registry.load(name, config, files);
  ex.sendJson(OK, '{}');
}

export async function unloadModel(ctx: ServerContext, ex: Exchange): Promise<void> {
  const name = ex.param(0);
  await ex.readBody(ctx.maxBodyBytes);
  await ctx.registry.unload(name);
  ex.sendJson(OK, '{}');
}
