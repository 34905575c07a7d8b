import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../src/errors.js';
import { toHttpStatus } from '../src/server/http-status.js';
import { ServerConfigSchema, envName } from '../src/config.js';
import { ServerMetrics, StatsBook } from '../src/metrics/index.js';
import { ModelRegistry } from '../src/registry/registry.js';

const read = (path: string): string => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

describe('docs/errors.md', () => {
  const rows = new Map(
    read('docs/errors.md')
      .split('\n')
      .filter((l) => l.startsWith('| `ERR_'))
      .map((l) => l.split('|').map((c) => c.trim()))
      .map((cells) => [cells[1].replaceAll('`', ''), { category: cells[2], http: cells[3] }]),
  );

  it('lists every error code with its category and status, and nothing else', () => {
    expect([...rows.keys()].sort()).toEqual(Object.keys(ERROR_CODES).sort());
    for (const [code, category] of Object.entries(ERROR_CODES)) {
      const row = rows.get(code);
      expect(row?.category, code).toBe(category);
      if (row?.http !== '(load)') expect(toHttpStatus(category).slice(0, 3), code).toBe(row?.http);
    }
  });
});

describe('docs/config.md', () => {
  it('documents every server setting with its environment variable', () => {
    const doc = read('docs/config.md');
    for (const key of Object.keys(ServerConfigSchema.shape)) expect(doc, key).toContain(envName(key));
  });

  it('has a command-line flag for every server setting', () => {
    const cli = read('src/cli.ts');
    for (const key of Object.keys(ServerConfigSchema.shape)) expect(cli, key).toMatch(new RegExp(`'--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}[ ']`));
  });
});

describe('docs/metrics.md', () => {
  it('has a row for every volley_ metric the server registers, with its type, and nothing else', () => {
    const rows = new Map(
      read('docs/metrics.md')
        .split('\n')
        .filter((l) => l.startsWith('| `volley_'))
        .map((l) => l.split('|').map((c) => c.trim()))
        .map((cells) => [cells[1].replaceAll('`', ''), cells[2]]),
    );
    const registry = new ModelRegistry('.', { cpuThreads: 1, device: 'cpu', logger: pino({ level: 'silent' }), mode: 'none', startupModels: [] });
    const metrics = new ServerMetrics(new StatsBook(), registry).registry.getMetricsAsArray().filter((m) => m.name.startsWith('volley_'));
    expect([...rows.keys()].sort()).toEqual(metrics.map((m) => m.name).sort());
    for (const m of metrics) expect(rows.get(m.name), m.name).toBe((m as unknown as { type: string }).type);
  });
});

describe('deploy/grafana/volley-dashboard.json', () => {
  it('queries only metrics the server exports', () => {
    const registry = new ModelRegistry('.', { cpuThreads: 1, device: 'cpu', logger: pino({ level: 'silent' }), mode: 'none', startupModels: [] });
    const exported = new Set(new ServerMetrics(new StatsBook(), registry).registry.getMetricsAsArray().map((m) => m.name));
    const dashboard = JSON.parse(read('deploy/grafana/volley-dashboard.json')) as { panels: { targets?: { expr: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr);
    expect(exprs.length).toBeGreaterThan(20);
    for (const expr of exprs) {
      for (const [name] of expr.matchAll(/\b(volley|nodejs|process)_[a-z0-9_]+/g)) expect(exported.has(name.replace(/_(bucket|sum|count)$/, '')), `${name} in ${expr}`).toBe(true);
    }
  });
});

describe('Node flags', () => {
  it('npm start, the Docker image, the bench and the README start Volley with the same V8 flags', async () => {
    const { VOLLEY_NODE_FLAGS } = await import('../bench/lib/servers.js');
    expect(VOLLEY_NODE_FLAGS.length).toBeGreaterThan(0);
    const flags = VOLLEY_NODE_FLAGS.join(' ');
    expect(JSON.parse(read('package.json')).scripts.start).toContain(`node ${flags} bin/volley.js`);
    expect(read('Dockerfile')).toContain(`ENTRYPOINT ["node", ${VOLLEY_NODE_FLAGS.map((f) => JSON.stringify(f)).join(', ')}, "bin/volley.js", "serve"]`);
    expect(read('README.md')).toContain(`node ${flags} bin/volley.js`);
  });
});
