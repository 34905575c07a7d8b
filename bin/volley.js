#!/usr/bin/env node
// Runs the built code in dist/ (built by `npm ci` through the prepare script, or `npm run build`).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write("volley: dist/ is missing; run 'npm run build' (npm ci does it for you)\n");
  process.exit(1);
}
const { main } = await import(entry.href);
await main(process.argv);
