#!/usr/bin/env node
// Opt-in: installs ONNX Runtime's CUDA execution provider next to onnxruntime-node's native library,
// so that `volley serve --device cuda` (or `auto`) runs models on an NVIDIA GPU. 179 MB download
// from the npm registry; never part of `npm ci` or CI.
//
//   npm run setup:cuda            install, then report what the machine still lacks
//   npm run setup:cuda -- --remove
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

// Built for ORT 1.29.0 and CUDA 13: the two must match onnxruntime-node exactly.
const PROVIDER_PACKAGE = 'com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9';
const ORT_VERSION = '1.29.0';
const LIBS = ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so'];

const require = createRequire(import.meta.url);
const ortDir = dirname(require.resolve('onnxruntime-node/package.json'));
const binDir = join(ortDir, 'bin', 'napi-v6', process.platform, process.arch);

function fail(message) {
  process.stderr.write(`setup:cuda: ${message}\n`);
  process.exit(1);
}

if (process.platform !== 'linux' || process.arch !== 'x64') fail(`the CUDA provider package is for linux-x64; this is ${process.platform}-${process.arch}`);
const ortVersion = require('onnxruntime-node/package.json').version;
if (ortVersion !== ORT_VERSION) fail(`onnxruntime-node is ${ortVersion}; the CUDA provider matches ${ORT_VERSION} only (package.json pins it)`);

if (process.argv.includes('--remove')) {
  for (const lib of LIBS) rmSync(join(binDir, lib), { force: true });
  console.log(`setup:cuda: removed the CUDA provider from ${binDir}`);
  process.exit(0);
}

const tmp = mkdtempSync(join(tmpdir(), 'volley-cuda-'));
try {
  console.log(`setup:cuda: fetching ${PROVIDER_PACKAGE} from the npm registry (179 MB) ...`);
  execFileSync('npm', ['pack', PROVIDER_PACKAGE, '--pack-destination', tmp, '--silent'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const tarball = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
  if (tarball === undefined) fail('npm pack produced no tarball');
  execFileSync('tar', ['xzf', join(tmp, tarball), '-C', tmp]);
  const src = join(tmp, 'package', 'Plugins', 'Linux', 'x64');
  for (const lib of LIBS) {
    if (!existsSync(join(src, lib))) fail(`${lib} is missing from ${PROVIDER_PACKAGE}`);
    copyFileSync(join(src, lib), join(binDir, lib));
  }
  console.log(`setup:cuda: installed ${LIBS.join(', ')} into ${binDir}`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

// What the provider still needs from the machine: ldd lists each library it cannot find.
let missing = [];
try {
  const ldd = execFileSync('ldd', [join(binDir, LIBS[0])], { encoding: 'utf8' });
  missing = ldd.split('\n').filter((l) => l.includes('not found')).map((l) => l.trim().split(' ')[0]);
} catch {
  missing = ['(ldd failed: check the libraries by hand)'];
}
if (missing.length === 0) {
  console.log('setup:cuda: every library the provider needs was found. Start with: node --initial-old-space-size=64 --max-semi-space-size=32 bin/volley.js serve --device cuda --model-repository <dir>');
} else {
  console.log(`setup:cuda: the provider is installed, but this machine lacks: ${missing.join(', ')}`);
  console.log('  It needs the CUDA 13 runtime (libcudart, libcublas, libcublasLt, libcufft, libcurand) and cuDNN 9 (libcudnn.so.9)');
  console.log('  on the library path, e.g. LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH, and an NVIDIA driver for CUDA 13.');
  console.log('  Until then Volley falls back to CPU with a warning (or fails models that list only "cuda").');
}
