import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_QUEUE_SIZE, boolParameter, parseModelConfig, platformOf, runtimeOf, selectVersions } from '../../src/registry/model-config.js';

const ROOT = join(import.meta.dirname, '..', '..');
const exampleModels = readdirSync(join(ROOT, 'models'), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);

function problem(name: string, source: unknown): { code?: string; message: string } {
  try {
    parseModelConfig(name, source);
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('expected parseModelConfig to throw');
}

describe('parseModelConfig: accepted', () => {
  it('finds the example models', () => {
    expect(exampleModels).toEqual(expect.arrayContaining(['mlp_classifier', 'two_inputs']));
  });

  it.each(exampleModels)('accepts models/%s/config.json', (name) => {
    const cfg = parseModelConfig(name, readFileSync(join(ROOT, 'models', name, 'config.json'), 'utf8'));
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(cfg.default_model_filename).toBe('model.onnx');
  });

  it('reads the mlp_classifier example exactly, with defaults filled in', () => {
    const cfg = parseModelConfig('mlp_classifier', readFileSync(join(ROOT, 'models', 'mlp_classifier', 'config.json'), 'utf8'));
    expect(cfg).toEqual({
      max_batch_size: 64,
      dynamic_batching: { preferred_batch_size: [16, 32, 64], max_queue_delay_microseconds: 500, max_queue_size: 1024 },
      instance_count: 1,
      version_policy: { latest: { num_versions: 1 } },
      default_model_filename: 'model.onnx',
      parameters: {},
      model_warmup: [],
      routing: {},
    });
  });

  it('fills every default for {} (and for an empty JSON null)', () => {
    const expected = { instance_count: 1, version_policy: { latest: { num_versions: 1 } }, default_model_filename: 'model.onnx', parameters: {}, model_warmup: [], routing: {} };
    expect(parseModelConfig('m', '{}')).toEqual(expected);
    expect(parseModelConfig('m', {})).toEqual(expected);
    expect(parseModelConfig('m', 'null')).toEqual(expected);
  });

  it('a TF.js model (platform tensorflowjs or backend tfjs, or both) is looked for as model.json', () => {
    for (const source of [{ platform: 'tensorflowjs' }, { backend: 'tfjs' }, { platform: 'tensorflowjs', backend: 'tfjs' }]) {
      const cfg = parseModelConfig('m', source);
      expect(runtimeOf(cfg)).toBe('tfjs');
      expect(cfg.default_model_filename).toBe('model.json');
      expect(platformOf(cfg)).toEqual({ platform: 'tensorflowjs', backend: 'tfjs' });
    }
    expect(parseModelConfig('m', { backend: 'tfjs', default_model_filename: 'graph.json' }).default_model_filename).toBe('graph.json');
    expect(runtimeOf(parseModelConfig('m', {}))).toBe('onnx');
    expect(platformOf(parseModelConfig('m', { backend: 'onnxruntime' }))).toEqual({ platform: 'onnxruntime_onnx', backend: 'onnxruntime' });
  });

  it('fills dynamic_batching defaults', () => {
    const cfg = parseModelConfig('m', { max_batch_size: 8, dynamic_batching: {} });
    expect(cfg.dynamic_batching).toEqual({ preferred_batch_size: [], max_queue_delay_microseconds: 0, max_queue_size: DEFAULT_MAX_QUEUE_SIZE });
  });

  it('accepts a name equal to the directory, overrides, version policies and thread parameters', () => {
    const cfg = parseModelConfig('m', {
      name: 'm',
      platform: 'onnxruntime_onnx',
      max_batch_size: 4,
      input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [-1, 3] }],
      version_policy: { specific: { versions: [1, 3] } },
      parameters: { intra_op_thread_count: { string_value: '2' } },
    });
    expect(cfg.input).toEqual([{ name: 'x', data_type: 'TYPE_FP32', dims: [-1, 3] }]);
    expect(cfg.version_policy).toEqual({ specific: { versions: [1, 3] } });
  });

  it("reads ONNX Runtime's memory switches as Triton does (true/1/on/yes, false/0/off/no); unset stays unset", () => {
    const read = (arena: string) => boolParameter(parseModelConfig('m', { parameters: { enable_mem_arena: { string_value: arena } } }), 'enable_mem_arena');
    expect(['true', '1', 'ON', ' yes'].map(read)).toEqual([true, true, true, true]);
    expect(['false', '0', 'Off', 'no'].map(read)).toEqual([false, false, false, false]);
    expect(boolParameter(parseModelConfig('m', {}), 'enable_mem_pattern')).toBeUndefined();
  });
});

