/**
 * Triton's logging extension: `GET /v2/logging` reads the log settings, `POST /v2/logging` changes
 * the ones it names and answers all of them, while the server runs.
 *
 * Volley's log has one threshold (`--log-level`: pino's levels), where Triton has a switch per
 * severity and a verbosity. The switches are answered from the threshold, and a change is taken
 * when it describes one: errors ⊇ warnings ⊇ info ⊇ verbose. `log_verbose_level` 1 is debug, 2 and
 * above trace; all switches off is silent. Volley's own `log_level` (a pino level name) may be read
 * and set too. Logs go to stdout as JSON lines, so `log_file` is "" and `log_format` "json".
 */
import { pino } from 'pino';
import { VolleyError } from '../errors.js';
import { LOG_LEVELS } from '../logger.js';
import type { LogLevel as Level, Logger } from '../logger.js';
import type { Exchange } from './exchange.js';
import { isObject, parseJson } from './json-codec.js';
import type { ServerContext } from './v2-handlers.js';

const OK = '200 OK';

/** pino's own level numbers (trace 10 … fatal 60; lower = more verbose), `silent` above everything. */
const RANK = (level: Level): number => (level === 'silent' ? Infinity : pino.levels.values[level]);

interface Switches {
  log_info: boolean;
  log_warnings: boolean;
  log_errors: boolean;
  log_verbose_level: number;
}

function switchesOf(level: Level): Switches {
  const r = RANK(level);
  return { log_info: r <= RANK('info'), log_warnings: r <= RANK('warn'), log_errors: r <= RANK('error'), log_verbose_level: level === 'trace' ? 2 : level === 'debug' ? 1 : 0 };
}

function levelOf(s: Switches): Level {
  if (s.log_verbose_level > 0 && !s.log_info) throw invalid('verbose messages cannot be on while info messages are off');
  if (s.log_info && !s.log_warnings) throw invalid('info messages cannot be on while warnings are off');
  if (s.log_warnings && !s.log_errors) throw invalid('warnings cannot be on while errors are off');
  if (s.log_verbose_level >= 2) return 'trace';
  if (s.log_verbose_level === 1) return 'debug';
  return s.log_info ? 'info' : s.log_warnings ? 'warn' : s.log_errors ? 'error' : 'silent';
}

const invalid = (why: string) => new VolleyError('ERR_INVALID_REQUEST', `${why}: Volley's log level is a threshold (errors ⊇ warnings ⊇ info ⊇ verbose)`);

/** Every log setting with its value now (HTTP's JSON body, gRPC's LogSettings map). */
export function logSettings(logger: Logger): Record<string, string | boolean | number> {
  const level = logger.level as Level;
  return { log_file: '', ...switchesOf(level), log_format: 'json', log_level: level };
}

function settings(logger: Logger): string {
  return JSON.stringify(logSettings(logger));
}

export function getLogging(ctx: ServerContext, ex: Exchange): void {
  ex.sendJson(OK, settings(ctx.logger));
}

export async function postLogging(ctx: ServerContext, ex: Exchange): Promise<void> {
  const req = parseJson(await ex.readBody(ctx.maxBodyBytes));
  if (!isObject(req)) throw new VolleyError('ERR_INVALID_REQUEST', 'request body must be a JSON object of log settings, e.g. {"log_verbose_level": 1}');
  applyLogSettings(ctx, req);
  ex.sendJson(OK, settings(ctx.logger));
}

/** Changes the settings `req` names (HTTP's body, gRPC's LogSettings map as plain values), all or none. */
export function applyLogSettings(ctx: ServerContext, req: Record<string, unknown>): void {
  const from = ctx.logger.level as Level;
  let level = from;
  const switches = switchesOf(from);
  let changed = false;
  for (const [key, value] of Object.entries(req)) {
    switch (key) {
      case 'log_info':
      case 'log_warnings':
      case 'log_errors':
        if (typeof value !== 'boolean') throw new VolleyError('ERR_INVALID_REQUEST', `'${key}' must be a boolean`);
        // A switch set to what it reads now changes nothing (at 'fatal', errors read false: no-op, not 'silent').
        changed ||= value !== switches[key];
        switches[key] = value;
        break;
      case 'log_verbose_level':
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 2 ** 32 - 1) throw new VolleyError('ERR_INVALID_REQUEST', "'log_verbose_level' must be an integer ≥ 0");
        // Levels above 2 are all trace (read back as 2).
        changed ||= Math.min(value, 2) !== switches.log_verbose_level;
        switches.log_verbose_level = Math.min(value, 2);
        break;
      case 'log_level':
        if (!LOG_LEVELS.includes(value as Level)) throw new VolleyError('ERR_INVALID_REQUEST', `'log_level' must be one of ${LOG_LEVELS.join(', ')}`);
        level = value as Level;
        break;
      case 'log_file':
        if (value !== '') throw new VolleyError('ERR_INVALID_REQUEST', "'log_file' can only be \"\": Volley logs to stdout (redirect it, or let the container runtime collect it)");
        break;
      case 'log_format':
        if (value !== 'json') throw new VolleyError('ERR_INVALID_REQUEST', "'log_format' can only be \"json\": Volley logs JSON lines");
        break;
      default:
        throw new VolleyError('ERR_INVALID_REQUEST', `unknown log setting '${key}' (known: log_file, log_info, log_warnings, log_errors, log_verbose_level, log_format, log_level)`);
    }
  }
  const switchKeys = ['log_info', 'log_warnings', 'log_errors', 'log_verbose_level'];
  if (req.log_level !== undefined && switchKeys.some((k) => k in req)) throw new VolleyError('ERR_INVALID_REQUEST', "set either 'log_level' or Triton's switches (log_info, log_warnings, log_errors, log_verbose_level), not both");
  if (changed) level = levelOf(switches);
  if (level !== from) {
    // At warn, under the more verbose of the two thresholds: the line is there unless both are quieter.
    const line = { event: 'log_level', from, to: level };
    if (RANK(level) > RANK(from)) ctx.logger.warn(line, 'log level changed');
    ctx.logger.level = level;
    if (RANK(level) < RANK(from)) ctx.logger.warn(line, 'log level changed');
  }
}
