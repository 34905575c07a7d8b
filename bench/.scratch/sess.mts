import * as ort from 'onnxruntime-node';
import { buildMlpSmall } from '../lib/mlp-small.ts';
import fs from 'node:fs';
const n = Number(process.argv[2] ?? 20);
const opts: any = JSON.parse(process.argv[3] ?? '{}');
const bytes = buildMlpSmall();
function rss() { const s = fs.readFileSync('/proc/self/status', 'utf8'); return Number(/VmRSS:\s+(\d+)/.exec(s)![1]) / 1024; }
const sessions: ort.InferenceSession[] = [];
const input = new ort.Tensor('float32', new Float32Array(256 * 64), [64, 256]);
async function add() {
  const s = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all', intraOpNumThreads: 2, ...opts });
  for (let i = 0; i < 5; i++) await s.run({ [s.inputNames[0]]: input });
  sessions.push(s);
}
await add(); global.gc?.(); const r1 = rss();
for (let i = 1; i < n; i++) await add();
global.gc?.(); const rn = rss();
console.log(JSON.stringify(opts), 'rss1', r1.toFixed(1), 'rssN', rn.toFixed(1), 'per extra', ((rn - r1) / (n - 1)).toFixed(2));
