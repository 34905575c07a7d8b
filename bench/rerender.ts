// Rewrites bench/results/latest-core.{json,md} and the charts (SVG and PNG) from one saved run, e.g. after a
// partial run (--scenario ...) replaced them:  npx tsx bench/rerender.ts bench/results/core-<time>.json
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { renderCharts } from './lib/report-extra.js';
import { renderMarkdown, type Report, writeCharts } from './lib/report.js';

const file = process.argv[2];
if (file === undefined) throw new Error('usage: tsx bench/rerender.ts <bench/results/core-*.json>');
const report = JSON.parse(readFileSync(file, 'utf8')) as Report;
const dir = join(import.meta.dirname, 'results');
const write = (name: string, text: string): void => {
  writeFileSync(join(dir, `${name}.tmp`), text);
  renameSync(join(dir, `${name}.tmp`), join(dir, name));
};
write('latest-core.json', `${JSON.stringify(report, null, 2)}\n`);
write('latest-core.md', renderMarkdown(report));
const charts = writeCharts(dir, renderCharts(report)).map((f) => f.slice(dir.length + 1));
console.log(`latest-core.* and ${charts.join(', ')} from ${file}`);
