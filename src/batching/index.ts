export { DynamicBatcher, systemClock } from './batcher.js';
export type { BatchObserver, Batcher, BatcherStats, Clock } from './batcher.js';
export { InferenceRequest } from './inference-request.js';
export { mergeInputs, splitOutputs } from './merge.js';
export { decide } from './policy.js';
export type { BatchDecision, BatchPolicy, GatherStop } from './policy.js';
export { RingQueue } from './ring-queue.js';
