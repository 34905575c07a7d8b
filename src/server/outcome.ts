/**
 * What happens to a failed request besides its answer: one count (volley_requests_total) and one
 * log line. Shared by HTTP and the WebSocket stream. Failure paths only: this may allocate.
 */
import { asVolleyError } from '../errors.js';
import type { VolleyError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { VersionStats } from '../metrics/version-stats.js';
import type { ServerContext } from './v2-handlers.js';

let lastRequestId = 0;

/** Process-unique request ids for log lines (HTTP exchanges and WebSocket frames share the sequence). */
export function nextRequestId(): number {
  return ++lastRequestId;
}

/**
 * Counts a failed inference request against `stats`, or, when it failed before a version was
 * chosen, against (model, version "") — model "" unless the registry knows the name, so clients
 * cannot mint label values. `ms`: its time from body received to failure, where known.
 */
export function countFailure(ctx: ServerContext, stats: VersionStats | null, modelName: string, err: unknown, ms = 0): void {
  const target = stats ?? ctx.metrics.book.version(ctx.registry.has(modelName) ? modelName : '', '');
  target.failed(asVolleyError(err).category, ms);
}

/** Who a log line is about: the server's request id, the client's id and trace context, the model. */
export interface RequestFields {
  request_id: number;
  id?: string | number;
  traceparent?: string;
  model?: string;
  version?: string;
  url?: string;
  method?: string;
}

/** One line per failed request: `internal` at error, `unavailable`/`deadline` at warn, client errors at debug. */
export function logFailure(logger: Logger, error: VolleyError, fields: RequestFields): void {
  const line = { event: 'request_error', ...fields, code: error.code, err: error.message };
  if (error.category === 'internal') logger.error(line, 'request failed');
  else if (error.category === 'unavailable' || error.category === 'deadline') logger.warn(line, 'request refused');
  else logger.debug(line, 'bad request');
}
