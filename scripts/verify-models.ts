// Sanity-checks the models written by make-models.ts against the real
// onnxruntime-node build the server uses, so a builder bug (wrong field
// number, bad raw_data layout, unsupported type) shows up here rather than as
// a confusing server/integration-test failure.
//
// Run: npx tsx scripts/verify-models.ts   (exits non-zero on any failure)
import ort from 'onnxruntime-node';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const EXAMPLES = join(REPO_ROOT, 'models');
const FIXTURES = join(REPO_ROOT, 'test', 'fixtures', 'models');

let failures = 0;
function check(cond: boolean, what: string): void {
  console.log(`  ${cond ? 'ok  ' : 'FAIL'} ${what}`);
  if (!cond) failures++;
}

const modelPath = (repo: string, name: string) => join(repo, name, '1', 'model.onnx');

async function load(repo: string, name: string, opts: ort.InferenceSession.SessionOptions = {}): Promise<ort.InferenceSession> {
  const path = modelPath(repo, name);
  console.log(`\n== ${path.slice(REPO_ROOT.length + 1)} (${statSync(path).size} bytes)`);
  const session = await ort.InferenceSession.create(path, opts);
  const fmt = (m: readonly ort.InferenceSession.ValueMetadata[]) =>
    m.map((v) => (v.isTensor ? `${v.name}: ${v.type} [${v.shape.join(', ')}]` : v.name)).join('; ');
  console.log(`  inputs:  ${fmt(session.inputMetadata)}`);
  console.log(`  outputs: ${fmt(session.outputMetadata)}`);
  return session;
}

const show = (t: ort.Tensor) => `${t.type} [${t.dims.join(',')}] ${t.data.constructor.name} ${Array.from(t.data as ArrayLike<unknown>).join(',')}`;

async function verifyMlp(repo: string): Promise<void> {
  const s = await load(repo, 'mlp_classifier');
  // Spread of inputs so we can see that the seeded weights separate classes.
  const rows = [
    [0, 0, 0, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1],
    [1, 1, 1, 1], [-1, -1, -1, -1], [2, -1, 0.5, 3], [-2, 1, -0.5, -3], [5, 0, -5, 0],
  ];
  const out = await s.run({ input: new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, 4]) });
  const p = out.probabilities;
  check(p.type === 'float32' && p.dims.join() === `${rows.length},3`, `probabilities is float32 [${p.dims}]`);
  const data = p.data as Float32Array;
  const classes = new Set<number>();
  let sumsOk = true;
  for (let r = 0; r < rows.length; r++) {
    const row = Array.from(data.subarray(r * 3, r * 3 + 3));
    const argmax = row.indexOf(Math.max(...row));
    classes.add(argmax);
    sumsOk &&= Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-5;
    console.log(`  [${rows[r].join(', ')}] -> [${row.map((x) => x.toFixed(4)).join(', ')}] class ${argmax}`);
  }
  check(sumsOk, 'every row sums to 1');
  check(classes.size === 3, `inputs reach all 3 classes (${[...classes].sort().join(',')})`);
  // Largest batch the config allows must also work.
  const big = await s.run({ input: new ort.Tensor('float32', new Float32Array(64 * 4).fill(0.5), [64, 4]) });
  check(big.probabilities.dims.join() === '64,3', 'batch of 64 runs');
}

async function verifyTwoInputs(repo: string, name = 'two_inputs'): Promise<void> {
  const s = await load(repo, name);
  const a = Float32Array.from([0.5, 1.5, -2, 3, 10, 20, 30, 40]);
  const b = Int32Array.from([1, 2, 3, -4, 100, -200, 0, 2 ** 30]);
  const out = await s.run({ a: new ort.Tensor('float32', a, [2, 4]), b: new ort.Tensor('int32', b, [2, 4]) });
  console.log(`  sum       = ${show(out.sum)}`);
  console.log(`  b_doubled = ${show(out.b_doubled)}`);
  check(out.sum.type === 'float32' && Array.from(out.sum.data as Float32Array).every((v, i) => v === Math.fround(a[i] + b[i])), 'sum = a + float(b)');
  // 2**30 + 2**30 overflows int32 and wraps, as ORT's Add does.
  check(out.b_doubled.type === 'int32' && Array.from(out.b_doubled.data as Int32Array).every((v, i) => v === ((b[i] * 2) | 0)), 'b_doubled = b + b (int32, wrapping)');
}

