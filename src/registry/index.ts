export { ModelConfigSchema, parseModelConfig, selectVersions } from './model-config.js';
export type { ModelConfig, VersionPolicy } from './model-config.js';
export { ModelVersion } from './model-version.js';
export type { LoadOptions, VersionState } from './model-version.js';
export { ModelRegistry } from './registry.js';
export type { IndexEntry } from './registry.js';
export { isValidModelName, scanRepository } from './repository.js';
export { buildInferenceRequest, queueDeadline, resolveServingSpec, selectOutputs } from './serving-spec.js';
export type { ServingSpec } from './serving-spec.js';
