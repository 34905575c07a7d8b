import { describe, expect, it } from 'vitest';
import { resolveProviders, toOrtProvider } from '../../src/runtimes/execution-providers.js';
import { parseModelConfig } from '../../src/registry/model-config.js';

describe('resolveProviders', () => {
  it("uses the model's own list in its order, with device ids", () => {
    expect(resolveProviders(['cuda', 'cpu'], 'cpu', false)).toEqual([{ name: 'cuda' }, { name: 'cpu' }]);
    expect(resolveProviders([{ name: 'cuda', device_id: 1 }], 'auto', true)).toEqual([{ name: 'cuda', deviceId: 1 }]);
  });

  it('falls back on --device when the model names none', () => {
    expect(resolveProviders(undefined, 'cpu', true)).toEqual([{ name: 'cpu' }]);
    expect(resolveProviders(undefined, 'cuda', false)).toEqual([{ name: 'cuda' }, { name: 'cpu' }]);
    expect(resolveProviders(undefined, 'webgpu', false)).toEqual([{ name: 'webgpu' }, { name: 'cpu' }]);
  });

  it('auto tries CUDA only when its provider library is installed', () => {
    expect(resolveProviders(undefined, 'auto', false)).toEqual([{ name: 'cpu' }]);
    expect(resolveProviders(undefined, 'auto', true)).toEqual([{ name: 'cuda' }, { name: 'cpu' }]);
  });

  it('builds what onnxruntime-node expects', () => {
    expect(toOrtProvider({ name: 'cpu' })).toBe('cpu');
    expect(toOrtProvider({ name: 'cuda', deviceId: 2 })).toEqual({ name: 'cuda', deviceId: 2 });
  });
});

describe('execution_providers in config.json', () => {
  it('accepts names and {name, device_id}', () => {
    const cfg = parseModelConfig('m', { execution_providers: ['cuda', { name: 'cpu' }, { name: 'cuda', device_id: 1 }] });
    expect(cfg.execution_providers).toHaveLength(3);
  });

  it('rejects unknown providers, options the binding would ignore, and an empty list', () => {
    expect(() => parseModelConfig('m', { execution_providers: ['tpu'] })).toThrow(/execution_providers\.0/);
    expect(() => parseModelConfig('m', { execution_providers: [{ name: 'cuda', gpu_mem_limit: 1 }] })).toThrow(/execution_providers/);
    expect(() => parseModelConfig('m', { execution_providers: [] })).toThrow(/execution_providers/);
  });
});
