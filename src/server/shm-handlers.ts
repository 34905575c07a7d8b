/**
 * Triton's system shared-memory extension endpoints (shared-memory.ts): register, status and
 * unregister regions. Off unless the server runs with --allow-client-shm (Triton's flag, off by
 * default there too since 26.04): a client could otherwise have the server read and write any
 * shared-memory object its user may open. CUDA shared memory is not offered (no CUDA IPC from Node).
 */
import { VolleyError } from '../errors.js';
import type { Exchange } from './exchange.js';
import { parseJson } from './json-codec.js';
import type { SharedMemory } from './shared-memory.js';
import type { ServerContext } from './v2-handlers.js';

const OK = '200 OK';

/** The server's shared memory, or a 400 saying how to turn it on (HTTP and gRPC). */
export function shmOf(ctx: ServerContext): SharedMemory {
  if (ctx.shm === null) throw new VolleyError('ERR_INVALID_REQUEST', 'client shared memory is off: start Volley with --allow-client-shm (as Triton, it is off by default)');
  return ctx.shm;
}

/** GET /v2/systemsharedmemory[/region/{r}]/status */
export function status(ctx: ServerContext, ex: Exchange): void {
  ex.sendJson(OK, JSON.stringify(shmOf(ctx).status(ex.params.length > 0 ? ex.param(0) : undefined)));
}

/** POST /v2/systemsharedmemory/region/{r}/register, body {"key", "offset", "byte_size"} */
export async function register(ctx: ServerContext, ex: Exchange): Promise<void> {
  const shm = shmOf(ctx);
  shm.register(ex.param(0), parseJson(await ex.readBody(64 * 1024)));
  ex.sendJson(OK, '{}');
}

/** POST /v2/systemsharedmemory[/region/{r}]/unregister */
export function unregister(ctx: ServerContext, ex: Exchange): void {
  shmOf(ctx).unregister(ex.params.length > 0 ? ex.param(0) : undefined);
  ex.sendJson(OK, '{}');
}

/** /v2/cudasharedmemory/…: not offered. */
export function cuda(_ctx: ServerContext, _ex: Exchange): void {
  throw new VolleyError('ERR_INVALID_REQUEST', 'CUDA shared memory is not supported (Volley offers system shared memory, /v2/systemsharedmemory, with --allow-client-shm)');
}
