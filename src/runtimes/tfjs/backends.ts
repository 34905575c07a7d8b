/**
 * `--tfjs-backend`: where TF.js models run. tensorflow = tfjs-node's native TensorFlow (only when
 * `@tensorflow/tfjs-node` is installed), wasm = WebAssembly with XNNPACK kernels, cpu = plain
 * JavaScript; auto = the first of those that starts.
 */
export const TFJS_BACKENDS = ['auto', 'tensorflow', 'wasm', 'cpu'] as const;
export type TfjsBackend = (typeof TFJS_BACKENDS)[number];
