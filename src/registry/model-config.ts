/**
 * Per-model `config.json`, in Triton's names where Triton has one. Validated with zod: unknown keys
 * are rejected and every problem is reported at once with its path, so a bad file fails that model's
 * load with a message that says what to fix, never the server.
 */
import { z } from 'zod';
import { VolleyError } from '../errors.js';
import { PROVIDER_NAMES } from '../runtimes/execution-providers.js';

/** When config.json leaves max_batch_size out and every tensor's first dimension is dynamic. */
export const AUTO_MAX_BATCH_SIZE = 32;
export const DEFAULT_MAX_QUEUE_SIZE = 1024;

const TensorOverrideSchema = z.strictObject({
  name: z.string().min(1),
  data_type: z.string().regex(/^TYPE_[A-Z0-9]+$/, 'must be a Triton type name such as TYPE_FP32'),
  /** Without the batch dimension, as in Triton; -1 = dynamic. */
  dims: z.array(z.number().int().min(-1)),
});

const ProviderName = z.enum(PROVIDER_NAMES);
/** onnxruntime-node 1.29's binding passes only deviceId to CUDA; other options would be ignored, so they are refused. */
const ProviderSchema = z.union([ProviderName, z.strictObject({ name: ProviderName, device_id: z.number().int().min(0).max(64).optional() })]);

const VersionPolicySchema = z.union([
  z.strictObject({ latest: z.strictObject({ num_versions: z.number().int().min(1) }) }),
  z.strictObject({ all: z.strictObject({}) }),
  z.strictObject({ specific: z.strictObject({ versions: z.array(z.number().int().min(1)).min(1) }) }),
]);

/** Triton's ModelWarmup: synthetic requests run through the new version before it takes traffic. */
const WarmupSchema = z.strictObject({
  name: z.string().min(1).default('warmup'),
  /** Rows per warmup request (ignored when max_batch_size is 0). */
  batch_size: z.number().int().min(1).default(1),
  /** Per input; dims exclude the batch dimension, as in Triton. */
  inputs: z.record(
    z.string(),
    z
      .strictObject({
        data_type: z.string().regex(/^TYPE_[A-Z0-9]+$/, 'must be a Triton type name such as TYPE_FP32'),
        dims: z.array(z.number().int().min(1).max(1 << 24)),
        zero_data: z.boolean().optional(),
        random_data: z.boolean().optional(),
      })
      .refine((i) => (i.zero_data === true) !== (i.random_data === true), 'set exactly one of zero_data or random_data'),
  ),
  /** How many times to run it. */
  count: z.number().int().min(1).max(1000).default(1),
});

const Percent = z.number().min(0).max(100);

/**
 * Thresholds of the automatic canary analysis. Checked once the canary has answered
 * `min_requests` requests, over its last `window_requests` answers; any breach rolls it back to 0%.
 */
const GuardSchema = z
  .strictObject({
    min_requests: z.number().int().min(1).max(1_000_000).default(100),
    window_requests: z.number().int().min(1).max(100_000).default(1000),
    /** Failed canary requests / canary requests. */
    max_error_rate: z.number().min(0).max(1).optional(),
    /** Canary p99 latency / primary p99 latency (both over their last window_requests answers). */
    max_p99_ratio: z.number().min(1).optional(),
    /** Canary answers that disagree with the primary's answer to the same input (mirrored). */
    max_disagreement_rate: z.number().min(0).max(1).optional(),
  })
  .refine((g) => g.max_error_rate !== undefined || g.max_p99_ratio !== undefined || g.max_disagreement_rate !== undefined, 'set at least one of max_error_rate, max_p99_ratio, max_disagreement_rate')
  .refine((g) => g.min_requests <= g.window_requests, { message: 'min_requests must not exceed window_requests (the window could never hold enough to judge)', path: ['min_requests'] });

