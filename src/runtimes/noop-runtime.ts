/**
 * Benchmark-only runtime: the server and batcher overhead without the model's compute. It loads
 * the model once with ONNX Runtime to read its signature (so routing, validation and batching see
 * exactly the real model), releases the session, and then answers every batch with zero-filled
 * outputs of the declared shapes. A dynamic dimension is the batch size in the first position
 * (the first input's first dimension) and 1 elsewhere. Selected with the hidden
 * `--bench-runtime noop` flag (or VOLLEY_BENCH_RUNTIME=noop); never meant for serving.
 */
import { OnnxRuntime } from './onnx/onnx-runtime.js';
import type { Runtime, RuntimeInfo, RuntimeOptions } from './runtime.js';
import { DATATYPES } from './tensor.js';
import type { WireTensor } from './tensor.js';

export class NoopRuntime implements Runtime {
  readonly info: RuntimeInfo;

  private constructor(info: RuntimeInfo) {
    this.info = info;
  }

  static async load(options: RuntimeOptions): Promise<NoopRuntime> {
    // One intra-op thread: describing the model needs no pool, and the pool would be idle memory.
    const onnx = await OnnxRuntime.load({ ...options, kind: 'onnx', intraOpThreads: 1 });
    const info = { ...onnx.info, provider: `noop (signature from ${onnx.info.provider})` };
    await onnx.close();
    return new NoopRuntime(info);
  }

  async run(inputs: WireTensor[]): Promise<WireTensor[]> {
    const batch = inputs[0]?.shape[0] ?? 1;
    return this.info.signature.outputs.map((spec) => {
      const shape = spec.shape.map((d, i) => (d >= 0 ? d : i === 0 ? batch : 1));
      const length = shape.reduce((a, b) => a * b, 1);
      const buffer = new ArrayBuffer(length * DATATYPES[spec.datatype].bytes);
      return { name: spec.name, datatype: spec.datatype, shape, buffer, byteOffset: 0, length };
    });
  }

  async close(): Promise<void> {}
}