async function verifyIdentityAll(): Promise<void> {
  const s = await load(FIXTURES, 'identity_all');
  // Edge values per type; FP16 is raw half bits (1.0, -2.0, +0, +inf, NaN...).
  const cases: Record<string, [ort.Tensor.Type, ort.Tensor['data']]> = {
    bool: ['bool', Uint8Array.from([1, 0, 0, 1])],
    uint8: ['uint8', Uint8Array.from([0, 1, 128, 255])],
    uint16: ['uint16', Uint16Array.from([0, 1, 32768, 65535])],
    uint32: ['uint32', Uint32Array.from([0, 1, 2 ** 31, 2 ** 32 - 1])],
    uint64: ['uint64', BigUint64Array.from([0n, 1n, 2n ** 63n, 2n ** 64n - 1n])],
    int8: ['int8', Int8Array.from([-128, -1, 0, 127])],
    int16: ['int16', Int16Array.from([-32768, -1, 0, 32767])],
    int32: ['int32', Int32Array.from([-(2 ** 31), -1, 0, 2 ** 31 - 1])],
    int64: ['int64', BigInt64Array.from([-(2n ** 63n), -1n, 0n, 2n ** 63n - 1n])],
    fp16: ['float16', Uint16Array.from([0x3c00, 0xc000, 0x0000, 0x7c00])],
    fp32: ['float32', Float32Array.from([1.5, -0, Infinity, 3.4e38])],
    fp64: ['float64', Float64Array.from([Math.PI, -1e300, Number.MIN_VALUE, -Infinity])],
  };
  const feeds: Record<string, ort.Tensor> = {};
  for (const [t, [type, data]] of Object.entries(cases)) feeds[`in_${t}`] = new ort.Tensor(type, data, [2, 2]);
  const out = await s.run(feeds);
  for (const [t, [type, data]] of Object.entries(cases)) {
    const o = out[`out_${t}`];
    const same = o.type === type && o.dims.join() === '2,2' && o.data.constructor === data.constructor &&
      Array.from(o.data as ArrayLike<number | bigint>).every((v, i) => Object.is(v, (data as ArrayLike<number | bigint>)[i]));
    check(same, `out_${t} = ${show(o)}`);
  }
}

async function verifyNoBatch(): Promise<void> {
  const s = await load(FIXTURES, 'no_batch');
  const x = Float32Array.from([1, 2, 3, -4, 0.5, 0]);
  const out = await s.run({ x: new ort.Tensor('float32', x, [2, 3]) });
  console.log(`  y = ${show(out.y)}`);
  check(Array.from(out.y.data as Float32Array).every((v, i) => v === x[i] * 2), 'y = 2x');
  await expectThrow(() => s.run({ x: new ort.Tensor('float32', x.subarray(0, 3), [1, 3]) }), 'a [1,3] input is rejected (static shape)');
}

async function verifyReshapeFail(): Promise<void> {
  // ORT logs every failed kernel to stderr at ERROR level by default; 3 (error)
  // would still print, so raise to 4 (fatal) to keep the expected failure quiet.
  const s = await load(FIXTURES, 'reshape_fail', { logSeverityLevel: 4 });
  await expectThrow(() => s.run({ x: new ort.Tensor('float32', new Float32Array(4), [1, 4]) }), '[1,4] input fails at run time');
  const out = await s.run({ x: new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [1, 6]) });
  console.log(`  y = ${show(out.y)}`);
  check(out.y.dims.join() === '2,3', '[1,6] input reshapes to [2,3]');
  // The session must stay usable after a failed run (the server reuses it).
  const again = await s.run({ x: new ort.Tensor('float32', new Float32Array(3), [3, 1]) });
  check(again.y.dims.join() === '1,3', 'session still works after the failure');
}

async function expectThrow(fn: () => Promise<unknown>, what: string): Promise<void> {
  try {
    await fn();
    check(false, `${what} (no error thrown)`);
  } catch (e) {
    check(true, `${what}: ${(e as Error).message.split('\n')[0]}`);
  }
}

function verifyConfigs(): void {
  console.log('\n== config.json files');
  const expect: [string, string, unknown][] = [
    [EXAMPLES, 'mlp_classifier', 64], [EXAMPLES, 'two_inputs', 32],
    [FIXTURES, 'mlp_classifier', 64], [FIXTURES, 'two_inputs', 32],
    [FIXTURES, 'identity_all', 8], [FIXTURES, 'no_batch', 0], [FIXTURES, 'reshape_fail', 0],
    [FIXTURES, 'broken', 4], [FIXTURES, 'bad_config', 'lots'],
  ];
  for (const [repo, name, mbs] of expect) {
    const cfg = JSON.parse(readFileSync(join(repo, name, 'config.json'), 'utf8'));
    check(cfg.max_batch_size === mbs, `${repo.slice(REPO_ROOT.length + 1)}/${name} max_batch_size = ${JSON.stringify(mbs)}`);
  }
}

async function main(): Promise<void> {
  verifyConfigs();
  for (const repo of [EXAMPLES, FIXTURES]) {
    await verifyMlp(repo);
    await verifyTwoInputs(repo);
  }
  await verifyTwoInputs(FIXTURES, 'bad_config');
  await verifyIdentityAll();
  await verifyNoBatch();
  await verifyReshapeFail();
  console.log(`\n== ${modelPath(FIXTURES, 'broken').slice(REPO_ROOT.length + 1)}`);
  await expectThrow(() => ort.InferenceSession.create(modelPath(FIXTURES, 'broken')), 'broken model fails to load');

  console.log(failures ? `\n${failures} check(s) FAILED` : '\nall checks passed');
  process.exitCode = failures ? 1 : 0;
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