const RoutingSchema = z.strictObject({
  /** The version unversioned requests go to; default the highest loaded one that is not a canary or shadow. */
  default: z.number().int().min(1).optional(),
  canary: z.strictObject({ version: z.number().int().min(1), percent: Percent, guard: GuardSchema.optional() }).optional(),
  shadow: z
    .strictObject({
      version: z.number().int().min(1),
      percent: Percent,
      /** Shadow requests pending at once; beyond it they are dropped (and counted), never queued. */
      max_inflight: z.number().int().min(1).max(100_000).default(256),
      /** Single-value outputs agree when within this absolute difference; classifiers compare argmax. */
      tolerance: z.number().min(0).default(1e-4),
    })
    .optional(),
});

const ConfigObject = z.strictObject({
  name: z.string().optional(),
  /** Triton's names for the runtime; `tensorflowjs` / `tfjs` serve a TF.js model.json (either one is enough). */
  platform: z.enum(['onnxruntime_onnx', 'tensorflowjs']).optional(),
  backend: z.enum(['onnxruntime', 'tfjs']).optional(),
  max_batch_size: z.number().int().min(0).max(65536).optional(),
  dynamic_batching: z
    .strictObject({
      preferred_batch_size: z.array(z.number().int().min(1)).default([]),
      max_queue_delay_microseconds: z.number().int().min(0).max(60_000_000).default(0),
      max_queue_size: z.number().int().min(1).max(1_000_000).default(DEFAULT_MAX_QUEUE_SIZE),
      /**
       * TF Serving's allowed_batch_sizes: batches are padded with zero rows up to the smallest of
       * these that holds them; ascending, the last equal to max_batch_size. Absent: [max_batch_size]
       * on CUDA (serving-spec.ts), none elsewhere; [] turns padding off.
       */
      allowed_batch_sizes: z.array(z.number().int().min(1)).max(64).optional(),
      /** Triton's queue policy: a deadline for requests that bring none (0 = none). */
      default_queue_policy: z
        .strictObject({
          timeout_action: z.literal('REJECT').default('REJECT'),
          default_timeout_microseconds: z.number().int().min(0).max(3_600_000_000).default(0),
          allow_timeout_override: z.boolean().default(true),
        })
        .optional(),
    })
    .optional(),
  instance_count: z.number().int().min(1).max(64).default(1),
  /** Triton's: answers are kept in the server's response cache (--response-cache-bytes) and reused for the same inputs. */
  response_cache: z.strictObject({ enable: z.boolean().default(false) }).optional(),
  /** Tried in order, e.g. ["cuda", "cpu"]; default from --device. */
  execution_providers: z.array(ProviderSchema).min(1).max(4).optional(),
  input: z.array(TensorOverrideSchema).optional(),
  output: z.array(TensorOverrideSchema).optional(),
  version_policy: VersionPolicySchema.default({ latest: { num_versions: 1 } }),
  /** Default model.onnx, or model.json for a TF.js model. */
  default_model_filename: z
    .string()
    .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/, 'must be a plain file name')
    .optional(),
  /** Triton's backend parameters, e.g. `{"intra_op_thread_count": {"string_value": "2"}}`. */
  parameters: z.record(z.string(), z.strictObject({ string_value: z.string() })).default({}),
  model_warmup: z.array(WarmupSchema).max(64).default([]),
  routing: RoutingSchema.default({}),
});

