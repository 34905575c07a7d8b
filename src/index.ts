export { loadServerConfig, ServerConfigSchema } from './config.js';
export type { ServerConfig } from './config.js';
export { ERROR_CODES, VolleyError } from './errors.js';
export type { ErrorCategory, ErrorCode } from './errors.js';
export { startVolley } from './volley.js';
export type { VolleyHandle } from './volley.js';
