import type { ErrorCategory } from '../errors.js';

/** The one place where error categories become HTTP statuses. */
const STATUS: Readonly<Record<ErrorCategory, string>> = {
  invalid: '400 Bad Request',
  'not-found': '404 Not Found',
  'method-not-allowed': '405 Method Not Allowed',
  'too-large': '413 Payload Too Large',
  'unsupported-media': '415 Unsupported Media Type',
  unavailable: '503 Service Unavailable',
  deadline: '504 Gateway Timeout',
  // The client is gone and never reads this; 499 is nginx's "client closed request".
  cancelled: '499 Client Closed Request',
  internal: '500 Internal Server Error',
};

export function toHttpStatus(category: ErrorCategory): string {
  return STATUS[category];
}