export const ModelConfigSchema = ConfigObject.superRefine((cfg, ctx) => {
  const max = cfg.max_batch_size;
  if (cfg.dynamic_batching !== undefined && max === 0) {
    ctx.addIssue({ code: 'custom', path: ['dynamic_batching'], message: 'needs max_batch_size > 0 (0 means the model has no batch dimension)' });
  }
  for (const [i, size] of (cfg.dynamic_batching?.preferred_batch_size ?? []).entries()) {
    if (max !== undefined && max > 0 && size > max) {
      ctx.addIssue({ code: 'custom', path: ['dynamic_batching', 'preferred_batch_size', i], message: `${size} exceeds max_batch_size ${max}` });
    }
  }
  const allowed = cfg.dynamic_batching?.allowed_batch_sizes ?? [];
  for (let i = 1; i < allowed.length; i++) {
    if (allowed[i] <= allowed[i - 1]) {
      ctx.addIssue({ code: 'custom', path: ['dynamic_batching', 'allowed_batch_sizes', i], message: 'must be in ascending order, without repeats' });
      break;
    }
  }
  if (allowed.length > 0 && max !== undefined && max > 0 && allowed[allowed.length - 1] !== max) {
    ctx.addIssue({ code: 'custom', path: ['dynamic_batching', 'allowed_batch_sizes'], message: `the last size must equal max_batch_size (${max})` });
  }
  checkRouting(cfg.routing, ctx);
  const threads = cfg.parameters.intra_op_thread_count?.string_value;
  if (threads !== undefined && !/^[1-9][0-9]*$/.test(threads)) {
    ctx.addIssue({ code: 'custom', path: ['parameters', 'intra_op_thread_count'], message: 'must be a positive integer string' });
  }
  for (const key of ['enable_mem_arena', 'enable_mem_pattern', 'run_on_event_loop']) {
    const value = cfg.parameters[key]?.string_value;
    if (value !== undefined && parseBool(value) === undefined) ctx.addIssue({ code: 'custom', path: ['parameters', key], message: `must be one of ${BOOL_WORDS}` });
  }
  const inline = cfg.parameters.run_on_event_loop?.string_value;
  if (inline !== undefined && parseBool(inline) === true && cfg.instance_count > 1) {
    ctx.addIssue({ code: 'custom', path: ['instance_count'], message: 'must be 1 with run_on_event_loop: batches on the event loop take turns' });
  }
  if (runtimeOf(cfg) === 'tfjs') checkTfjs(cfg, ctx);
  const warm = cfg.parameters.default_warmup?.string_value;
  if (warm !== undefined && warm !== 'true' && warm !== 'false') {
    ctx.addIssue({ code: 'custom', path: ['parameters', 'default_warmup'], message: 'must be "true" or "false"' });
  }
}).transform((cfg) => ({ ...cfg, default_model_filename: cfg.default_model_filename ?? (runtimeOf(cfg) === 'tfjs' ? 'model.json' : 'model.onnx') }));

/** The runtime that serves a model: TF.js when platform or backend says so, else ONNX Runtime. */
export function runtimeOf(cfg: { platform?: string; backend?: string }): 'onnx' | 'tfjs' {
  return cfg.platform === 'tensorflowjs' || cfg.backend === 'tfjs' ? 'tfjs' : 'onnx';
}

/** What platform a version's metadata names, and the backend its Triton configuration names. */
export function platformOf(cfg: { platform?: string; backend?: string }): { platform: string; backend: string } {
  return runtimeOf(cfg) === 'tfjs' ? { platform: 'tensorflowjs', backend: 'tfjs' } : { platform: 'onnxruntime_onnx', backend: 'onnxruntime' };
}

/** ONNX Runtime's settings mean nothing to TF.js: refused rather than silently ignored. */
const ONNX_ONLY_PARAMETERS = ['intra_op_thread_count', 'enable_mem_arena', 'enable_mem_pattern'];

function checkTfjs(cfg: z.infer<typeof ConfigObject>, ctx: z.RefinementCtx): void {
  if (cfg.platform === 'onnxruntime_onnx' || cfg.backend === 'onnxruntime') {
    ctx.addIssue({ code: 'custom', path: [cfg.platform === 'onnxruntime_onnx' ? 'platform' : 'backend'], message: 'names ONNX Runtime, but the model is TF.js (platform "tensorflowjs", backend "tfjs")' });
  }
  if (cfg.execution_providers !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['execution_providers'], message: "are ONNX Runtime's; a TF.js model runs on the server's --tfjs-backend" });
  }
  for (const key of ONNX_ONLY_PARAMETERS) {
    if (cfg.parameters[key] !== undefined) ctx.addIssue({ code: 'custom', path: ['parameters', key], message: 'is an ONNX Runtime setting; a TF.js model does not read it' });
  }
  // TF.js's wasm backend installs process-wide handlers that rethrow unhandled rejections, and a
  // fault in its heap poisons the thread it runs on: on a worker thread, which is replaced.
  const inline = cfg.parameters.run_on_event_loop?.string_value;
  if (inline !== undefined && parseBool(inline) === true) {
    ctx.addIssue({ code: 'custom', path: ['parameters', 'run_on_event_loop'], message: "is refused for a TF.js model: a fault in TF.js's WebAssembly heap would take the event loop's thread with it (a worker thread is replaced)" });
  }
}

