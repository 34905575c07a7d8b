import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError, envName, fromTritonFlags, loadServerConfig } from '../src/config.js';

function problemsOf(flags: Record<string, unknown>, env: Record<string, string> = {}): string[] {
  try {
    loadServerConfig(flags, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected loadServerConfig to throw');
}

describe('loadServerConfig', () => {
  it('fills every default', () => {
    expect(loadServerConfig({ modelRepository: 'models' }, {})).toEqual({
      modelRepository: 'models',
      host: '0.0.0.0',
      httpPort: 8000,
      maxBodyBytes: 64 * 1024 * 1024,
      wsMaxBufferedBytes: 64 * 1024 * 1024,
      strictReadiness: false,
      allowClientShm: false,
      device: 'auto',
      logLevel: 'info',
      cpuThreads: availableParallelism(),
      drainTimeoutMs: 30_000,
      modelControlMode: 'none',
      repositoryPollSecs: 15,
      loadModel: [],
      monitoringSampleRate: 0.01,
      monitoringReferenceRows: 1000,
      monitoringWindowRows: 1000,
      monitoringMaxFeatures: 64,
      responseCacheBytes: 0,
      tfjsBackend: 'auto',
    });
    expect(loadServerConfig({ modelRepository: 'models' }, {})).not.toHaveProperty('metricsPort');
  });

  it('takes --load-model as a repeatable, comma-separated list, only in explicit mode', () => {
    expect(loadServerConfig({ modelRepository: 'm', modelControlMode: 'explicit', loadModel: ['a,b', 'c'] }, {}).loadModel).toEqual(['a', 'b', 'c']);
    expect(problemsOf({ modelRepository: 'm', loadModel: ['a'] })).toEqual([expect.stringMatching(/^loadModel .*only applies with --model-control-mode explicit/)]);
    expect(problemsOf({ modelRepository: 'm', modelControlMode: 'sometimes' })[0]).toMatch(/modelControlMode/);
  });

  it('rejects an unknown device', () => {
    expect(() => loadServerConfig({ modelRepository: 'm', device: 'tpu' }, {})).toThrow(/device/);
  });

  it('names environment variables VOLLEY_ + SCREAMING_SNAKE of the key', () => {
    expect(envName('httpPort')).toBe('VOLLEY_HTTP_PORT');
    expect(envName('modelRepository')).toBe('VOLLEY_MODEL_REPOSITORY');
    expect(envName('drainTimeoutMs')).toBe('VOLLEY_DRAIN_TIMEOUT_MS');
  });

  it('reads every setting from VOLLEY_* variables, converting numbers and booleans', () => {
    const cfg = loadServerConfig(
      {},
      {
        VOLLEY_MODEL_REPOSITORY: '/srv/models',
        VOLLEY_HOST: '127.0.0.1',
        VOLLEY_HTTP_PORT: '9000',
        VOLLEY_MAX_BODY_BYTES: '2048',
        VOLLEY_WS_MAX_BUFFERED_BYTES: '4096',
        VOLLEY_STRICT_READINESS: 'true',
        VOLLEY_ALLOW_CLIENT_SHM: 'true',
        VOLLEY_DEVICE: 'cuda',
        VOLLEY_LOG_LEVEL: 'debug',
        VOLLEY_CPU_THREADS: '3',
        VOLLEY_DRAIN_TIMEOUT_MS: '0',
        VOLLEY_MODEL_CONTROL_MODE: 'explicit',
        VOLLEY_REPOSITORY_POLL_SECS: '0.5',
        VOLLEY_LOAD_MODEL: 'a, b',
        VOLLEY_METRICS_PORT: '9100',
        VOLLEY_MONITORING_SAMPLE_RATE: '0.5',
        VOLLEY_MONITORING_REFERENCE_ROWS: '200',
        VOLLEY_MONITORING_WINDOW_ROWS: '300',
        VOLLEY_MONITORING_MAX_FEATURES: '8',
        VOLLEY_RESPONSE_CACHE_BYTES: '1048576',
        VOLLEY_TFJS_BACKEND: 'cpu',
      },
    );
    expect(cfg).toEqual({
      modelRepository: '/srv/models',
      host: '127.0.0.1',
      httpPort: 9000,
      maxBodyBytes: 2048,
      wsMaxBufferedBytes: 4096,
      strictReadiness: true,
      allowClientShm: true,
      device: 'cuda',
      logLevel: 'debug',
      cpuThreads: 3,
      drainTimeoutMs: 0,
      modelControlMode: 'explicit',
      repositoryPollSecs: 0.5,
      loadModel: ['a', 'b'],
      metricsPort: 9100,
      monitoringSampleRate: 0.5,
      monitoringReferenceRows: 200,
      monitoringWindowRows: 300,
      monitoringMaxFeatures: 8,
      responseCacheBytes: 1048576,
      tfjsBackend: 'cpu',
    });
  });

  it('checks the observability settings: sample rate in [0, 1], a metrics port unlike the HTTP port', () => {
    expect(loadServerConfig({ modelRepository: 'm', monitoringSampleRate: '0' }, {}).monitoringSampleRate).toBe(0);
    expect(problemsOf({ modelRepository: 'm', monitoringSampleRate: '1.5' })[0]).toMatch(/^monitoringSampleRate \(--monitoring-sample-rate \/ VOLLEY_MONITORING_SAMPLE_RATE\)/);
    expect(problemsOf({ modelRepository: 'm', monitoringWindowRows: '0', monitoringMaxFeatures: '5000' })).toHaveLength(2);
    expect(problemsOf({ modelRepository: 'm', httpPort: '9000', metricsPort: '9000' })[0]).toMatch(/^metricsPort .*is the HTTP port \(9000\)/);
    expect(loadServerConfig({ modelRepository: 'm', httpPort: '0', metricsPort: '0' }, {}).metricsPort).toBe(0);
  });

  it.each([
    ['1', true],
    ['yes', true],
    ['ON', true],
    ['True', true],
    ['0', false],
    ['no', false],
    ['off', false],
    ['FALSE', false],
  ])('reads boolean %s as %s', (text, value) => {
    expect(loadServerConfig({ modelRepository: 'm' }, { VOLLEY_STRICT_READINESS: text }).strictReadiness).toBe(value);
  });

  it('ignores empty environment variables and unrelated ones', () => {
    const cfg = loadServerConfig({ modelRepository: 'm' }, { VOLLEY_HTTP_PORT: '', PORT: '1', HTTP_PORT: '2' });
    expect(cfg.httpPort).toBe(8000);
  });

  it('lets flags win over the environment, as text or typed values', () => {
    const env = { VOLLEY_MODEL_REPOSITORY: 'from-env', VOLLEY_HTTP_PORT: '9000', VOLLEY_STRICT_READINESS: 'true' };
    const fromText = loadServerConfig({ modelRepository: 'from-flag', httpPort: '7000', strictReadiness: 'false' }, env);
    expect([fromText.modelRepository, fromText.httpPort, fromText.strictReadiness]).toEqual(['from-flag', 7000, false]);
    const typed = loadServerConfig({ httpPort: 7001, strictReadiness: false }, env);
    expect([typed.modelRepository, typed.httpPort, typed.strictReadiness]).toEqual(['from-env', 7001, false]);
  });

  it('accepts port 0 (pick a free port)', () => {
    expect(loadServerConfig({ modelRepository: 'm', httpPort: '0' }, {}).httpPort).toBe(0);
  });

  it('reports every bad value at once, each with where it came from', () => {
    const problems = problemsOf(
      { logLevel: 'loud', cpuThreads: '2.5', colour: 'blue' },
      { VOLLEY_HTTP_PORT: 'eighty', VOLLEY_STRICT_READINESS: 'maybe', VOLLEY_MAX_BODY_BYTES: '10' },
    );
    const all = problems.join('\n');
    expect(all).toContain("VOLLEY_HTTP_PORT: 'eighty' is not a number");
    expect(all).toContain("VOLLEY_STRICT_READINESS: 'maybe' is not a boolean");
    expect(all).toContain("unknown setting 'colour'");
    expect(all).toMatch(/modelRepository \(--model-repository \/ VOLLEY_MODEL_REPOSITORY\)/);
    expect(all).toMatch(/logLevel \(--log-level \/ VOLLEY_LOG_LEVEL\)/);
    expect(all).toMatch(/cpuThreads \(--cpu-threads \/ VOLLEY_CPU_THREADS\)/);
    expect(all).toMatch(/maxBodyBytes \(--max-body-bytes \/ VOLLEY_MAX_BODY_BYTES\)/);
    expect(problems).toHaveLength(7);
  });

  it('puts every problem in the error message', () => {
    try {
      loadServerConfig({ httpPort: '70000' }, { VOLLEY_LOG_LEVEL: 'chatty' });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).name).toBe('ConfigError');
      expect((err as Error).message).toMatch(/^invalid configuration:\n/);
      for (const key of ['modelRepository', 'httpPort', 'logLevel']) expect((err as Error).message).toContain(key);
    }
  });

  it('names a bad flag by its command-line spelling', () => {
    expect(problemsOf({ modelRepository: 'm', httpPort: 'abc' })).toEqual(["--http-port: 'abc' is not a number"]);
  });

  it('returns a frozen object', () => {
    const cfg = loadServerConfig({ modelRepository: 'm' }, {});
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(() => {
      (cfg as { httpPort: number }).httpPort = 1;
    }).toThrow(TypeError);
  });
});

