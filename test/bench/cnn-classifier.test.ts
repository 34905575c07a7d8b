// The bench's convolutional model (bench/lib/cnn-classifier.ts, built with scripts/onnx/cnn.ts):
// the bytes onnxruntime-node loads, the output it gives, and the size the bench reports.
import ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { buildCnn, CNN_IMAGE, CNN_SIZE, cnnImage } from '../../bench/lib/cnn-classifier.js';
import { cnnClassifier, cnnShapes, type CnnSpec } from '../../scripts/onnx/cnn.js';
import { lcg } from '../../scripts/onnx/mlp.js';

const rows = (data: Float32Array, width: number) => Array.from({ length: data.length / width }, (_, i) => Array.from(data.subarray(i * width, (i + 1) * width)));

describe('cnn_classifier', () => {
  it('loads in onnxruntime-node and answers [batch, 10] probabilities for [batch, 3, 64, 64]', async () => {
    const session = await ort.InferenceSession.create(buildCnn(), { intraOpNumThreads: 1 });
    try {
      expect(session.inputNames).toEqual(['input']);
      expect(session.outputNames).toEqual(['probabilities']);
      const image = cnnImage();
      expect(image).toHaveLength(3 * 64 * 64);
      const batch = Float32Array.from([...image, ...image.map((v) => -v)]);
      const out = (await session.run({ input: new ort.Tensor('float32', batch, [2, ...CNN_IMAGE]) })).probabilities;
      expect(out.dims).toEqual([2, 10]);
      for (const row of rows(out.data as Float32Array, 10)) {
        expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
        // Neither saturated nor flat on the bench image.
        expect(Math.max(...row)).toBeLessThan(0.9);
        expect(Math.max(...row) - Math.min(...row)).toBeGreaterThan(0.05);
      }
    } finally {
      await session.release();
    }
  });

  it('is the size the bench reports, and the same bytes every time', () => {
    expect(CNN_SIZE.convs).toBe(11);
    expect(Math.round(CNN_SIZE.macs / 1e6)).toBe(343);
    expect(CNN_SIZE.params).toBe(528_234);
    expect(Buffer.from(buildCnn()).equals(Buffer.from(buildCnn()))).toBe(true);
  });
});

describe('cnnClassifier', () => {
  it('builds strided convolutions and pools whose shapes match cnnShapes', async () => {
    const spec: CnnSpec = {
      name: 'tiny_cnn',
      input: [1, 9, 9],
      layers: [{ conv: 4, stride: 2 }, 'maxpool', { conv: 3 }],
      classes: 2,
      rand: lcg(1),
      weightScale: (fanIn) => Math.sqrt(6 / fanIn),
      biasScale: 0.1,
    };
    // 9×9 → stride-2 conv (pad 1) → 5×5 → pool → 2×2 → conv → 2×2 × 3 channels
    expect(cnnShapes(spec).shapes).toEqual([
      [4, 5, 5],
      [4, 2, 2],
      [3, 2, 2],
    ]);
    expect(cnnShapes(spec).macs).toBe(5 * 5 * 4 * 9 + 2 * 2 * 3 * 4 * 9 + 3 * 2);
    const session = await ort.InferenceSession.create(cnnClassifier(spec));
    try {
      const out = (await session.run({ input: new ort.Tensor('float32', new Float32Array(81).fill(0.5), [1, 1, 9, 9]) })).probabilities;
      expect(out.dims).toEqual([1, 2]);
    } finally {
      await session.release();
    }
  });
});
