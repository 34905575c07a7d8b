/**
 * One error type for the whole server. Every error has a stable `code` (documented in
 * docs/errors.md, checked by a test) and a transport-neutral `category`; only `server/`
 * turns a category into an HTTP status. Match on `code`, never on `instanceof`: errors that
 * cross a worker boundary are rebuilt from `{code, message}` with `fromWire()`.
 */

export type ErrorCategory =
  | 'invalid'
  | 'not-found'
  | 'method-not-allowed'
  | 'too-large'
  | 'unsupported-media'
  | 'unavailable'
  | 'deadline'
  | 'cancelled'
  | 'internal';

/** Every code the server can emit, with its category. The docs table mirrors this. */
export const ERROR_CODES = {
  ERR_INVALID_JSON: 'invalid',
  ERR_INVALID_REQUEST: 'invalid',
  ERR_INVALID_INPUT: 'invalid',
  ERR_INVALID_OUTPUT: 'invalid',
  ERR_INVALID_CONFIG: 'invalid',
  ERR_MODEL_CONTROL_DISABLED: 'invalid',
  ERR_MODEL_NOT_FOUND: 'not-found',
  ERR_VERSION_NOT_FOUND: 'not-found',
  ERR_ROUTE_NOT_FOUND: 'not-found',
  ERR_SHM_REGION_NOT_FOUND: 'not-found',
  ERR_METHOD_NOT_ALLOWED: 'method-not-allowed',
  ERR_PAYLOAD_TOO_LARGE: 'too-large',
  ERR_UNSUPPORTED_MEDIA_TYPE: 'unsupported-media',
  ERR_MODEL_NOT_READY: 'unavailable',
  ERR_SERVER_NOT_READY: 'unavailable',
  ERR_QUEUE_FULL: 'unavailable',
  ERR_MODEL_LOAD: 'invalid',
  ERR_DEADLINE_EXCEEDED: 'deadline',
  ERR_CANCELLED: 'cancelled',
  ERR_RUNTIME: 'internal',
  ERR_INTERNAL: 'internal',
} as const satisfies Record<string, ErrorCategory>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** What crosses a worker boundary (structured clone drops the class and own fields). */
export interface WireError {
  code: string;
  message: string;
}

export class VolleyError extends Error {
  readonly code: ErrorCode;
  readonly category: ErrorCategory;
  /** Seconds a client should wait before retrying (queue full, not ready); 0 = no hint. */
  readonly retryAfterSeconds: number;

  constructor(code: ErrorCode, message: string, retryAfterSeconds = 0) {
    super(message);
    this.name = 'VolleyError';
    this.code = code;
    this.category = ERROR_CODES[code];
    this.retryAfterSeconds = retryAfterSeconds;
  }

  toWire(): WireError {
    return { code: this.code, message: this.message };
  }
}

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}

/** Rebuilds an error sent as `{code, message}`; unknown codes become ERR_INTERNAL. */
export function fromWire(wire: WireError): VolleyError {
  return new VolleyError(isErrorCode(wire.code) ? wire.code : 'ERR_INTERNAL', wire.message);
}

/** Any thrown value as a VolleyError; foreign errors are internal, with their message kept. */
export function asVolleyError(err: unknown, fallback: ErrorCode = 'ERR_INTERNAL'): VolleyError {
  if (err instanceof VolleyError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (isErrorCode(code)) return new VolleyError(code, String((err as Error).message));
  return new VolleyError(fallback, err instanceof Error ? err.message : String(err));
}

/**
 * `value` as JSON for an error message or a cache key, never throwing: BigInts (msgpack 64-bit
 * integers) as their digits, and input nested too deep for JSON.stringify's recursion as
 * `fallback`. Messages pass `maxLength` so that a huge value cannot make a huge message.
 */
export function safeJson(value: unknown, maxLength = Infinity, fallback = '(nested too deeply to show)'): string {
  let s: string;
  try {
    s = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? String(value);
  } catch {
    return fallback;
  }
  return s.length > maxLength ? `${s.slice(0, maxLength)}…` : s;
}