describe('parseModelConfig: rejected with ERR_INVALID_CONFIG', () => {
  it.each([
    ['an unknown key', { max_batch_sise: 8 }, 'max_batch_sise'],
    ['an unknown nested key', { max_batch_size: 8, dynamic_batching: { max_delay: 5 } }, 'max_delay'],
    ['a wrong type', { max_batch_size: '8' }, 'max_batch_size'],
    ['a negative max_batch_size', { max_batch_size: -1 }, 'max_batch_size'],
    ['a fractional instance_count', { instance_count: 1.5 }, 'instance_count'],
    ['another platform', { platform: 'tensorflow_savedmodel' }, 'platform'],
    ['a path as the model file name', { default_model_filename: '../evil.onnx' }, 'default_model_filename'],
    ['a non-Triton data_type', { input: [{ name: 'x', data_type: 'FP32', dims: [1] }] }, 'input.0.data_type'],
    ['a dims below -1', { input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [-2] }] }, 'input.0.dims.0'],
    ['an empty specific version list', { version_policy: { specific: { versions: [] } } }, 'version_policy'],
    ['a preferred size above max_batch_size', { max_batch_size: 8, dynamic_batching: { preferred_batch_size: [4, 16] } }, 'dynamic_batching.preferred_batch_size.1'],
    ['dynamic_batching with max_batch_size 0', { max_batch_size: 0, dynamic_batching: {} }, 'dynamic_batching'],
    ['a thread count that is not a positive integer', { parameters: { intra_op_thread_count: { string_value: '0' } } }, 'parameters.intra_op_thread_count'],
    ['an arena switch that is not a boolean word', { parameters: { enable_mem_arena: { string_value: 'maybe' } } }, 'parameters.enable_mem_arena'],
    ['a memory-pattern switch that is not a boolean word', { parameters: { enable_mem_pattern: { string_value: '' } } }, 'parameters.enable_mem_pattern'],
    ['an event-loop switch that is not a boolean word', { parameters: { run_on_event_loop: { string_value: 'inline' } } }, 'parameters.run_on_event_loop'],
    ['a response_cache switch that is not a boolean', { response_cache: { enable: 'yes' } }, 'response_cache.enable'],
    ['two instances on the event loop', { instance_count: 2, parameters: { run_on_event_loop: { string_value: 'on' } } }, 'instance_count'],
    ['a top level that is not an object', [1, 2], '(root)'],
    ['an unknown backend', { backend: 'tensorflow' }, 'backend'],
    ['a TF.js platform with the ONNX Runtime backend', { platform: 'tensorflowjs', backend: 'onnxruntime' }, 'backend'],
    ['ONNX Runtime execution providers on a TF.js model', { backend: 'tfjs', execution_providers: ['cpu'] }, 'execution_providers'],
    ["ONNX Runtime's thread count on a TF.js model", { backend: 'tfjs', parameters: { intra_op_thread_count: { string_value: '2' } } }, 'parameters.intra_op_thread_count'],
    ['a TF.js model on the event loop', { backend: 'tfjs', parameters: { run_on_event_loop: { string_value: 'true' } } }, 'parameters.run_on_event_loop'],
    ["ONNX Runtime's arena switch on a TF.js model", { platform: 'tensorflowjs', parameters: { enable_mem_arena: { string_value: 'false' } } }, 'parameters.enable_mem_arena'],
  ])('rejects %s, naming the model and the path', (_what, source, path) => {
    const err = problem('my_model', source);
    expect(err.code).toBe('ERR_INVALID_CONFIG');
    expect(err.message).toContain("model 'my_model'");
    expect(err.message).toContain(path);
  });

  it('rejects a name that does not match the directory', () => {
    const err = problem('dir_name', { name: 'other' });
    expect(err.code).toBe('ERR_INVALID_CONFIG');
    expect(err.message).toContain("'other'");
  });

  it('rejects text that is not JSON', () => {
    const err = problem('m', '{"max_batch_size": 8,');
    expect(err.code).toBe('ERR_INVALID_CONFIG');
    expect(err.message).toMatch(/model 'm': config.json is not valid JSON/);
  });

  it('reports every problem in one message', () => {
    const err = problem('bad_config', readFileSync(join(ROOT, 'test', 'fixtures', 'models', 'bad_config', 'config.json'), 'utf8'));
    expect(err.code).toBe('ERR_INVALID_CONFIG');
    expect(err.message).toContain('max_batch_size');
    expect(err.message).toContain('unknown_key');
    const three = problem('m', { instance_count: 0, default_model_filename: '', extra: true });
    expect(three.message).toContain('instance_count');
    expect(three.message).toContain('default_model_filename');
    expect(three.message).toContain('extra');
  });

  it('reports every cross-field problem together', () => {
    const err = problem('m', { max_batch_size: 4, dynamic_batching: { preferred_batch_size: [8, 16] }, parameters: { intra_op_thread_count: { string_value: 'x' } } });
    expect(err.message).toContain('preferred_batch_size.0');
    expect(err.message).toContain('preferred_batch_size.1');
    expect(err.message).toContain('intra_op_thread_count');
  });

  // Regression: the name check once ran only after the schema passed, breaking "every problem at once".
  it('reports a name mismatch together with the schema problems', () => {
    const err = problem('dir_name', { name: 'other', extra_key: 1 });
    expect(err.message).toContain('extra_key');
    expect(err.message).toContain("'other'");
  });
});