/** The `parameters` keys Volley reads; a config may carry others (Triton's), which are logged as ignored. */
export const MODEL_PARAMETERS = ['intra_op_thread_count', 'default_warmup', 'enable_mem_arena', 'enable_mem_pattern', 'run_on_event_loop'];

const TRUE_WORDS = ['true', '1', 'on', 'yes'];
const FALSE_WORDS = ['false', '0', 'off', 'no'];
const BOOL_WORDS = [...TRUE_WORDS, ...FALSE_WORDS].map((w) => `"${w}"`).join(', ');

/** A boolean backend parameter, read as Triton's backends read theirs; undefined when it is neither. */
export function parseBool(value: string): boolean | undefined {
  const word = value.trim().toLowerCase();
  return TRUE_WORDS.includes(word) ? true : FALSE_WORDS.includes(word) ? false : undefined;
}

/** `parameters[key]` as a boolean; undefined when the config does not set it (validated above). */
export function boolParameter(config: ModelConfig, key: string): boolean | undefined {
  const value = config.parameters[key]?.string_value;
  return value === undefined ? undefined : parseBool(value);
}

function checkRouting(routing: z.infer<typeof RoutingSchema>, ctx: z.RefinementCtx): void {
  const { default: primary, canary, shadow } = routing;
  if (canary !== undefined && canary.version === primary) ctx.addIssue({ code: 'custom', path: ['routing', 'canary', 'version'], message: 'the canary cannot be the default version' });
  if (shadow !== undefined && shadow.version === primary) ctx.addIssue({ code: 'custom', path: ['routing', 'shadow', 'version'], message: 'the shadow cannot be the default version' });
  if (canary !== undefined && shadow !== undefined && canary.version === shadow.version) {
    ctx.addIssue({ code: 'custom', path: ['routing', 'shadow', 'version'], message: 'the shadow cannot also be the canary' });
  }
}

export type ModelConfig = z.infer<typeof ModelConfigSchema>;
export type RoutingConfig = ModelConfig['routing'];
export type GuardConfig = z.infer<typeof GuardSchema>;
export type WarmupConfig = z.infer<typeof WarmupSchema>;
export type TensorOverride = z.infer<typeof TensorOverrideSchema>;
export type VersionPolicy = z.infer<typeof VersionPolicySchema>;

/** Parses config.json text (or an already-parsed value); throws ERR_INVALID_CONFIG listing every problem. */
export function parseModelConfig(modelName: string, source: string | unknown): ModelConfig {
  let raw: unknown = source;
  if (typeof source === 'string') {
    try {
      raw = JSON.parse(source);
    } catch (err) {
      throw new VolleyError('ERR_INVALID_CONFIG', `model '${modelName}': config.json is not valid JSON: ${(err as Error).message}`);
    }
  }
  const result = ModelConfigSchema.safeParse(raw ?? {});
  const problems = result.success ? [] : result.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`);
  const name = (raw as { name?: unknown } | null)?.name;
  if (typeof name === 'string' && name !== modelName) problems.push(`name: '${name}' does not match the directory name '${modelName}'`);
  if (!result.success || problems.length > 0) {
    throw new VolleyError('ERR_INVALID_CONFIG', `model '${modelName}': invalid config.json: ${problems.join('; ')}`);
  }
  return Object.freeze(result.data);
}

/** The version numbers a policy selects from those present on disk (ascending). */
export function selectVersions(policy: VersionPolicy, available: readonly number[]): number[] {
  const sorted = [...available].sort((a, b) => a - b);
  if ('all' in policy) return sorted;
  if ('latest' in policy) return sorted.slice(Math.max(0, sorted.length - policy.latest.num_versions));
  return sorted.filter((v) => policy.specific.versions.includes(v));
}
