import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../src/errors.js';
import { toHttpStatus } from '../src/server/http-status.js';
import { ServerConfigSchema, envName } from '../src/config.js';

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
});
