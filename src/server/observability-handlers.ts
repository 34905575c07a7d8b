/**
 * Observability endpoints: `GET /metrics` (Prometheus text format, docs/metrics.md) and
 * `GET /v2/models/{m}[/versions/{v}]/monitoring` (the drift report, docs/monitoring.md).
 */
import type { Exchange } from './exchange.js';
import { lookupVersion } from './v2-handlers.js';
import type { ServerContext } from './v2-handlers.js';

const OK = '200 OK';

export async function metrics(ctx: ServerContext, ex: Exchange): Promise<void> {
  const text = await ctx.metrics.text();
  ex.send(OK, ctx.metrics.contentType, text);
}

/** The version named, else the one unversioned requests go to; `report` is null when monitoring is off. */
export function monitoring(ctx: ServerContext, ex: Exchange): void {
  const { model, chosen } = lookupVersion(ctx, ex);
  if (chosen === undefined) throw model.notReady(chosen);
  const feed = chosen.feed;
  const body = {
    name: chosen.model,
    version: String(chosen.version),
    state: chosen.state,
    sample_rate: feed?.rate ?? 0,
    dropped_samples: feed?.dropped ?? 0,
    report: feed?.monitor.report() ?? null,
  };
  ex.sendJson(OK, JSON.stringify(body));
}