describe("Triton's flags", () => {
  it('take --cache-config local,size=N, --exit-timeout-secs, --log-verbose and --http-port as Volley settings', () => {
    const triton = fromTritonFlags({ cacheConfig: 'local,size=1048576', exitTimeoutSecs: '5', logVerbose: '1', httpPort: '9000' }, { modelRepository: 'm' });
    expect(loadServerConfig({ modelRepository: 'm', ...triton }, {})).toMatchObject({ responseCacheBytes: 1048576, drainTimeoutMs: 5000, logLevel: 'debug', httpPort: 9000 });
    expect(fromTritonFlags({ logVerbose: '0' }, {})).toEqual({ logLevel: 'info' });
  });

  it("yield to Volley's own flag when both are given", () => {
    expect(fromTritonFlags({ exitTimeoutSecs: '5', logVerbose: '1' }, { drainTimeoutMs: '100', logLevel: 'warn' })).toEqual({});
  });

  it('refuse what Volley cannot take, every problem at once', () => {
    expect(() => fromTritonFlags({ cacheConfig: 'redis,host=localhost' }, {})).toThrow(/local,size=<bytes>/);
    try {
      fromTritonFlags({ cacheConfig: 'local,size=-1', exitTimeoutSecs: '1.5', logVerbose: 'x' }, {});
      expect.unreachable();
    } catch (err) {
      expect((err as ConfigError).problems).toHaveLength(3);
    }
  });
});
