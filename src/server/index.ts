export { Exchange } from './exchange.js';
export { HttpServer } from './http-server.js';
export { toHttpStatus } from './http-status.js';
export { decodeInferRequest, encodeInferResponse } from './json-codec.js';
export type { InferPayload } from './json-codec.js';
export { EXTENSIONS, SERVER_NAME, SERVER_VERSION } from './v2-handlers.js';
export type { ServerContext } from './v2-handlers.js';