describe('selectVersions', () => {
  it('latest picks the highest N present, ascending', () => {
    expect(selectVersions({ latest: { num_versions: 1 } }, [3, 1, 10, 2])).toEqual([10]);
    expect(selectVersions({ latest: { num_versions: 2 } }, [3, 1, 10, 2])).toEqual([3, 10]);
    expect(selectVersions({ latest: { num_versions: 5 } }, [2, 1])).toEqual([1, 2]);
    expect(selectVersions({ latest: { num_versions: 1 } }, [])).toEqual([]);
  });

  it('all picks every version present, ascending', () => {
    expect(selectVersions({ all: {} }, [3, 1, 2])).toEqual([1, 2, 3]);
  });

  it('specific picks only the listed versions that are present', () => {
    expect(selectVersions({ specific: { versions: [4, 1, 9] } }, [1, 2, 3, 4])).toEqual([1, 4]);
  });

  it('does not reorder the caller’s array', () => {
    const available = [3, 1, 2];
    selectVersions({ all: {} }, available);
    expect(available).toEqual([3, 1, 2]);
  });
});

describe('routing and model_warmup', () => {
  it('accepts a canary with a guard and a shadow, filling defaults', () => {
    const cfg = parseModelConfig('m', { routing: { default: 1, canary: { version: 2, percent: 5, guard: { max_error_rate: 0.01 } }, shadow: { version: 3, percent: 100 } } });
    expect(cfg.routing.canary?.guard).toEqual({ min_requests: 100, window_requests: 1000, max_error_rate: 0.01 });
    expect(cfg.routing.shadow).toEqual({ version: 3, percent: 100, max_inflight: 256, tolerance: 1e-4 });
  });

  it('rejects contradictory routing, every problem at once', () => {
    const bad = () => parseModelConfig('m', { routing: { default: 2, canary: { version: 2, percent: 150 }, shadow: { version: 2, percent: 10 } } });
    expect(bad).toThrow(/routing\.canary\.percent: .*100/);
    expect(bad).toThrow(/routing\.canary\.version: the canary cannot be the default version/);
    expect(bad).toThrow(/routing\.shadow\.version: the shadow cannot be the default version/);
    expect(() => parseModelConfig('m', { routing: { canary: { version: 2, percent: 1, guard: {} } } })).toThrow(/set at least one of max_error_rate/);
    expect(() => parseModelConfig('m', { routing: { canary: { version: 2, percent: 1 }, shadow: { version: 2, percent: 1 } } })).toThrow(/the shadow cannot also be the canary/);
    expect(() => parseModelConfig('m', { routing: { canary: { version: 2, percent: 1, guard: { window_requests: 50, max_error_rate: 0.1 } } } })).toThrow(/min_requests: min_requests must not exceed window_requests/);
  });

  it('accepts Triton-style warmups and rejects ones with both or neither data kind', () => {
    const cfg = parseModelConfig('m', { model_warmup: [{ batch_size: 4, inputs: { x: { data_type: 'TYPE_FP32', dims: [3], random_data: true } } }] });
    expect(cfg.model_warmup[0]).toMatchObject({ name: 'warmup', batch_size: 4, count: 1 });
    expect(() => parseModelConfig('m', { model_warmup: [{ inputs: { x: { data_type: 'TYPE_FP32', dims: [3] } } }] })).toThrow(/model_warmup\.0\.inputs\.x: set exactly one of zero_data or random_data/);
    expect(() => parseModelConfig('m', { model_warmup: [{ inputs: { x: { data_type: 'FP32', dims: [3], zero_data: true, random_data: true } } }] })).toThrow(/data_type.*zero_data/s);
  });
});
