import { NoopRuntime } from './noop-runtime.js';
import { OnnxRuntime } from './onnx/onnx-runtime.js';
import type { Runtime, RuntimeOptions } from './runtime.js';

/** Loads a runtime of `opts.kind`, on the calling thread (a worker thread, or the event loop's). */
export function createRuntime(opts: RuntimeOptions): Promise<Runtime> {
  switch (opts.kind) {
    case 'onnx':
      return OnnxRuntime.load(opts);
    case 'noop':
      return NoopRuntime.load(opts);
    case 'tfjs':
      // Imported on first use: a server with no TF.js model never loads TF.js.
      return import('./tfjs/tfjs-runtime.js').then(({ TfjsRuntime }) => TfjsRuntime.load(opts));
  }
}
