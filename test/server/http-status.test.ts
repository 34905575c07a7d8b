import { describe, expect, it } from 'vitest';
import { ERROR_CODES, VolleyError } from '../../src/errors.js';
import type { ErrorCode } from '../../src/errors.js';
import { toHttpStatus } from '../../src/server/http-status.js';

/** The status every code must reach a client with. A new code fails here until it is decided. */
const EXPECTED: Record<ErrorCode, string> = {
  ERR_INVALID_JSON: '400 Bad Request',
  ERR_INVALID_REQUEST: '400 Bad Request',
  ERR_INVALID_INPUT: '400 Bad Request',
  ERR_INVALID_OUTPUT: '400 Bad Request',
  ERR_INVALID_CONFIG: '400 Bad Request',
  ERR_MODEL_CONTROL_DISABLED: '400 Bad Request',
  ERR_MODEL_NOT_FOUND: '404 Not Found',
  ERR_VERSION_NOT_FOUND: '404 Not Found',
  ERR_ROUTE_NOT_FOUND: '404 Not Found',
  ERR_SHM_REGION_NOT_FOUND: '404 Not Found',
  ERR_METHOD_NOT_ALLOWED: '405 Method Not Allowed',
  ERR_PAYLOAD_TOO_LARGE: '413 Payload Too Large',
  ERR_UNSUPPORTED_MEDIA_TYPE: '415 Unsupported Media Type',
  ERR_MODEL_NOT_READY: '503 Service Unavailable',
  ERR_SERVER_NOT_READY: '503 Service Unavailable',
  ERR_QUEUE_FULL: '503 Service Unavailable',
  ERR_MODEL_LOAD: '400 Bad Request',
  ERR_DEADLINE_EXCEEDED: '504 Gateway Timeout',
  ERR_CANCELLED: '499 Client Closed Request',
  ERR_RUNTIME: '500 Internal Server Error',
  ERR_INTERNAL: '500 Internal Server Error',
};

describe('toHttpStatus', () => {
  it('has a decided status for exactly the codes in ERROR_CODES', () => {
    expect(Object.keys(EXPECTED).sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  it.each(Object.keys(ERROR_CODES) as ErrorCode[])('maps %s through its category', (code) => {
    const err = new VolleyError(code, 'x');
    expect(err.category).toBe(ERROR_CODES[code]);
    expect(toHttpStatus(err.category)).toBe(EXPECTED[code]);
  });

  it('gives every category a well-formed status line', () => {
    for (const category of new Set(Object.values(ERROR_CODES))) expect(toHttpStatus(category)).toMatch(/^[1-5]\d\d [A-Z][A-Za-z ]+$/);
  });
});
