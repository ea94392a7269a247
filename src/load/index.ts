// The public surface of the load generator, for the CLI, the lab and programmatic use.

export { loadSettings, type LoadSettings } from './settings.ts';
export { parseLoadCommand, buildGroup, describeGroup, type LoadCommand, type RawRequest } from './plan.ts';
export { runLoadTest, type RunOptions } from './run.ts';
export { mergeResults } from './merge.ts';
export { evaluateThresholds, parseThreshold, thresholdsBrokenExitCode, type Threshold } from './thresholds.ts';
export { formatSummary } from './report/terminal.ts';
export { readJsonResult, writeJsonResult } from './report/json.ts';
export { renderHtmlReport, writeHtmlReport } from './report/html.ts';
export type { GroupSpec, GroupResult, RunSpec, RunResult, Summary, SeriesPoint, IntervalData, Stats, GeneratorReport } from './types.ts';
