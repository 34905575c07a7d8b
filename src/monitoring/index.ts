export { RunningSummary } from './summary.js';
export type { SummaryJSON } from './summary.js';
export { JS_DRIFT_THRESHOLD, PSI_DRIFT_THRESHOLD, PSI_EPSILON, binIndex, jensenShannon, psi, quantileEdges } from './drift.js';
export { DEFAULT_MONITOR_OPTIONS, VersionMonitor, resolveMonitorOptions } from './monitor.js';
export type { MonitorOptions } from './monitor.js';
export { REFERENCE_FORMAT, parseMonitorReference } from './reference.js';
export type { FeatureReference, MonitorReference, PredictionReference } from './reference.js';
export type { DriftScores, FeatureReport, MonitorReport, PredictionReport } from './report.js';
